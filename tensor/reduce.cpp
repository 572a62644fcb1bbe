// reduce.cpp: reductions over any set of dims (sum, mean, max, min, logsumexp, var).
//
// Every reduction is turned into the same shape of problem: the reduced dims
// are permuted to the end and packed, giving a [rows, len] matrix, and each row
// is reduced independently (in a fixed order, so results do not depend on the
// number of threads).  Row sums accumulate in double for accuracy.
#include <algorithm>
#include <cmath>
#include <limits>

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

static float reduce_row(Reduce op, const float* x, int64_t len, int64_t correction, int32_t* index) {
    switch (op) {
        case Reduce::Sum:
        case Reduce::Mean: {
            double s = 0;
            for (int64_t i = 0; i < len; ++i) s += x[i];
            return float(op == Reduce::Mean ? s / double(len) : s);
        }
        case Reduce::Max:
        case Reduce::Min: {
            // First extreme wins on ties; NaN propagates (and is reported as the extreme).
            int64_t best = 0;
            for (int64_t i = 1; i < len; ++i) {
                if (std::isnan(x[best])) break;
                bool better = op == Reduce::Max ? x[i] > x[best] : x[i] < x[best];
                if (better || std::isnan(x[i])) best = i;
            }
            if (index) *index = int32_t(best);
            return x[best];
        }
        case Reduce::LogSumExp: {
            float m = -std::numeric_limits<float>::infinity();
            for (int64_t i = 0; i < len; ++i) m = std::max(m, x[i]);
            if (std::isinf(m)) return m;  // all -inf (or +inf present)
            double s = 0;
            for (int64_t i = 0; i < len; ++i) s += std::exp(double(x[i] - m));
            return m + float(std::log(s));
        }
        case Reduce::Var: {
            double mean = 0;
            for (int64_t i = 0; i < len; ++i) mean += x[i];
            mean /= double(len);
            double ss = 0;
            for (int64_t i = 0; i < len; ++i) ss += (x[i] - mean) * (x[i] - mean);
            return float(ss / double(std::max<int64_t>(len - correction, 0)));
        }
    }
    return 0.0f;
}

Tensor reduce(Reduce op, const Tensor& x, std::vector<int64_t> dims_in, bool keepdim, Tensor* indices,
              int64_t correction) {
    const char* name = reduce_name(op);
    check_dtype(x, DType::f32, name, "input");
    ENG_CHECK(x.device() == Device::CPU, name, ": not implemented on CUDA yet");
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
    Tensor packed = raw_permute(x, order).contiguous();
    Tensor out = empty(out_shape);
    int64_t rows = out.numel();
    const float* px = packed.data<float>();
    float* po = out.data<float>();
    int32_t* pi = nullptr;
    if (indices && (op == Reduce::Max || op == Reduce::Min)) {
        *indices = empty(out_shape, TensorOptions{DType::i32});
        pi = indices->data<int32_t>();
    }
#pragma omp parallel for schedule(static) if (rows * len > (1 << 15))
    for (int64_t r = 0; r < rows; ++r) {
        if (len == 0) {
            po[r] = op == Reduce::LogSumExp ? -std::numeric_limits<float>::infinity()
                                            : (op == Reduce::Mean ? std::nanf("") : 0.0f);
            continue;
        }
        po[r] = reduce_row(op, px + r * len, len, correction, pi ? pi + r : nullptr);
    }
    return out;
}

}  // namespace eng::kernels
