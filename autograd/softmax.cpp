// softmax.cpp: autograd wrappers of softmax, log_softmax and cross_entropy.
//
// Softmax, y_j = e^{x_j} / Σ_k e^{x_k}, has Jacobian ∂y_j/∂x_i = y_j(δ_ij - y_i), so
//   dx_i = Σ_j g_j y_j (δ_ij - y_i) = y_i (g_i - Σ_j g_j y_j).
// Log-softmax, y_j = x_j - log Σ_k e^{x_k}, has ∂y_j/∂x_i = δ_ij - softmax(x)_i, so
//   dx_i = g_i - e^{y_i} Σ_j g_j            (softmax(x) = e^y, recovered from the output).
// Cross-entropy (fused log-softmax + negative log-likelihood, mean over the set
// R of non-ignored rows, n = |R|):
//   L = (1/n) Σ_{r∈R} (lse_r - x_{r,t_r}),  lse_r = log Σ_j e^{x_{r,j}}
//   ∂L/∂x_{r,j} = (1/n)(softmax(x_r)_j - [j = t_r]) for r ∈ R, 0 for ignored rows,
// times the upstream scalar g.  Only the logits are needed: the backward
// kernels recompute each row's softmax as e^{(x - m) - log Σ e^{x - m}} (one
// more max and sum pass, which keeps the low bits of the log-sum that e^{x - lse}
// would lose), so no [N, C] buffer is kept.  The forward's lse [N] is still
// handed to them, and not read.
#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/saved.h"
#include "autograd/nn_ops.h"
#include "autograd/views.h"
#include "tensor/nn_kernels.h"

namespace eng {

// dim is the last one?  (If not, the op runs on a transposed view.)
static bool is_last(const Tensor& x, int64_t dim, const char* op) {
    ENG_CHECK(x.dim() >= 1, op, ": needs at least one dimension, got a scalar of shape ", shape_str(x.shape()));
    return normalize_dim(dim, x.dim(), op) == x.dim() - 1;
}

Tensor softmax(const Tensor& x, int64_t dim) {
    profile::Scope profile_scope("softmax");
    if (!is_last(x, dim, "softmax")) return transpose(softmax(transpose(x, dim, -1), -1), dim, -1);
    Tensor y = kernels::softmax(x);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(y, {x});
    autograd::SavedTensor sy(y, true);
    return autograd::record("softmax", y, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
        return {kernels::softmax_backward(sy.get(), g)};
    });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
    profile::Scope profile_scope("log_softmax");
    if (!is_last(x, dim, "log_softmax")) return transpose(log_softmax(transpose(x, dim, -1), -1), dim, -1);
    Tensor y = kernels::log_softmax(x);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(y, {x});
    autograd::SavedTensor sy(y, true);
    return autograd::record("log_softmax", y, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
        return {kernels::log_softmax_backward(sy.get(), g)};
    });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
    profile::Scope profile_scope("cross_entropy");
    kernels::CrossEntropyResult r = kernels::cross_entropy(logits, targets, ignore_index);
    if (!autograd::any_requires_grad({logits})) return autograd::untracked(r.loss, {logits});
    autograd::SavedTensor sl(logits);
    Tensor st = targets.detach(), lse = r.lse;
    int64_t count = r.count;
    return autograd::record("cross_entropy", r.loss, {logits, targets}, [=](const Tensor& g) -> std::vector<Tensor> {
        return {kernels::cross_entropy_backward(g, sl.get(), lse, st, ignore_index, count), Tensor()};
    });
}

}  // namespace eng
