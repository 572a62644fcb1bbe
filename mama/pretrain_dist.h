// pretrain_dist.h: data parallelism for the pretraining run (mpirun -np W
// build/pretrain ...): what run_pretrain asks of the ranks.
//
//   - every rank builds the same model; rank 0's parameters and buffers are
//     broadcast at the start (and after a resume);
//   - the loader shards each global batch: rank r takes draw positions
//     [r·B, (r+1)·B) of every W·B (mama/loader.h), so the sample order does not
//     depend on W;
//   - the gradients are averaged over the ranks in flat buckets that start
//     while the last micro-batch's backward pass is still running
//     (nn/grad_overlap.h; train.overlap_gradients false: nn::average_gradients
//     after it); the losses that are logged are the means over the ranks;
//   - only rank 0 writes the log, the progress line, checkpoints and validates;
//   - negatives: per rank (default, as the reference) or gathered from all
//     ranks (train.gather_negatives: CLIP, partner CLIP and NT-Xent over the
//     W·B rows; train.gather_mv_negatives: NT-Xent alone, as the original
//     multi-GPU run; SLA and the BatchNorm statistics stay per rank);
//   - dropout streams differ per rank: with W > 1 each rank reseeds the default
//     generator at every step from (seed, step, rank), so a resumed run with
//     the same W continues exactly.
// Global batch per optimiser step = micro_batch × accumulate × W; the learning
// rate applies to it.  A checkpoint resumes with another W when the saved
// position is a whole number of new global micro-batches (micro_batch × W);
// keep micro_batch × accumulate × W fixed to keep the optimisation the same.
#pragma once
#include <memory>
#include <vector>

#include "mama/config.h"
#include "mama/loader.h"
#include "mama/model.h"
#include "nn/comm.h"

namespace mama {

class DataParallel {
public:
    // The communicator of this process (nn::make_communicator: MPI under mpirun;
    // NCCL for a CUDA run, which also picks this rank's GPU: construct it first).
    explicit DataParallel(eng::Device device = eng::Device::CPU);
    explicit DataParallel(std::shared_ptr<eng::nn::Communicator> comm);

    eng::nn::Communicator& comm() { return *comm_; }
    int rank() const { return comm_->rank(); }
    int world() const { return comm_->world_size(); }
    bool main() const { return comm_->rank() == 0; }
    bool distributed() const { return comm_->world_size() > 1; }

    // "2 ranks (MPI (Open MPI v4.1.4)); global batch 4 x 2 x 2 = 16 images per step, per-rank negatives"
    std::string summary(const TrainConfig& t) const;
    // This rank's shard of every global batch.
    void shard(LoaderOptions& o) const;
    // Same weights everywhere (rank 0's), and the gathered negatives when asked for.
    void start(MamaModel& model, const TrainConfig& t);
    // A saved loader position expressed for this run's global micro-batch
    // (micro_batch × W); throws when it does not fall on a batch boundary.
    LoaderPosition adapt_position(LoaderPosition saved, const BatchLoader& loader) const;
    // Per-rank dropout streams for optimiser step `step` (no-op with one rank).
    void begin_step(uint64_t seed, int64_t step) const;
    // Averages the gradients of the trainable parameters over the ranks.
    void reduce_gradients(MamaModel& model);
    // Replaces each value by its mean over the ranks (one collective).
    void mean(std::vector<double*> values);

    // While alive, the model computes its losses without gathering (rank 0's
    // validation runs alone).
    class LocalOnly {
    public:
        explicit LocalOnly(MamaModel& m) : m_(m), saved_(m.negatives_comm), saved_mv_(m.mv_negatives_comm) {
            m.negatives_comm = m.mv_negatives_comm = nullptr;
        }
        ~LocalOnly() { m_.negatives_comm = saved_, m_.mv_negatives_comm = saved_mv_; }
        LocalOnly(const LocalOnly&) = delete;
        LocalOnly& operator=(const LocalOnly&) = delete;

    private:
        MamaModel& m_;
        eng::nn::Communicator *saved_, *saved_mv_;
    };

private:
    std::shared_ptr<eng::nn::Communicator> comm_;
};

}  // namespace mama
