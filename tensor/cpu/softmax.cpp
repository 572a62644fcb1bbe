// softmax.cpp: CPU loops for softmax, log_softmax and cross-entropy (see softmax.h).
//
// Every row is independent, so rows are split across threads; within a row the
// sums run in a fixed order (accumulated in double), so results do not depend
// on the number of threads.  Stability: exp is only ever taken of x - max(x) ≤ 0,
// so it cannot overflow, and the largest term of the sum is exactly 1.
#include "tensor/cpu/softmax.h"

#include <cmath>
#include <limits>

namespace eng::cpu {

static constexpr int64_t kParallelMin = 1 << 14;  // below this many elements threads cost more than they save

static inline float row_max(const float* x, int64_t C) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < C; ++j) m = x[j] > m ? x[j] : m;
    return m;
}

// log Σ exp(x) computed as m + log Σ exp(x - m).
static inline float row_logsumexp(const float* x, int64_t C) {
    float m = row_max(x, C);
    double s = 0;
    for (int64_t j = 0; j < C; ++j) s += std::exp(double(x[j] - m));
    return m + float(std::log(s));
}

void softmax_forward(float* out, const float* inp, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t i = 0; i < N; ++i) {
        const float* x = inp + i * C;
        float* y = out + i * C;
        float m = row_max(x, C);
        double s = 0;
        for (int64_t j = 0; j < C; ++j) {
            y[j] = std::exp(x[j] - m);
            s += y[j];
        }
        float inv = float(1.0 / s);
        for (int64_t j = 0; j < C; ++j) y[j] *= inv;
    }
}

void log_softmax_forward(float* out, const float* inp, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t i = 0; i < N; ++i) {
        const float* x = inp + i * C;
        float* y = out + i * C;
        float lse = row_logsumexp(x, C);
        for (int64_t j = 0; j < C; ++j) y[j] = x[j] - lse;
    }
}

void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t i = 0; i < N; ++i) {
        const float* g = dout + i * C;
        const float* y = out + i * C;
        float* dx = dinp + i * C;
        double dot = 0;  // Σ_j g_j y_j
        for (int64_t j = 0; j < C; ++j) dot += double(g[j]) * double(y[j]);
        float fdot = float(dot);
        for (int64_t j = 0; j < C; ++j) dx[j] += y[j] * (g[j] - fdot);
    }
}

void log_softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t i = 0; i < N; ++i) {
        const float* g = dout + i * C;
        const float* y = out + i * C;
        float* dx = dinp + i * C;
        double gsum = 0;  // Σ_j g_j
        for (int64_t j = 0; j < C; ++j) gsum += g[j];
        float fsum = float(gsum);
        for (int64_t j = 0; j < C; ++j) dx[j] += g[j] - std::exp(y[j]) * fsum;
    }
}

void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                          int64_t C, int64_t ignore_index) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t i = 0; i < N; ++i) {
        const float* x = logits + i * C;
        lse[i] = row_logsumexp(x, C);
        // -log softmax(x)[t] = lse - x[t]
        losses[i] = targets[i] == ignore_index ? 0.0f : lse[i] - x[targets[i]];
    }
}

void crossentropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets, float dloss,
                           int64_t N, int64_t C, int64_t ignore_index) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t i = 0; i < N; ++i) {
        if (targets[i] == ignore_index) continue;  // contributes nothing to the mean
        const float* x = logits + i * C;
        float* dx = dlogits + i * C;
        for (int64_t j = 0; j < C; ++j) dx[j] += dloss * std::exp(x[j] - lse[i]);
        dx[targets[i]] -= dloss;
    }
}

}  // namespace eng::cpu
