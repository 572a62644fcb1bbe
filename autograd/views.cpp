// views.cpp: autograd wrappers of the views.
//
// A view only rearranges indices, so its backward rearranges the gradient
// back: reshape -> reshape to the input shape; permute -> the inverse
// permutation; narrow -> zeros with the gradient written into the window;
// expand -> sum over the expanded dims.
#include "autograd/views.h"

#include "autograd/node.h"
#include "autograd/profile.h"
#include "tensor/kernels.h"

namespace eng {

Tensor reshape(const Tensor& x, const Shape& shape) {
    profile::Scope profile_scope("reshape");
    Tensor out = raw_reshape(x, shape);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    Shape in = x.shape();
    return autograd::record("reshape", out.detach(), {x},
                            [=](const Tensor& g) -> std::vector<Tensor> { return {raw_reshape(g, in)}; });
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
    if (x.dim() == 0) return reshape(x, {1});
    int64_t s = normalize_dim(start_dim, x.dim(), "flatten"), e = normalize_dim(end_dim, x.dim(), "flatten");
    ENG_CHECK(s <= e, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
    Shape shape;
    for (int64_t d = 0; d < s; ++d) shape.push_back(x.shape()[size_t(d)]);
    int64_t n = 1;
    for (int64_t d = s; d <= e; ++d) n *= x.shape()[size_t(d)];
    shape.push_back(n);
    for (int64_t d = e + 1; d < x.dim(); ++d) shape.push_back(x.shape()[size_t(d)]);
    return reshape(x, shape);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
    Tensor out = raw_permute(x, dims);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    std::vector<int64_t> inverse(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) inverse[size_t(normalize_dim(dims[i], x.dim(), "permute"))] = int64_t(i);
    return autograd::record("permute", out.detach(), {x},
                            [=](const Tensor& g) -> std::vector<Tensor> { return {raw_permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
    std::vector<int64_t> dims(size_t(x.dim()));
    for (size_t i = 0; i < dims.size(); ++i) dims[i] = int64_t(i);
    std::swap(dims[size_t(normalize_dim(d0, x.dim(), "transpose"))], dims[size_t(normalize_dim(d1, x.dim(), "transpose"))]);
    return permute(x, dims);
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
    Tensor out = raw_narrow(x, dim, start, length);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    Shape in = x.shape();
    int64_t d = normalize_dim(dim, x.dim(), "narrow");
    int64_t s = start < 0 ? start + in[size_t(d)] : start;
    Device dev = x.device();
    return autograd::record("narrow", out.detach(), {x}, [=](const Tensor& g) -> std::vector<Tensor> {
        Tensor full = zeros(in, TensorOptions{DType::f32, dev});
        raw_narrow(full, d, s, length).copy_(g);
        return {full};
    });
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
    int64_t d = normalize_dim(dim, x.dim(), "slice");
    int64_t n = x.shape()[size_t(d)];
    auto clampi = [n](int64_t v) { return std::min(std::max(v < 0 ? v + n : v, int64_t(0)), n); };
    int64_t s = clampi(start), e = clampi(end);
    return narrow(x, d, s, std::max<int64_t>(e - s, 0));
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
    int64_t d = normalize_dim(dim, x.dim(), "select");
    int64_t n = x.shape()[size_t(d)];
    ENG_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dimension ", d, " of size ", n);
    return squeeze(narrow(x, d, index < 0 ? index + n : index, 1), d);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
    Tensor out = raw_unsqueeze(x, dim);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    Shape in = x.shape();
    return autograd::record("unsqueeze", out.detach(), {x},
                            [=](const Tensor& g) -> std::vector<Tensor> { return {raw_reshape(g, in)}; });
}

Tensor squeeze(const Tensor& x, int64_t dim) {
    Tensor out = raw_squeeze(x, dim);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    Shape in = x.shape();
    return autograd::record("squeeze", out.detach(), {x},
                            [=](const Tensor& g) -> std::vector<Tensor> { return {raw_reshape(g, in)}; });
}

Tensor expand(const Tensor& x, const Shape& shape) {
    Tensor out = raw_expand(x, shape);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    Shape in = x.shape();
    return autograd::record("expand", out.detach(), {x},
                            [=](const Tensor& g) -> std::vector<Tensor> { return {kernels::sum_to(g, in)}; });
}

Tensor contiguous(const Tensor& x) {
    profile::Scope profile_scope("contiguous");
    if (x.is_contiguous()) return x;
    Tensor out = x.contiguous();
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    return autograd::record("contiguous", out, {x}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
}

Tensor to_device(const Tensor& x, Device d) {
    profile::Scope profile_scope("to_device");
    if (x.device() == d) return x;
    Tensor out = x.to(d);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    const Device src = x.device();
    return autograd::record("to_device", out.detach(), {x},
                            [=](const Tensor& g) -> std::vector<Tensor> { return {g.to(src)}; });
}

}  // namespace eng
