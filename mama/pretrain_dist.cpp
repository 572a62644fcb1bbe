// pretrain_dist.cpp: data parallelism for the pretraining run (see pretrain_dist.h).
#include "mama/pretrain_dist.h"

#include <sstream>

#include "autograd/ops.h"

namespace mama {

using namespace eng;

DataParallel::DataParallel(Device device) : DataParallel(nn::make_communicator(device)) {}

DataParallel::DataParallel(std::shared_ptr<nn::Communicator> comm) : comm_(std::move(comm)) {
    ENG_CHECK(comm_ != nullptr, "DataParallel: no communicator");
}

std::string DataParallel::summary(const TrainConfig& t) const {
    std::ostringstream os;
    os << world() << (world() == 1 ? " rank" : " ranks") << " (" << comm_->name() << "); global batch "
       << t.micro_batch << " x " << t.accumulate << " x " << world() << " = " << t.micro_batch * t.accumulate * world()
       << " images per step, "
       << (!distributed() || !t.negatives_follow_ranks() ? "per-rank negatives"
           : t.gather_negatives                          ? "negatives gathered from all ranks"
                                                         : "NT-Xent negatives gathered from all ranks, CLIP's per rank");
    if (distributed())
        os << ", gradients averaged " << (t.overlap_gradients ? "in buckets during the last backward" : "after backward");
    return os.str();
}

void DataParallel::shard(LoaderOptions& o) const {
    o.rank = rank();
    o.world_size = world();
}

void DataParallel::start(MamaModel& model, const TrainConfig& t) {
    nn::broadcast_module(*comm_, model);
    model.negatives_comm = t.gather_negatives && distributed() ? comm_.get() : nullptr;
    model.mv_negatives_comm = t.gather_mv_negatives && distributed() ? comm_.get() : nullptr;
}

LoaderPosition DataParallel::adapt_position(LoaderPosition p, const BatchLoader& loader) const {
    const int64_t g = int64_t(loader.options().batch_size) * loader.options().world_size;
    if (p.global_batch == 0 || p.global_batch == g) return p;
    // The position counts global micro-batches of the saved run; in samples it is
    // batch × saved global batch, which must be a whole number of ours.
    const int64_t samples = p.batch * p.global_batch;
    ENG_CHECK(samples % g == 0, "resume: the checkpoint stopped after ", samples, " samples of epoch ", p.epoch,
              " (global micro-batches of ", p.global_batch, "), which is not a whole number of this run's global "
              "micro-batch ", g, " (train.micro_batch ", loader.options().batch_size, " x ", loader.options().world_size,
              " ranks). HINT: choose train.micro_batch x ranks dividing ", samples,
              ", e.g. the saved run's ", p.global_batch);
    p.batch = samples / g;
    p.global_batch = g;
    return p;
}

void DataParallel::begin_step(uint64_t seed, int64_t step) const {
    if (!distributed()) return;
    manual_seed(random_word(random_word(seed ^ 0x64617461ull, uint64_t(step)), uint64_t(rank())));
}

void DataParallel::reduce_gradients(MamaModel& model) {
    if (!distributed()) return;
    nn::average_gradients(*comm_, model.trainable_parameters());
}

void DataParallel::mean(std::vector<double*> values) {
    if (!distributed() || values.empty()) return;
    std::vector<float> v;
    for (double* x : values) v.push_back(float(*x));
    Tensor t = from_vector(v, {int64_t(v.size())}).to(comm_->device());  // NCCL reduces GPU tensors
    comm_->all_reduce_mean(t);
    std::vector<float> r = t.to_vector();
    for (size_t i = 0; i < values.size(); ++i) *values[i] = double(r[i]);
}

}  // namespace mama
