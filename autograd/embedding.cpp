// embedding.cpp: autograd wrapper of the embedding lookup.
//
// Embedding, y[p, :] = W[ids[p], :], is linear in W: dW[v, :] = Σ_{p: ids[p] = v} g[p, :]
// (a scatter-add; ids get no gradient).
#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/nn_ops.h"
#include "tensor/nn_kernels.h"

namespace eng {

Tensor embedding(const Tensor& weight, const Tensor& ids) {
    profile::Scope profile_scope("embedding");
    Tensor y = kernels::embedding(weight, ids);
    if (!autograd::any_requires_grad({weight})) return autograd::untracked(y, {weight});
    Tensor si = ids.detach();
    int64_t V = weight.size(0);
    return autograd::record("embedding", y, {weight, ids}, [=](const Tensor& g) -> std::vector<Tensor> {
        return {kernels::embedding_backward(g, si, V), Tensor()};
    });
}

}  // namespace eng
