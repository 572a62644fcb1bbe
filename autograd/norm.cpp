// norm.cpp: autograd wrappers of layer_norm, batch_norm and l2_normalize.
//
// Layer norm (per row of C values; batch norm in training mode is the same
// maths per channel over its M = N·L values):
//   μ = mean(x),  σ² = mean((x - μ)²),  r = 1/√(σ² + ε),  x̂ = (x - μ)·r,  y = w·x̂ + b
// With g = dL/dy:  db = Σ_rows g,  dw = Σ_rows g·x̂,  and with d = g·w = dL/dx̂:
//   ∂x̂_j/∂x_i = r(δ_ij - 1/C) - x̂_j·r·x̂_i/C     (using ∂r/∂x_i = -r³(x_i - μ)/C = -r²x̂_i/C)
//   dx_i = Σ_j d_j ∂x̂_j/∂x_i = r·(d_i - mean(d) - x̂_i·mean(d·x̂)).
// Saved: the input, mean and rstd (llm.c style); x̂ is recomputed in backward.
//
// Batch norm in eval mode normalises with constants (the running statistics), so
//   dx = g·w·r,  dw = Σ g·x̂,  db = Σ g.
// The running-buffer update is not differentiated (buffers are not parameters).
//
// L2 normalisation along one dim, y = x / d with n = ||x||, d = max(n, ε):
//   n > ε:  ∂y_j/∂x_i = δ_ij/n - x_j·x_i/n³  ⇒  dx_i = g_i/n - x_i·(Σ_j g_j x_j)/n³
//   n ≤ ε:  d is the constant ε               ⇒  dx_i = g_i/ε
#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/saved.h"
#include "autograd/nn_ops.h"
#include "tensor/nn_kernels.h"

namespace eng {

static bool wants(const Tensor& t) { return t.defined() && t.requires_grad(); }

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
    profile::Scope profile_scope("layer_norm");
    kernels::NormResult r = kernels::layer_norm(x, weight, bias, eps);
    if (!autograd::any_requires_grad({x, weight, bias})) return autograd::untracked(r.out, {x, weight, bias});
    autograd::SavedTensor sx(x), sw(weight);
    Tensor mean = r.mean, rstd = r.rstd;
    bool nx = wants(x), nw = wants(weight), nb = wants(bias);
    return autograd::record("layer_norm", r.out, {x, weight, bias}, [=](const Tensor& g) -> std::vector<Tensor> {
        kernels::NormGrads d = kernels::layer_norm_backward(g, sx.get(), sw.get(), mean, rstd, nx, nw, nb);
        return {d.dx, d.dweight, d.dbias};
    });
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, float momentum, float eps) {
    profile::Scope profile_scope("batch_norm");
    kernels::NormResult r =
        kernels::batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps);
    if (!autograd::any_requires_grad({x, weight, bias})) return autograd::untracked(r.out, {x, weight, bias});
    autograd::SavedTensor sx(x), sw(weight);
    Tensor mean = r.mean, rstd = r.rstd;
    bool nx = wants(x), nw = wants(weight), nb = wants(bias);
    return autograd::record("batch_norm", r.out, {x, weight, bias}, [=](const Tensor& g) -> std::vector<Tensor> {
        kernels::NormGrads d = kernels::batch_norm_backward(g, sx.get(), sw.get(), mean, rstd, training, nx, nw, nb);
        return {d.dx, d.dweight, d.dbias};
    });
}

Tensor l2_normalize(const Tensor& x, int64_t dim, float eps) {
    profile::Scope profile_scope("l2_normalize");
    Tensor norm;
    Tensor y = kernels::l2_normalize(x, dim, eps, &norm);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(y, {x});
    autograd::SavedTensor sx(x);
    return autograd::record("l2_normalize", y, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
        return {kernels::l2_normalize_backward(g, sx.get(), norm, dim, eps)};
    });
}

}  // namespace eng
