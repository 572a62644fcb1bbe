// reduce.cpp: autograd wrappers of the reductions.
//
// With g the upstream gradient broadcast back over the reduced dims:
//   sum:       dx = g
//   mean:      dx = g / N                      (N = number of reduced elements)
//   logsumexp: dx = g · exp(x - lse) = g · softmax(x)
//   var:       dx = g · 2(x - mean) / (N - correction)
//   max/min:   dx = g at the recorded arg-extreme, 0 elsewhere
#include "autograd/reduce.h"

#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/saved.h"
#include "tensor/cuda_backend.h"
#include "tensor/kernels.h"

namespace eng {

using kernels::Binary;
using kernels::Reduce;

// Reshapes a reduced gradient so it broadcasts against the input again.
static Tensor unreduce(const Tensor& g, const Shape& in_shape, const std::vector<int64_t>& dims) {
    Shape keep = kernels::reduced_shape(in_shape, dims, true);
    return raw_expand(raw_reshape(g, keep), in_shape);
}

static Tensor reduce_op(Reduce op, const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim,
                        int64_t correction = 1) {
    profile::Scope profile_scope(kernels::reduce_name(op));
    std::vector<int64_t> dims = kernels::reduce_dims(x.shape(), dims_in, kernels::reduce_name(op));
    Tensor out = kernels::reduce(op, x, dims, keepdim, nullptr, correction);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    // Sum and mean need only the input's shape; logsumexp and var read the
    // input (and logsumexp its output).
    const bool reads_x = op == Reduce::LogSumExp || op == Reduce::Var;
    using autograd::SavedTensor;
    SavedTensor saved_x = reads_x ? SavedTensor(x) : SavedTensor(),
                saved_out = op == Reduce::LogSumExp ? SavedTensor(out, true) : SavedTensor();
    const Shape s = x.shape();
    int64_t n = 1;
    for (int64_t d : dims) n *= s[size_t(d)];
    return autograd::record(kernels::reduce_name(op), out, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
        Tensor ge = unreduce(g, s, dims);
        const Tensor sx = saved_x.get(), so = saved_out.get();
        switch (op) {
            case Reduce::Sum: return {ge.contiguous()};
            case Reduce::Mean: return {kernels::scale(ge, 1.0f / float(n))};
            case Reduce::LogSumExp: {
                Tensor soft = kernels::unary(kernels::Unary::Exp,
                                             kernels::binary(Binary::Sub, sx, unreduce(so, s, dims)));
                return {kernels::binary(Binary::Mul, ge, soft)};
            }
            case Reduce::Var: {
                Tensor m = unreduce(kernels::reduce(Reduce::Mean, sx, dims, true), s, dims);
                Tensor centered = kernels::binary(Binary::Sub, sx, m);
                float c = 2.0f / float(std::max<int64_t>(n - correction, 0));
                return {kernels::binary(Binary::Mul, ge, kernels::scale(centered, c))};
            }
            default: ENG_FAIL("internal: no gradient rule for ", kernels::reduce_name(op));
        }
    });
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return reduce_op(Reduce::Sum, x, dims, keepdim); }
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return reduce_op(Reduce::Mean, x, dims, keepdim); }
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
    return reduce_op(Reduce::LogSumExp, x, dims, keepdim);
}
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
    return reduce_op(Reduce::Var, x, dims, keepdim, correction);
}

// Scatters g into a zero tensor of x's shape at the arg-extreme positions.
static Tensor scatter_to_extreme(const Tensor& g, const Tensor& idx, const Shape& in_shape,
                                 const std::vector<int64_t>& dims) {
    // Work in the layout the reduction used: kept dims first, reduced dims last.
    std::vector<int64_t> order;
    int64_t len = 1;
    for (int64_t d = 0; d < int64_t(in_shape.size()); ++d)
        if (std::find(dims.begin(), dims.end(), d) == dims.end()) order.push_back(d);
    Shape perm_shape;
    for (int64_t d : order) perm_shape.push_back(in_shape[size_t(d)]);
    for (int64_t d : dims) {
        order.push_back(d);
        perm_shape.push_back(in_shape[size_t(d)]);
        len *= in_shape[size_t(d)];
    }
    Tensor gc = g.contiguous(), ic = idx.contiguous();
    Tensor packed = zeros(perm_shape, TensorOptions{DType::f32, g.device()});
    int64_t rows = gc.numel();
    if (g.is_cuda()) {
        cuda::scatter_rows(packed.data<float>(), gc.data<float>(), ic.data<int32_t>(), rows, len);
    } else {
        const float* pg = gc.data<float>();
        const int32_t* pi = ic.data<int32_t>();
        float* pp = packed.data<float>();
        for (int64_t r = 0; r < rows; ++r) pp[r * len + pi[r]] = pg[r];
    }
    // Undo the permutation.
    std::vector<int64_t> inverse(order.size());
    for (size_t i = 0; i < order.size(); ++i) inverse[size_t(order[i])] = int64_t(i);
    return raw_permute(packed, inverse).contiguous();
}

static ValuesIndices extreme(Reduce op, const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
    profile::Scope profile_scope(kernels::reduce_name(op));
    const char* name = kernels::reduce_name(op);
    ENG_CHECK(x.numel() > 0, name, ": cannot reduce an empty tensor of shape ", shape_str(x.shape()));
    std::vector<int64_t> dims = kernels::reduce_dims(x.shape(), dims_in, name);
    Tensor idx;
    Tensor out = kernels::reduce(op, x, dims, keepdim, &idx);
    if (autograd::any_requires_grad({x})) {
        Shape s = x.shape();
        Tensor sidx = idx.detach();
        out = autograd::record(name, out, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
            return {scatter_to_extreme(g, sidx, s, dims)};
        });
    } else {
        out = autograd::untracked(out, {x});
    }
    return {out, idx};
}

ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim) { return extreme(Reduce::Max, x, {dim}, keepdim); }
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim) { return extreme(Reduce::Min, x, {dim}, keepdim); }
Tensor max(const Tensor& x) { return extreme(Reduce::Max, x, {}, false).values; }
Tensor min(const Tensor& x) { return extreme(Reduce::Min, x, {}, false).values; }

}  // namespace eng
