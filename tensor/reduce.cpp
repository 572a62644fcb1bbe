// reduce.cpp: reductions over any set of dims (sum, mean, max, min, logsumexp, var),
// and the L2 norm of a whole tensor.
//
// Every reduction is turned into the same shape of problem: the reduced dims
// are permuted to the end and packed, giving a [rows, len] matrix, and each row
// is reduced independently (in a fixed order, so results do not depend on the
// number of threads).  Row sums accumulate in double for accuracy.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/cuda_backend.h"
#include "tensor/cpu/reduce.h"
#include "tensor/kernels.h"

namespace eng::kernels {

const char* reduce_name(Reduce op) {
    static const char* names[] = {"sum", "mean", "max", "min", "logsumexp", "var"};
    return names[int(op)];
}

std::vector<int64_t> reduce_dims(const Shape& shape, const std::vector<int64_t>& dims, const char* op) {
    int64_t nd = int64_t(shape.size());
    std::vector<int64_t> out;
    if (dims.empty()) {
        for (int64_t d = 0; d < nd; ++d) out.push_back(d);
        return out;
    }
    for (int64_t d : dims) out.push_back(normalize_dim(d, nd, op));
    std::sort(out.begin(), out.end());
    ENG_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": a dimension is repeated in the dims of ",
              shape_str(shape));
    return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
    Shape out;
    for (size_t i = 0; i < shape.size(); ++i) {
        bool reduced = std::find(dims.begin(), dims.end(), int64_t(i)) != dims.end();
        if (!reduced) out.push_back(shape[i]);
        else if (keepdim) out.push_back(1);
    }
    return out;
}

Tensor reduce(Reduce op, const Tensor& x, std::vector<int64_t> dims_in, bool keepdim, Tensor* indices,
              int64_t correction) {
    const char* name = reduce_name(op);
    check_dtype(x, DType::f32, name, "input");
    std::vector<int64_t> dims = reduce_dims(x.shape(), dims_in, name);
    Shape out_shape = reduced_shape(x.shape(), dims, keepdim);
    // Permute kept dims first, reduced dims last, then pack.
    std::vector<int64_t> order;
    int64_t len = 1;
    for (int64_t d = 0; d < x.dim(); ++d)
        if (std::find(dims.begin(), dims.end(), d) == dims.end()) order.push_back(d);
    for (int64_t d : dims) {
        order.push_back(d);
        len *= x.shape()[size_t(d)];
    }
    ENG_CHECK(len > 0 || op == Reduce::Sum || op == Reduce::Mean || op == Reduce::LogSumExp, name,
              ": cannot reduce over an empty dimension of ", shape_str(x.shape()));
    // Sum/mean over leading dims of a packed CPU tensor (bias gradients): column
    // sums straight from x, no transposed copy.
    bool leading = !x.is_cuda() && x.is_contiguous() && (op == Reduce::Sum || op == Reduce::Mean) && len > 0;
    for (size_t i = 0; i < dims.size() && leading; ++i) leading = dims[i] == int64_t(i);
    if (leading && int64_t(dims.size()) < x.dim()) {
        Tensor out = empty(out_shape);
        int64_t cols = out.numel();
        cpu::sum_leading(out.data<float>(), x.data<float>(), len, cols, op == Reduce::Mean ? 1.0 / double(len) : 1.0);
        return out;
    }
    Tensor packed = raw_permute(x, order).contiguous();
    Tensor out = empty(out_shape, TensorOptions{DType::f32, x.device()});
    int64_t rows = out.numel();
    if (x.is_cuda()) {
        int32_t* idx = nullptr;
        if (indices && (op == Reduce::Max || op == Reduce::Min)) {
            *indices = empty(out_shape, TensorOptions{DType::i32, x.device()});
            idx = indices->data<int32_t>();
        }
        cuda::reduce_rows(op, out.data<float>(), idx, packed.data<float>(), rows, len, correction);
        return out;
    }
    int32_t* pi = nullptr;
    if (indices && (op == Reduce::Max || op == Reduce::Min)) {
        *indices = empty(out_shape, TensorOptions{DType::i32});
        pi = indices->data<int32_t>();
    }
    cpu::reduce_rows(op, out.data<float>(), pi, packed.data<float>(), rows, len, correction);
    return out;
}

Tensor l2_norm(const Tensor& x) {
    const Tensor xf = x.dtype() == DType::f32 ? x : x.to(DType::f32);
    if (x.is_cuda()) return unary(Unary::Sqrt, reduce(Reduce::Sum, binary(Binary::Mul, xf, xf), {}, false));
    const Tensor packed = xf.contiguous();
    // The square root in double before rounding: a float sum of squares would
    // overflow for norms above about 1.8e19, the norm itself only above 3.4e38.
    return scalar_tensor(float(std::sqrt(cpu::sum_of_squares(packed.data<float>(), packed.numel()))));
}

}  // namespace eng::kernels
