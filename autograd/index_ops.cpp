// index_ops.cpp: autograd wrappers of concat, stack, index_select, gather and scatter_add.
//
// Each op is linear in its float inputs, so its backward is its adjoint:
//   concat:       out = [x_0; x_1; ...] along dim   =>  dx_i = the slice of g where x_i sits.
//   stack:        concat of unsqueezed inputs (the chain rule through both).
//   index_select: out[.., i, ..] = x[.., idx[i], ..]  =>  dx[.., r, ..] = Σ_{i: idx[i]=r} g[.., i, ..]
//                 (index_add; an index used twice collects both gradients).
//   gather:       out[p] = x[p|dim:=idx[p]]          =>  dx = scatter_add(0, dim, idx, g).
//   scatter_add:  out = x + S(src), S linear         =>  dx = g,
//                 dsrc[p] = ∂/∂src[p] Σ_q g[q]·out[q] = g[p|dim:=idx[p]] = gather(g, dim, idx)[p]
//                 for p inside index's shape, 0 for the rest of src (those entries are unused).
#include "autograd/index_ops.h"

#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/views.h"
#include "tensor/index_ops.h"

namespace eng {

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
    profile::Scope profile_scope("concat");
    Tensor out = kernels::concat(xs, dim);
    if (!autograd::any_requires_grad(xs)) return autograd::untracked(out, xs);
    int64_t d = normalize_dim(dim, xs[0].dim(), "concat");
    std::vector<int64_t> sizes;
    std::vector<bool> need;
    for (const Tensor& x : xs) {
        sizes.push_back(x.shape()[size_t(d)]);
        need.push_back(x.requires_grad());
    }
    return autograd::record("concat", out, xs, [=](const Tensor& g) -> std::vector<Tensor> {
        std::vector<Tensor> grads(sizes.size());
        int64_t at = 0;
        for (size_t i = 0; i < sizes.size(); ++i) {
            if (need[i]) grads[i] = raw_narrow(g, d, at, sizes[i]);
            at += sizes[i];
        }
        return grads;
    });
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
    profile::Scope profile_scope("stack");
    // kernels::stack checks the shapes and gives stack's own error messages.
    if (!autograd::any_requires_grad(xs)) return autograd::untracked(kernels::stack(xs, dim), xs);
    ENG_CHECK(!xs.empty() && xs[0].defined(), "stack: needs at least one defined tensor");
    for (size_t i = 0; i < xs.size(); ++i)
        ENG_CHECK(xs[i].defined() && xs[i].shape() == xs[0].shape(), "stack: tensor ", i, " has shape ",
                  xs[i].defined() ? shape_str(xs[i].shape()) : std::string("(undefined)"), " but tensor 0 has ",
                  shape_str(xs[0].shape()), "; stack needs equal shapes");
    int64_t d = normalize_dim(dim, xs[0].dim() + 1, "stack");
    std::vector<Tensor> parts;
    for (const Tensor& x : xs) parts.push_back(unsqueeze(x, d));
    return concat(parts, d);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
    profile::Scope profile_scope("index_select");
    Tensor out = kernels::index_select(x, dim, index);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    int64_t d = normalize_dim(dim, x.dim(), "index_select");
    Shape shape = x.shape();
    Tensor idx = index.detach();
    return autograd::record("index_select", out, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
        return {kernels::index_add(shape, d, idx, g)};
    });
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
    profile::Scope profile_scope("gather");
    Tensor out = kernels::gather(x, dim, index);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    int64_t d = normalize_dim(dim, x.dim(), "gather");
    Shape shape = x.shape();
    Tensor idx = index.detach();
    return autograd::record("gather", out, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
        return {kernels::scatter_add(zeros(shape, TensorOptions{DType::f32, g.device()}), d, idx, g)};
    });
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
    profile::Scope profile_scope("scatter_add");
    Tensor out = kernels::scatter_add(x, dim, index, src);
    if (!autograd::any_requires_grad({x, src})) return autograd::untracked(out, {x, src});
    int64_t d = normalize_dim(dim, x.dim(), "scatter_add");
    Shape src_shape = src.shape();
    bool need_x = x.requires_grad(), need_src = src.requires_grad();
    Tensor idx = index.detach();
    return autograd::record("scatter_add", out, {x, src}, [=](const Tensor& g) -> std::vector<Tensor> {
        Tensor gx, gsrc;
        if (need_x) gx = g;
        if (need_src) {
            Tensor picked = kernels::gather(g, d, idx);  // index's shape
            if (picked.shape() == src_shape) {
                gsrc = picked;
            } else {
                gsrc = zeros(src_shape, TensorOptions{DType::f32, g.device()});
                gsrc.as_strided(picked.shape(), gsrc.strides(), 0).copy_(picked);
            }
        }
        return {gx, gsrc};
    });
}

}  // namespace eng
