// reduce.cpp: CPU loops of the reductions (see reduce.h).
//
// Determinism with speed: a sum is cut into fixed chunks of kChunk elements;
// each chunk is summed in double by a vectorised loop (its lane order is fixed
// by the compiled code), and the chunk sums are added in chunk order.  Rows of
// a [rows, len] problem are spread over threads when there are many; a few
// long rows are instead split by chunk, with the chunk sums written to a
// buffer and added afterwards in the same order.  Either way each row's result
// is the same sequence of additions, so it does not depend on the thread count.
#include "tensor/cpu/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/cpu/vecmath.h"

namespace eng::cpu {

using kernels::Reduce;

static constexpr int64_t kChunk = 1 << 12;        // elements per partial sum
static constexpr int64_t kParallelMin = 1 << 15;  // below this many elements, one thread

// ---- chunk kernels: one vectorised pass over at most kChunk elements ------------------

static double chunk_sum(const float* __restrict x, int64_t n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += double(x[i]);
    return s;
}

static double chunk_sqdev(const float* __restrict x, int64_t n, double mean) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) {
        double d = double(x[i]) - mean;
        s += d * d;
    }
    return s;
}

static double chunk_sumsq(const float* __restrict x, int64_t n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
    return s;
}

// Σ exp(x - m) (exp in float from vecmath.h, summed in double).
static double chunk_sumexp(const float* __restrict x, int64_t n, float m) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += double(vm::exp_f(x[i] - m));
    return s;
}

// The chunked sum of f over one row, parallel over chunks when asked.
template <typename F>
static double chunked(int64_t len, bool parallel, F&& f) {
    int64_t chunks = (len + kChunk - 1) / kChunk;
    if (!parallel || chunks < 2) {
        double s = 0;
        for (int64_t c = 0; c < chunks; ++c) s += f(c * kChunk, std::min(kChunk, len - c * kChunk));
        return s;
    }
    std::vector<double> part(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) part[size_t(c)] = f(c * kChunk, std::min(kChunk, len - c * kChunk));
    double s = 0;
    for (int64_t c = 0; c < chunks; ++c) s += part[size_t(c)];
    return s;
}

// Max or Min of a row and the first position holding it; NaN wins (and is
// reported at its first position), as torch.max.
template <bool MAX>
static float extreme(const float* __restrict x, int64_t len, int32_t* index) {
    // Vectorised pass for the value, noting whether any NaN was seen.
    float m = x[0];
    int nan = 0;
    if constexpr (MAX) {
#pragma omp simd reduction(max : m) reduction(| : nan)
        for (int64_t i = 0; i < len; ++i) {
            m = x[i] > m ? x[i] : m;
            nan |= x[i] != x[i];
        }
    } else {
#pragma omp simd reduction(min : m) reduction(| : nan)
        for (int64_t i = 0; i < len; ++i) {
            m = x[i] < m ? x[i] : m;
            nan |= x[i] != x[i];
        }
    }
    int64_t best = 0;
    if (nan) {
        while (!(x[best] != x[best])) ++best;
    } else {
        while (x[best] != m) ++best;  // the first element equal to the extreme
    }
    if (index) *index = int32_t(best);
    return x[best];
}

static float reduce_one(Reduce op, const float* x, int64_t len, int64_t correction, int32_t* index, bool parallel) {
    switch (op) {
        case Reduce::Sum:
        case Reduce::Mean: {
            double s = chunked(len, parallel, [&](int64_t i0, int64_t n) { return chunk_sum(x + i0, n); });
            return float(op == Reduce::Mean ? s / double(len) : s);
        }
        case Reduce::Max: return extreme<true>(x, len, index);
        case Reduce::Min: return extreme<false>(x, len, index);
        case Reduce::LogSumExp: {
            float m = extreme<true>(x, len, nullptr);
            if (std::isinf(m) || std::isnan(m)) return m;  // all -inf, +inf present, or NaN
            double s = chunked(len, parallel, [&](int64_t i0, int64_t n) { return chunk_sumexp(x + i0, n, m); });
            return m + float(std::log(s));
        }
        case Reduce::Var: {
            double mean = chunked(len, parallel, [&](int64_t i0, int64_t n) { return chunk_sum(x + i0, n); });
            mean /= double(len);
            double ss = chunked(len, parallel, [&](int64_t i0, int64_t n) { return chunk_sqdev(x + i0, n, mean); });
            return float(ss / double(std::max<int64_t>(len - correction, 0)));
        }
    }
    return 0.0f;
}

void reduce_rows(Reduce op, float* out, int32_t* index, const float* x, int64_t rows, int64_t len,
                 int64_t correction) {
    if (len == 0) {
        float v = op == Reduce::LogSumExp ? -std::numeric_limits<float>::infinity()
                                          : (op == Reduce::Mean ? std::nanf("") : 0.0f);
        for (int64_t r = 0; r < rows; ++r) out[r] = v;
        return;
    }
    bool big = rows * len >= kParallelMin;
    if (rows == 1) {  // one long row: threads split its chunks
        out[0] = reduce_one(op, x, len, correction, index, big);
        return;
    }
#pragma omp parallel for schedule(static) if (big)
    for (int64_t r = 0; r < rows; ++r)
        out[r] = reduce_one(op, x + r * len, len, correction, index ? index + r : nullptr, false);
}

double sum_of_squares(const float* x, int64_t n) {
    return chunked(n, n >= kParallelMin, [&](int64_t i0, int64_t len) { return chunk_sumsq(x + i0, len); });
}

// Column sums: tasks are (block of kRows rows) × (block of kCols columns);
// each sums its rows in order into float partials, part[row block][column],
// and the row blocks are then added in order in double: the same additions
// for any number of threads, and enough tasks to share out.
// Float partials (over 256 rows) took 0.09 ms for the bias gradient of
// 16 × 261 ViT tokens of width 384; double ones, converting every element,
// took 0.12 ms.
template <bool PRODUCT>
static void sum_leading_blocks(float* out, const float* x, const float* y, int64_t rows, int64_t cols,
                               double scale) {
    constexpr int64_t kRows = 256, kCols = 256;
    int64_t rb = (rows + kRows - 1) / kRows, cb = (cols + kCols - 1) / kCols;
    std::vector<float> part(size_t(rb * cols));
    bool big = rows * cols >= kParallelMin;
#pragma omp parallel for collapse(2) schedule(static) if (big)
    for (int64_t b = 0; b < rb; ++b)
        for (int64_t c = 0; c < cb; ++c) {
            int64_t j0 = c * kCols, nj = std::min(kCols, cols - j0);
            int64_t i1 = std::min(rows, (b + 1) * kRows);
            float acc[kCols] = {0};
            for (int64_t i = b * kRows; i < i1; ++i) {
                const float* __restrict xr = x + i * cols + j0;
                const float* __restrict yr = PRODUCT ? y + i * cols + j0 : nullptr;
#pragma omp simd
                for (int64_t j = 0; j < nj; ++j) acc[j] += PRODUCT ? xr[j] * yr[j] : xr[j];
            }
            std::copy(acc, acc + nj, part.begin() + b * cols + j0);
        }
#pragma omp parallel for schedule(static) if (rb * cols >= kParallelMin)
    for (int64_t j = 0; j < cols; ++j) {
        double s = 0;
        for (int64_t b = 0; b < rb; ++b) s += double(part[size_t(b * cols + j)]);
        out[j] = float(s * scale);
    }
}

void sum_leading(float* out, const float* x, int64_t rows, int64_t cols, double scale, const float* y) {
    if (y) sum_leading_blocks<true>(out, x, y, rows, cols, scale);
    else sum_leading_blocks<false>(out, x, nullptr, rows, cols, scale);
}

}  // namespace eng::cpu
