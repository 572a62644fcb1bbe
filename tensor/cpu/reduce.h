// reduce.h: CPU loops of the reductions (front-end and dim handling in tensor/reduce.cpp).
#pragma once
#include <cstdint>

#include "tensor/kernels.h"

namespace eng::cpu {

// x: [rows, len] packed; out: [rows]; index (Max/Min, optional): [rows], the
// position of the first extreme value in its row.  len may be 0 (Sum: 0,
// Mean: NaN, LogSumExp: -inf).  correction: Var's divisor is len - correction.
void reduce_rows(kernels::Reduce op, float* out, int32_t* index, const float* x, int64_t rows, int64_t len,
                 int64_t correction);

// Σ x[i]² over n packed elements, in double, split into chunks over the cores
// (the same additions for any thread count).
double sum_of_squares(const float* x, int64_t n);

// out[j] = scale · Σ_i x[i·cols + j], i < rows (x packed [rows, cols]): a sum
// over leading dims (bias gradients) without transposing x first.  With y
// (packed like x), the sum of the products x·y instead, without forming them:
// the gradient of a per-channel scale (d/dγ of x·γ is Σ_rows g·x).
void sum_leading(float* out, const float* x, int64_t rows, int64_t cols, double scale, const float* y = nullptr);

}  // namespace eng::cpu
