// saved.cpp: SavedTensor (saved.h): activations kept as bf16 where that is exact.
#include "autograd/saved.h"

#include <algorithm>
#include <atomic>
#include <numeric>

#include "tensor/precision.h"

namespace eng::autograd {

namespace {
std::atomic<bool> g_narrow{true};
}

void set_bf16_saved_activations(bool on) { g_narrow.store(on); }
bool bf16_saved_activations() { return g_narrow.load(std::memory_order_relaxed); }

// The order of dims (largest stride first) that makes t packed, when t is a
// permutation of a packed block; empty when t is packed already or is not one.
static std::vector<int64_t> packing_order(const Tensor& t) {
    if (t.is_contiguous()) return {};
    std::vector<int64_t> order(size_t(t.dim()));
    std::iota(order.begin(), order.end(), 0);
    const Shape& st = t.strides();
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return st[size_t(a)] > st[size_t(b)]; });
    return raw_permute(t, order).is_contiguous() ? order : std::vector<int64_t>{};
}

SavedTensor::SavedTensor(const Tensor& t, bool output) {
    if (!t.defined()) return;
    const bool activation = output || !t.is_leaf();
    // The conversion rounds to nearest even, which leaves a bf16 number as it
    // is: an output not rounded yet (record() rounds it after this) is kept
    // as the value record() will give it.
    keep(t, bf16_true() && activation);
}

SavedTensor SavedTensor::for_products(const Tensor& t, bool activation) {
    SavedTensor s;
    // The products round their operands to nearest even, as the conversion does.
    if (t.defined()) s.keep(t, activation && (bf16_true() || products_in_bf16(t.device())));
    return s;
}

VersionCheck::VersionCheck(const Tensor& t) {
    if (!t.defined()) return;
    source_ = t.storage();
    version_ = t.version();
}

void VersionCheck::check() const {
    if (const std::shared_ptr<Storage> s = source_.lock())
        ENG_CHECK(s->version == version_, "backward: a tensor saved for the gradient was modified in place after "
                  "it was saved (its version went from ", version_, " to ", s->version, "; by copy_, fill_, add_, "
                  "an optimiser step, ...), so the gradient would be computed at the new values. HINT: run "
                  "backward before modifying it (e.g. before optimizer.step()), or modify a clone()");
}

void SavedTensor::keep(const Tensor& t, bool narrow) {
    version_ = VersionCheck(t);
    narrowed_ = narrow && bf16_saved_activations() && t.dtype() == DType::f32;
    if (!narrowed_) {
        kept_ = t.detach();
        return;
    }
    order_ = packing_order(t);
    kept_ = (order_.empty() ? t.detach() : raw_permute(t.detach(), order_)).to(DType::bf16);
}

Tensor SavedTensor::get() const {
    version_.check();
    if (!narrowed_) return kept_;
    Tensor value = kept_.to(DType::f32);
    if (order_.empty()) return value;
    std::vector<int64_t> back(order_.size());
    for (size_t i = 0; i < order_.size(); ++i) back[size_t(order_[i])] = int64_t(i);
    return raw_permute(value, back);
}

}  // namespace eng::autograd
