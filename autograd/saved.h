// saved.h: what a backward keeps of a forward value (SavedTensor).
//
// Under bf16-true (tensor/precision.h) every activation is a bf16 number, so
// a backward can keep it as a bf16 tensor, half the bytes, and widen it back
// to exactly the same f32 values when it runs: the memory of the reference's
// pure-bf16 training, for the tensors that dominate it (the activations kept
// for backward), with the same results bit for bit.  In bf16 mode (bf16
// products, f32 activations) the same holds for a tensor the backward only
// feeds to matrix products (for_products: linear's input, matmul's operands),
// since those round it to bf16 anyway, as PyTorch's autocast keeps the bf16
// copies of a matmul's inputs.  Otherwise, or for a leaf (a parameter or an
// input, which lives on anyway, so a copy would only add memory), it is the
// tensor itself, detached.
//
// A saved tensor must not be written in place before the backward reads it
// (an optimiser step between forward and backward, a copy_ into a weight):
// get() compares its storage's version counter (tensor.h) with the one it had
// when saved and throws, as PyTorch does, instead of differentiating at the
// new values.
#pragma once
#include <memory>
#include <vector>

#include "tensor/tensor.h"

namespace eng::autograd {

// The version of a tensor's storage when a backward saved it (or a copy of
// it); check() throws if an in-place write has moved it since.  Holds the
// storage weakly: bytes that were freed can no longer change.
class VersionCheck {
public:
    VersionCheck() = default;
    explicit VersionCheck(const Tensor& t);
    void check() const;

private:
    std::weak_ptr<Storage> source_;
    uint64_t version_ = 0;
};

class SavedTensor {
public:
    SavedTensor() = default;
    // `output`: t is the op's own result, an activation even though no node
    // is attached to it yet.
    explicit SavedTensor(const Tensor& t, bool output = false);
    // t is read by the backward only as an operand of matrix products.
    static SavedTensor for_products(const Tensor& t, bool activation);
    // The f32 value; undefined if nothing was saved.  Throws if the tensor was
    // written in place after it was saved (its storage's version moved): the
    // gradient would be computed from the new values, silently wrong.
    Tensor get() const;
    bool defined() const { return kept_.defined(); }

private:
    void keep(const Tensor& t, bool narrow);
    Tensor kept_;            // detached: the value, or its bf16 copy
    bool narrowed_ = false;  // kept_ is the bf16 copy of an f32 value
    VersionCheck version_;
    // A permuted view of a packed block (attention's [B, H, T, d] views of
    // [B, T, H, d] storage) is copied in storage order, with no packing pass:
    // kept_ holds it permuted by order_, and get() permutes back.
    std::vector<int64_t> order_;
};

// Whether bf16-true keeps activations as bf16 (on by default).  Off, they are
// kept in f32 as in the other precisions: the same results, twice the bytes
// (for tests and memory measurements).
void set_bf16_saved_activations(bool on);
bool bf16_saved_activations();

}  // namespace eng::autograd
