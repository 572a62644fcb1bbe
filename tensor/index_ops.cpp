// index_ops.cpp: argument checks, packing and dispatch for concat, stack,
// index_select / index_add and gather / scatter_add (kernels in tensor/cpu/index_ops.cpp).
#include "tensor/index_ops.h"

#include "tensor/cpu/index_ops.h"
#include "tensor/cuda_backend.h"

namespace eng::kernels {

namespace {

// Raises the standard out-of-range error for the first bad entry of `index`
// (packed i32), checked serially before any kernel runs (a throw inside an
// OpenMP region would terminate the program).
// CUDA indices are copied to the host for the check.
void check_indices(const Tensor& index_in, int64_t size, int64_t dim, const char* op, const Shape& shape) {
    Tensor index = index_in.to(Device::CPU);
    const int32_t* p = index.data<int32_t>();
    for (int64_t i = 0; i < index.numel(); ++i)
        ENG_CHECK(p[i] >= 0 && p[i] < size, op, ": index ", p[i], " is out of range for dimension ", dim,
                  " of size ", size, " (tensor of shape ", shape_str(shape), ")");
}

int64_t prod(const Shape& s, int64_t from, int64_t to) {
    int64_t n = 1;
    for (int64_t d = from; d < to; ++d) n *= s[size_t(d)];
    return n;
}

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
    ENG_CHECK(!xs.empty(), "concat: needs at least one tensor");
    for (size_t i = 0; i < xs.size(); ++i) ENG_CHECK(xs[i].defined(), "concat: tensor ", i, " is undefined");
    const Tensor& x0 = xs[0];
    ENG_CHECK(x0.dim() > 0, "concat: cannot concatenate zero-dimensional tensors (use stack)");
    int64_t d = normalize_dim(dim, x0.dim(), "concat");
    Shape out_shape = x0.shape();
    out_shape[size_t(d)] = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
        const Tensor& x = xs[i];
        ENG_CHECK(x.dtype() == x0.dtype(), "concat: tensor ", i, " has dtype ", dtype_name(x.dtype()),
                  " but tensor 0 has ", dtype_name(x0.dtype()));
        check_same_device(x0, x, "concat");
        bool ok = x.dim() == x0.dim();
        for (int64_t k = 0; ok && k < x.dim(); ++k) ok = k == d || x.shape()[size_t(k)] == x0.shape()[size_t(k)];
        ENG_CHECK(ok, "concat: tensor ", i, " has shape ", shape_str(x.shape()), " but tensor 0 has ",
                  shape_str(x0.shape()), "; all sizes except dimension ", d, " must match");
        out_shape[size_t(d)] += x.shape()[size_t(d)];
    }
    Tensor out = empty(out_shape, TensorOptions{x0.dtype(), x0.device()});
    int64_t at = 0;
    for (const Tensor& x : xs) {
        int64_t n = x.shape()[size_t(d)];
        if (n > 0) raw_narrow(out, d, at, n).copy_(x);
        at += n;
    }
    return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
    ENG_CHECK(!xs.empty(), "stack: needs at least one tensor");
    for (size_t i = 0; i < xs.size(); ++i) {
        ENG_CHECK(xs[i].defined(), "stack: tensor ", i, " is undefined");
        ENG_CHECK(xs[i].shape() == xs[0].shape(), "stack: tensor ", i, " has shape ", shape_str(xs[i].shape()),
                  " but tensor 0 has ", shape_str(xs[0].shape()), "; stack needs equal shapes");
    }
    int64_t d = normalize_dim(dim, xs[0].dim() + 1, "stack");
    std::vector<Tensor> parts;
    for (const Tensor& x : xs) parts.push_back(raw_unsqueeze(x, d));
    return concat(parts, d);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
    check_dtype(index, DType::i32, "index_select", "index");
    check_same_device(x, index, "index_select");
    ENG_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got shape ", shape_str(index.shape()));
    ENG_CHECK(x.dim() > 0, "index_select: input must have at least one dimension");
    int64_t d = normalize_dim(dim, x.dim(), "index_select");
    Tensor idx = index.contiguous();
    check_indices(idx, x.shape()[size_t(d)], d, "index_select", x.shape());
    Shape out_shape = x.shape();
    out_shape[size_t(d)] = idx.numel();
    Tensor out = empty(out_shape, TensorOptions{x.dtype(), x.device()});
    if (out.numel() == 0) return out;
    Tensor xc = x.contiguous();
    (x.is_cuda() ? cuda::index_select_forward : cpu::index_select_forward)(out.raw_data(), xc.raw_data(), idx.data<int32_t>(), prod(x.shape(), 0, d),
                              x.shape()[size_t(d)], idx.numel(), prod(x.shape(), d + 1, x.dim()),
                              dtype_size(x.dtype()));
    return out;
}

Tensor index_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src) {
    check_dtype(index, DType::i32, "index_add", "index");
    check_dtype(src, DType::f32, "index_add", "src");
    check_same_device(src, index, "index_add");
    ENG_CHECK(index.dim() <= 1, "index_add: index must be 1-D, got shape ", shape_str(index.shape()));
    ENG_CHECK(!shape.empty(), "index_add: output must have at least one dimension");
    int64_t d = normalize_dim(dim, int64_t(shape.size()), "index_add");
    Tensor idx = index.contiguous();
    Shape want = shape;
    want[size_t(d)] = idx.numel();
    ENG_CHECK(src.shape() == want, "index_add: src has shape ", shape_str(src.shape()), " but output ",
              shape_str(shape), " with ", idx.numel(), " indices along dimension ", d, " needs ", shape_str(want));
    check_indices(idx, shape[size_t(d)], d, "index_add", shape);
    Tensor out = zeros(shape, TensorOptions{DType::f32, src.device()});
    if (src.numel() == 0) return out;
    Tensor sc = src.contiguous();
    (src.is_cuda() ? cuda::index_add : cpu::index_add)(out.data<float>(), sc.data<float>(), idx.data<int32_t>(), prod(shape, 0, d), shape[size_t(d)],
                   idx.numel(), prod(shape, d + 1, int64_t(shape.size())));
    return out;
}

namespace {

cpu::GatherShapes gather_shapes(const Tensor& x, int64_t d, const Tensor& index, const Tensor* src, const char* op) {
    ENG_CHECK(x.dim() >= 1 && x.dim() <= 8, op, ": input of shape ", shape_str(x.shape()),
              " must have 1 to 8 dimensions");
    ENG_CHECK(index.dim() == x.dim(), op, ": index of shape ", shape_str(index.shape()),
              " must have as many dimensions as the input ", shape_str(x.shape()));
    cpu::GatherShapes s;
    s.ndim = x.dim();
    s.dim = d;
    for (int64_t k = 0; k < x.dim(); ++k) {
        s.index[k] = index.shape()[size_t(k)];
        s.x[k] = x.shape()[size_t(k)];
        s.src[k] = src ? src->shape()[size_t(k)] : 0;
        ENG_CHECK(k == d || s.index[k] <= s.x[k], op, ": index of shape ", shape_str(index.shape()),
                  " is larger than the input ", shape_str(x.shape()), " in dimension ", k);
        if (src)
            ENG_CHECK(s.index[k] <= s.src[k], op, ": index of shape ", shape_str(index.shape()),
                      " is larger than src ", shape_str(src->shape()), " in dimension ", k);
    }
    return s;
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
    check_dtype(index, DType::i32, "gather", "index");
    check_same_device(x, index, "gather");
    ENG_CHECK(x.dim() >= 1, "gather: input must have at least one dimension");
    int64_t d = normalize_dim(dim, x.dim(), "gather");
    cpu::GatherShapes s = gather_shapes(x, d, index, nullptr, "gather");
    Tensor idx = index.contiguous();
    check_indices(idx, x.shape()[size_t(d)], d, "gather", x.shape());
    Tensor out = empty(index.shape(), TensorOptions{x.dtype(), x.device()});
    if (out.numel() == 0) return out;
    Tensor xc = x.contiguous();
    (x.is_cuda() ? cuda::gather_forward : cpu::gather_forward)(out.raw_data(), xc.raw_data(), idx.data<int32_t>(), s, dtype_size(x.dtype()));
    return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
    check_dtype(x, DType::f32, "scatter_add", "input");
    check_dtype(src, DType::f32, "scatter_add", "src");
    check_dtype(index, DType::i32, "scatter_add", "index");
    check_same_device(x, index, "scatter_add");
    check_same_device(x, src, "scatter_add");
    ENG_CHECK(x.dim() >= 1, "scatter_add: input must have at least one dimension");
    int64_t d = normalize_dim(dim, x.dim(), "scatter_add");
    ENG_CHECK(src.dim() == x.dim(), "scatter_add: src of shape ", shape_str(src.shape()),
              " must have as many dimensions as the input ", shape_str(x.shape()));
    cpu::GatherShapes s = gather_shapes(x, d, index, &src, "scatter_add");
    Tensor idx = index.contiguous();
    check_indices(idx, x.shape()[size_t(d)], d, "scatter_add", x.shape());
    Tensor out = x.clone();
    if (idx.numel() == 0) return out;
    Tensor sc = src.contiguous();
    (x.is_cuda() ? cuda::scatter_add : cpu::scatter_add)(out.data<float>(), sc.data<float>(), idx.data<int32_t>(), s);
    return out;
}

}  // namespace eng::kernels
