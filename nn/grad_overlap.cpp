// grad_overlap.cpp: gradient buckets averaged while backward runs (see grad_overlap.h).
#include "nn/grad_overlap.h"

#include <cmath>

#include "tensor/check.h"
#include "tensor/kernels.h"
#include "tensor/precision.h"

namespace eng::nn {

OverlappedGradientAverager::OverlappedGradientAverager(Communicator& comm, std::vector<Tensor*> params,
                                                       size_t bucket_bytes)
    : comm_(comm) {
    Bucket open;
    size_t bytes = 0;
    for (auto it = params.rbegin(); it != params.rend(); ++it) {
        Tensor* p = *it;
        ENG_CHECK(p->dtype() == DType::f32, "gradient averaging: parameter of dtype ", dtype_name(p->dtype()),
                  "; the overlapped path averages f32 gradients");
        const size_t b = size_t(p->numel()) * sizeof(float);
        if (!open.members.empty() && bytes + b > bucket_bytes) {
            buckets_.push_back(std::move(open));
            open = Bucket{};
            bytes = 0;
        }
        bucket_of_[p->impl()] = buckets_.size();
        open.members.push_back(p);
        open.numel += p->numel();
        bytes += b;
    }
    if (!open.members.empty()) buckets_.push_back(std::move(open));
}

std::unique_ptr<autograd::LeafGradHook> OverlappedGradientAverager::hook() {
    return std::make_unique<autograd::LeafGradHook>([this](TensorImpl* leaf) { on_ready(leaf); });
}

void OverlappedGradientAverager::on_ready(TensorImpl* leaf) {
    auto it = bucket_of_.find(leaf);
    if (it == bucket_of_.end()) return;  // not one of ours (an input, a frozen tensor)
    Bucket& b = buckets_[it->second];
    if (b.pending || ++b.ready < int(b.members.size())) {
        for (size_t s : order_) buckets_[s].pending->poke();  // let MPI move the started ones along
        return;
    }
    in_backward_ = true;
    start(it->second);
    in_backward_ = false;
}

void OverlappedGradientAverager::start(size_t index) {
    Bucket& b = buckets_[index];
    const Device dev = comm_.device();
    const int64_t m = int64_t(b.members.size());
    // [gradients..., one has-gradient flag per member, the bucket index]
    std::vector<float> tail(size_t(m + 1), 0.0f);
    b.flat = zeros({b.numel + m + 1}, TensorOptions{DType::f32, dev});
    int64_t off = 0;
    for (int64_t i = 0; i < m; ++i) {
        Tensor g = b.members[size_t(i)]->grad();
        if (g.defined()) {
            raw_narrow(b.flat, 0, off, g.numel()).copy_(raw_reshape(g.to(dev), {g.numel()}));
            tail[size_t(i)] = 1.0f;
        }
        off += b.members[size_t(i)]->numel();
    }
    tail[size_t(m)] = float(index);
    raw_narrow(b.flat, 0, b.numel, m + 1).copy_(from_vector(tail, {m + 1}));
    b.pending = comm_.all_reduce_mean_async(b.flat);
    order_.push_back(index);
    if (in_backward_) ++started_early_;
}

void OverlappedGradientAverager::finish() {
    for (size_t i = 0; i < buckets_.size(); ++i)
        if (!buckets_[i].pending) start(i);
    for (size_t index : order_) {
        Bucket& b = buckets_[index];
        b.pending->wait();
        const int64_t m = int64_t(b.members.size());
        std::vector<float> tail = raw_narrow(b.flat, 0, b.numel, m + 1).to_vector();
        if (bf16_true()) kernels::round_to_bf16_(b.flat);  // the mean is a bf16 tensor too (tensor/precision.h)
        // The mean of the index is the index itself when every rank started this bucket here.
        ENG_CHECK(std::fabs(tail[size_t(m)] - float(index)) < 0.25f, "gradient averaging: the ranks started their "
                  "gradient buckets in different orders (bucket ", index, " met ", tail[size_t(m)], "). HINT: the "
                  "ranks' graphs differ; set train.overlap_gradients false");
        int64_t off = 0;
        for (int64_t i = 0; i < m; ++i) {
            Tensor* p = b.members[size_t(i)];
            if (tail[size_t(i)] > 0.0f) {  // some rank had this gradient
                Tensor avg = raw_reshape(raw_narrow(b.flat, 0, off, p->numel()), p->shape());
                p->set_grad(avg.device() == p->device() ? avg : avg.to(p->device()));
            }
            off += p->numel();
        }
        b.pending.reset();
    }
    order_.clear();
}

}  // namespace eng::nn
