// grad_overlap.h: averaging gradients over the ranks while backward is still
// running (data parallelism, issue 8).
//
// The trainable parameters are cut into buckets of at most bucket_bytes, in
// REVERSE registration order (backward produces the last layers' gradients
// first).  While the averager's hook is installed (autograd::LeafGradHook), a
// bucket whose parameters have all been reported final is flattened and its
// mean over the ranks is STARTED (Communicator::all_reduce_mean_async: a
// non-blocking MPI_Iallreduce on CPU ranks), so communication runs alongside
// the rest of the backward pass.  finish() starts the buckets that were not
// complete (parameters without a gradient in this pass, or inside activation
// checkpointing segments, which are known only when the last segment has
// been recomputed), waits for all, and hands every parameter its averaged
// gradient.
//
// Result: the same as nn::average_gradients (every rank gets the mean; a
// parameter that has a gradient on some rank gets the mean with zeros from
// the others; one that has none anywhere keeps none, so AdamW skips it).
// Each bucket carries one extra float per member (1 if this rank has its
// gradient) and one holding the bucket's index, whose sum must be W·index:
// ranks that started buckets in different orders (different graphs: not the
// case in data-parallel training of one model) get a clear error instead of
// silently mixed gradients.
#pragma once
#include <memory>
#include <unordered_map>
#include <vector>

#include "autograd/node.h"
#include "nn/comm.h"

namespace eng::nn {

class OverlappedGradientAverager {
public:
    OverlappedGradientAverager(Communicator& comm, std::vector<Tensor*> params, size_t bucket_bytes = 25u << 20);
    // Installs the gradient-ready hook for the backward passes of this scope.
    std::unique_ptr<autograd::LeafGradHook> hook();
    // Starts the remaining buckets, waits, and sets the averaged gradients.
    void finish();
    int buckets() const { return int(buckets_.size()); }
    int started_during_backward() const { return started_early_; }

private:
    struct Bucket {
        std::vector<Tensor*> members;
        int64_t numel = 0;   // gradient elements
        int ready = 0;       // members reported final
        Tensor flat;         // [numel + members + 1] while in flight
        std::unique_ptr<PendingCollective> pending;
    };
    void on_ready(TensorImpl* leaf);
    void start(size_t b);

    Communicator& comm_;
    std::vector<Bucket> buckets_;
    std::unordered_map<TensorImpl*, size_t> bucket_of_;
    std::vector<size_t> order_;  // buckets in the order they were started
    int started_early_ = 0;
    bool in_backward_ = false;
};

}  // namespace eng::nn
