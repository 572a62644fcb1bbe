// softmax.cpp: CPU loops for softmax, log_softmax and cross-entropy (see softmax.h).
//
// Every row is independent, so rows are split across threads (rows.h); within
// a row the sums run in a fixed order (vectorised, accumulated in double), so
// results do not depend on the number of threads.  exp comes from vecmath.h so
// that the row loops vectorise (AVX2, or AVX-512 when the CPU has it).
// Stability: exp is only ever taken of x - max(x) ≤ 0, so it cannot overflow,
// and the largest term of the sum is exactly 1.
#include "tensor/cpu/softmax.h"

#include <cmath>
#include <limits>

#include "tensor/cpu/rows.h"

namespace eng::cpu {

static ENG_ROW_INLINE float row_max(const float* __restrict x, int64_t C) {
    float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < C; ++j) m = x[j] > m ? x[j] : m;
    return m;
}

// Σ exp(x - m), in double.
static ENG_ROW_INLINE double row_sumexp(const float* __restrict x, int64_t C, float m) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < C; ++j) s += double(vm::exp_f(x[j] - m));
    return s;
}

// log Σ exp(x) = m + log Σ exp(x - m), as its two parts: the max m and
// log_s = log Σ exp(x - m), in [0, log C].  They are kept apart because their
// float sum is rounded at the magnitude of m: with logits near 10⁴, m + log_s
// loses log_s's low bits (3e-4 in log_softmax), while (x - m) - log_s
// subtracts m exactly first.
static ENG_ROW_INLINE float row_log_sumexp_shifted(const float* __restrict x, int64_t C, float& m) {
    m = row_max(x, C);
    return float(std::log(row_sumexp(x, C, m)));
}

struct SoftmaxFwd {
    static ENG_ROW_INLINE void row(int64_t i, float* out, const float* inp, int64_t C) {
        const float* __restrict x = inp + i * C;
        float* __restrict y = out + i * C;
        float m = row_max(x, C);
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < C; ++j) {
            float e = vm::exp_f(x[j] - m);
            y[j] = e;
            s += double(e);
        }
        float inv = float(1.0 / s);
#pragma omp simd
        for (int64_t j = 0; j < C; ++j) y[j] *= inv;
    }
};

void softmax_forward(float* out, const float* inp, int64_t N, int64_t C) {
    parallel_rows<SoftmaxFwd>(N, N * C, out, inp, C);
}

struct LogSoftmaxFwd {
    static ENG_ROW_INLINE void row(int64_t i, float* out, const float* inp, int64_t C) {
        const float* __restrict x = inp + i * C;
        float* __restrict y = out + i * C;
        float m;
        const float log_s = row_log_sumexp_shifted(x, C, m);
#pragma omp simd
        for (int64_t j = 0; j < C; ++j) y[j] = (x[j] - m) - log_s;
    }
};

void log_softmax_forward(float* out, const float* inp, int64_t N, int64_t C) {
    parallel_rows<LogSoftmaxFwd>(N, N * C, out, inp, C);
}

struct SoftmaxBwd {
    static ENG_ROW_INLINE void row(int64_t i, float* dinp, const float* dout, const float* out, int64_t C) {
        const float* __restrict g = dout + i * C;
        const float* __restrict y = out + i * C;
        float* __restrict dx = dinp + i * C;
        double dot = 0;  // Σ_j g_j y_j
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < C; ++j) dot += double(g[j]) * double(y[j]);
        float fdot = float(dot);
#pragma omp simd
        for (int64_t j = 0; j < C; ++j) dx[j] += y[j] * (g[j] - fdot);
    }
};

void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C) {
    parallel_rows<SoftmaxBwd>(N, N * C, dinp, dout, out, C);
}

struct LogSoftmaxBwd {
    static ENG_ROW_INLINE void row(int64_t i, float* dinp, const float* dout, const float* out, int64_t C) {
        const float* __restrict g = dout + i * C;
        const float* __restrict y = out + i * C;
        float* __restrict dx = dinp + i * C;
        double gsum = 0;  // Σ_j g_j
#pragma omp simd reduction(+ : gsum)
        for (int64_t j = 0; j < C; ++j) gsum += double(g[j]);
        float fsum = float(gsum);
#pragma omp simd
        for (int64_t j = 0; j < C; ++j) dx[j] += g[j] - vm::exp_f(y[j]) * fsum;
    }
};

void log_softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C) {
    parallel_rows<LogSoftmaxBwd>(N, N * C, dinp, dout, out, C);
}

struct CrossEntropyFwd {
    static ENG_ROW_INLINE void row(int64_t i, float* losses, float* lse, const float* logits, const int32_t* targets,
                                   int64_t C, int64_t ignore_index) {
        const float* x = logits + i * C;
        float m;
        const float log_s = row_log_sumexp_shifted(x, C, m);
        lse[i] = m + log_s;
        // -log softmax(x)[t] = lse - x[t] = (m - x[t]) + log_s
        losses[i] = targets[i] == ignore_index ? 0.0f : (m - x[targets[i]]) + log_s;
    }
};

void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                          int64_t C, int64_t ignore_index) {
    parallel_rows<CrossEntropyFwd>(N, N * C, losses, lse, logits, targets, C, ignore_index);
}

struct CrossEntropyBwd {
    // The forward's lse is not read: softmax(x) = exp((x - m) - log_s) is
    // recomputed from the row (one more pass) to keep log_s's low bits.
    static ENG_ROW_INLINE void row(int64_t i, float* dlogits, const float* logits, const int32_t* targets, float dloss,
                                   int64_t C, int64_t ignore_index) {
        if (targets[i] == ignore_index) return;  // contributes nothing to the mean
        const float* __restrict x = logits + i * C;
        float* __restrict dx = dlogits + i * C;
        float m;
        const float log_s = row_log_sumexp_shifted(x, C, m);
#pragma omp simd
        for (int64_t j = 0; j < C; ++j) dx[j] += dloss * vm::exp_f((x[j] - m) - log_s);
        dx[targets[i]] -= dloss;
    }
};

void crossentropy_backward(float* dlogits, const float* logits, const float* /*lse: recomputed, see above*/,
                           const int32_t* targets, float dloss, int64_t N, int64_t C, int64_t ignore_index) {
    parallel_rows<CrossEntropyBwd>(N, N * C, dlogits, logits, targets, dloss, C, ignore_index);
}

}  // namespace eng::cpu
