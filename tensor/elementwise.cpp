// elementwise.cpp: front-ends of the elementwise kernels: checks, broadcasting,
// output allocation and the CPU/CUDA dispatch.
#include <cmath>

#include "tensor/cpu/copy.h"
#include "tensor/cpu/elementwise.h"
#include "tensor/cpu/reduce.h"
#include "tensor/cpu/strided.h"
#include "tensor/cuda_backend.h"
#include "tensor/kernels.h"

namespace eng::kernels {

const char* unary_name(Unary op) {
    static const char* names[] = {"neg",  "exp",  "log",  "sqrt", "rsqrt",     "abs",       "tanh",
                                  "sigmoid", "relu", "gelu", "gelu_tanh", "pow", "clamp"};
    return names[int(op)];
}

const char* binary_name(Binary op) {
    static const char* names[] = {"add", "sub", "mul", "div", "pow"};
    return names[int(op)];
}

Tensor unary(Unary op, const Tensor& x, float a, float b) {
    check_dtype(x, DType::f32, unary_name(op), "input");
    Tensor xc = x.contiguous();
    Tensor y = empty(x.shape(), TensorOptions{DType::f32, x.device()});
    if (x.is_cuda()) cuda::unary_forward(op, y.data<float>(), xc.data<float>(), x.numel(), a, b);
    else cpu::unary_forward(op, y.data<float>(), xc.data<float>(), x.numel(), a, b);
    return y;
}

UnaryReads unary_backward_reads(Unary op) {
    switch (op) {
        case Unary::Neg: return {false, false};
        case Unary::Exp:
        case Unary::Sqrt:
        case Unary::Tanh:
        case Unary::Sigmoid: return {false, true};
        case Unary::Rsqrt: return {true, true};
        default: return {true, false};
    }
}

Tensor unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& dy, float a, float b) {
    const UnaryReads reads = unary_backward_reads(op);
    const char* name = unary_name(op);
    ENG_CHECK((!reads.x || x.defined()) && (!reads.y || y.defined()), name,
              " backward: the saved input or output it needs is missing");
    for (const Tensor* t : {&x, &y})
        if (t->defined()) {
            check_same_device(*t, dy, name);
            ENG_CHECK(t->shape() == dy.shape(), name, " backward: saved ", shape_str(t->shape()), " but gradient ",
                      shape_str(dy.shape()));
        }
    // The kernels take both pointers; one that is not read gets the gradient's
    // (a valid array of the same size, never used).
    Tensor dyc = dy.contiguous();
    Tensor xc = x.defined() ? x.contiguous() : dyc, yc = y.defined() ? y.contiguous() : dyc;
    Tensor dx = empty(dy.shape(), TensorOptions{DType::f32, dy.device()});
    if (dy.is_cuda())
        cuda::unary_backward(op, dx.data<float>(), xc.data<float>(), yc.data<float>(), dyc.data<float>(),
                             dy.numel(), a, b);
    else
        cpu::unary_backward(op, dx.data<float>(), xc.data<float>(), yc.data<float>(), dyc.data<float>(), dy.numel(),
                            a, b);
    return dx;
}

Tensor binary(Binary op, const Tensor& a, const Tensor& b) {
    const char* name = binary_name(op);
    check_same_device(a, b, name);
    check_dtype(a, DType::f32, name, "first input");
    check_dtype(b, DType::f32, name, "second input");
    Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
    Tensor out = empty(shape, TensorOptions{DType::f32, a.device()});
    Tensor ea = raw_expand(a, shape), eb = raw_expand(b, shape);
    if (a.device() == Device::CUDA) {
        cuda::binary(op, out.data<float>(), ea.data<float>(), ea.strides().data(), eb.data<float>(),
                     eb.strides().data(), int(shape.size()), shape.data());
        return out;
    }
    cpu::binary_forward(op, out.data<float>(), ea.data<float>(), eb.data<float>(), shape, out.strides().data(),
                        ea.strides().data(), eb.strides().data());
    return out;
}

Tensor scale(const Tensor& x, float s) { return binary(Binary::Mul, x, scalar_tensor(s, {DType::f32, x.device()})); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
    check_same_device(cond, a, "where");
    check_same_device(a, b, "where");
    check_dtype(a, DType::f32, "where", "first value");
    check_dtype(b, DType::f32, "where", "second value");
    Tensor c = cond.dtype() == DType::f32 ? cond : cond.to(DType::f32);
    Shape shape = broadcast_shapes(broadcast_shapes(c.shape(), a.shape(), "where"), b.shape(), "where");
    Tensor out = empty(shape, TensorOptions{DType::f32, a.device()});
    Tensor ec = raw_expand(c, shape), ea = raw_expand(a, shape), eb = raw_expand(b, shape);
    if (a.is_cuda()) {
        cuda::where(out.data<float>(), ec.data<float>(), ec.strides().data(), ea.data<float>(), ea.strides().data(),
                    eb.data<float>(), eb.strides().data(), int(shape.size()), shape.data());
        return out;
    }
    float* o = out.data<float>();
    const float *pc = ec.data<float>(), *pa = ea.data<float>(), *pb = eb.data<float>();
    cpu::for_each_row<4>(shape, {out.strides().data(), ec.strides().data(), ea.strides().data(), eb.strides().data()},
                         [&](const std::array<int64_t, 4>& off, int64_t len, const std::array<int64_t, 4>& st) {
                             for (int64_t i = 0; i < len; ++i)
                                 o[off[0] + i * st[0]] = pc[off[1] + i * st[1]] != 0.0f ? pa[off[2] + i * st[2]]
                                                                                       : pb[off[3] + i * st[3]];
                         });
    return out;
}

void round_to_bf16_(const Tensor& t) {
    if (!t.defined() || t.dtype() != DType::f32 || t.numel() == 0) return;
    ENG_CHECK(t.is_contiguous(), "round_to_bf16_: the tensor must be packed");
    t.bump_version();
    if (t.is_cuda()) cuda::round_to_bf16(t.data<float>(), t.numel());
    else cpu::round_to_bf16(t.data<float>(), t.numel());
}

void add_(const Tensor& dst, const Tensor& src) {
    ENG_CHECK(dst.shape() == src.shape(), "add_: shapes ", shape_str(dst.shape()), " and ", shape_str(src.shape()),
              " differ");
    ENG_CHECK(dst.is_contiguous(), "add_: destination must be packed");
    check_same_device(dst, src, "add_");
    dst.bump_version();
    if (dst.device() == Device::CUDA) {
        cuda::add_inplace(dst.data<float>(), src.data<float>(), src.strides().data(), int(dst.dim()),
                          dst.shape().data());
        return;
    }
    float* d = dst.data<float>();
    const float* s = src.data<float>();
    if (src.is_contiguous()) {
        // The common case (autograd summing a packed gradient into another):
        // one flat loop over the cores.  Each element is one addition, so the
        // bits do not depend on the split.
        const int64_t n = dst.numel();
#pragma omp parallel for schedule(static) if (n >= (int64_t(1) << 16))
        for (int64_t i = 0; i < n; ++i) d[i] += s[i];
        return;
    }
    cpu::for_each_row<2>(dst.shape(), {dst.strides().data(), src.strides().data()},
                         [&](const std::array<int64_t, 2>& off, int64_t len, const std::array<int64_t, 2>& st) {
                             for (int64_t i = 0; i < len; ++i) d[off[0] + i] += s[off[1] + i * st[1]];
                         });
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
    if (g.shape() == shape) return g;
    // Leading dims that broadcasting added, plus dims that were 1 and grew.
    std::vector<int64_t> dims;
    size_t lead = g.shape().size() - shape.size();
    for (size_t i = 0; i < g.shape().size(); ++i)
        if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(int64_t(i));
    Tensor r = dims.empty() ? g : reduce(Reduce::Sum, g, dims, true);
    return raw_reshape(r, shape);
}

Tensor mul_sum_to(const Tensor& g, const Tensor& a, const Shape& shape) {
    ENG_CHECK(g.shape() == a.shape(), "mul_sum_to: shapes ", shape_str(g.shape()), " and ", shape_str(a.shape()),
              " differ");
    // shape without its leading 1s must be g's trailing dims: then the sum is
    // over the leading rows of g viewed as [rows, cols].
    size_t first = 0;
    while (first < shape.size() && shape[first] == 1) ++first;
    const size_t kept = shape.size() - first;
    bool trailing = kept <= g.shape().size() && g.shape() != shape;
    for (size_t i = 0; trailing && i < kept; ++i)
        trailing = shape[first + i] == g.shape()[g.shape().size() - kept + i];
    if (!trailing || g.is_cuda() || g.dtype() != DType::f32 || a.dtype() != DType::f32 || g.numel() == 0)
        return sum_to(binary(Binary::Mul, g, a), shape);
    const Tensor gc = g.contiguous(), ac = a.contiguous();
    Tensor out = empty(shape);
    const int64_t cols = out.numel(), rows = g.numel() / cols;
    cpu::sum_leading(out.data<float>(), gc.data<float>(), rows, cols, 1.0, ac.data<float>());
    return out;
}

}  // namespace eng::kernels
