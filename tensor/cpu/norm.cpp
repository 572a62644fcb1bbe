// norm.cpp: CPU loops for layer norm, batch norm and L2 normalisation (see norm.h;
// the gradient formulas are derived in autograd/norm.cpp).
//
// Determinism: every sum is owned by one thread and runs in a fixed order
// (accumulated in double).  Layer norm's dweight/dbias are sums over rows, so
// they are computed in a second pass parallel over blocks of columns rather
// than by rows racing on the same column.
#include "tensor/cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace eng::cpu {

static constexpr int64_t kParallelMin = 1 << 14;  // elements; smaller problems run on one thread
static constexpr int64_t kColBlock = 64;          // columns per task in the column-parallel passes

// ---- layer norm ------------------------------------------------------------------------

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t i = 0; i < N; ++i) {
        const float* x = inp + i * C;
        float* y = out + i * C;
        // two passes: mean, then the (biased) variance about it
        double m = 0;
        for (int64_t j = 0; j < C; ++j) m += x[j];
        m /= double(C);
        double v = 0;
        for (int64_t j = 0; j < C; ++j) v += (x[j] - m) * (x[j] - m);
        v /= double(C);
        float s = float(1.0 / std::sqrt(v + double(eps)));
        float fm = float(m);
        for (int64_t j = 0; j < C; ++j) {
            float xhat = (x[j] - fm) * s;
            y[j] = xhat * (weight ? weight[j] : 1.0f) + (bias ? bias[j] : 0.0f);
        }
        mean[i] = fm;
        rstd[i] = s;
    }
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
    if (dinp) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
        for (int64_t i = 0; i < N; ++i) {
            const float* g = dout + i * C;
            const float* x = inp + i * C;
            float* dx = dinp + i * C;
            // the two row means of the dx formula: mean(dxhat) and mean(dxhat · xhat)
            double a = 0, b = 0;
            for (int64_t j = 0; j < C; ++j) {
                float dxhat = g[j] * (weight ? weight[j] : 1.0f);
                float xhat = (x[j] - mean[i]) * rstd[i];
                a += dxhat;
                b += double(dxhat) * xhat;
            }
            float ma = float(a / double(C)), mb = float(b / double(C));
            for (int64_t j = 0; j < C; ++j) {
                float dxhat = g[j] * (weight ? weight[j] : 1.0f);
                float xhat = (x[j] - mean[i]) * rstd[i];
                dx[j] += rstd[i] * (dxhat - ma - xhat * mb);
            }
        }
    }
    if (!dweight && !dbias) return;
    int64_t blocks = (C + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t blk = 0; blk < blocks; ++blk) {
        int64_t j0 = blk * kColBlock, j1 = std::min(C, j0 + kColBlock);
        double sw[kColBlock] = {0}, sb[kColBlock] = {0};
        for (int64_t i = 0; i < N; ++i) {
            const float* g = dout + i * C;
            const float* x = inp + i * C;
            for (int64_t j = j0; j < j1; ++j) {
                sw[j - j0] += double(g[j]) * ((x[j] - mean[i]) * rstd[i]);
                sb[j - j0] += g[j];
            }
        }
        for (int64_t j = j0; j < j1; ++j) {
            if (dweight) dweight[j] += float(sw[j - j0]);
            if (dbias) dbias[j] += float(sb[j - j0]);
        }
    }
}

// ---- batch norm --------------------------------------------------------------------------
// Channel c of sample n is the contiguous run inp[(n·C + c)·L .. +L].

void batchnorm_stats(float* mean, float* var, const float* inp, int64_t N, int64_t C, int64_t L) {
    double count = double(N * L);
#pragma omp parallel for schedule(static) if (N * C * L > kParallelMin)
    for (int64_t c = 0; c < C; ++c) {
        double m = 0;
        for (int64_t n = 0; n < N; ++n) {
            const float* x = inp + (n * C + c) * L;
            for (int64_t l = 0; l < L; ++l) m += x[l];
        }
        m /= count;
        double v = 0;
        for (int64_t n = 0; n < N; ++n) {
            const float* x = inp + (n * C + c) * L;
            for (int64_t l = 0; l < L; ++l) v += (x[l] - m) * (x[l] - m);
        }
        mean[c] = float(m);
        var[c] = float(v / count);
    }
}

void batchnorm_forward(float* out, const float* inp, const float* mean, const float* rstd, const float* weight,
                       const float* bias, int64_t N, int64_t C, int64_t L) {
#pragma omp parallel for schedule(static) collapse(2) if (N * C * L > kParallelMin)
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            const float* x = inp + (n * C + c) * L;
            float* y = out + (n * C + c) * L;
            float w = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f;
            for (int64_t l = 0; l < L; ++l) y[l] = (x[l] - mean[c]) * rstd[c] * w + b;
        }
}

void batchnorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C, int64_t L,
                        bool training) {
    double count = double(N * L);
#pragma omp parallel for schedule(static) if (N * C * L > kParallelMin)
    for (int64_t c = 0; c < C; ++c) {
        float w = weight ? weight[c] : 1.0f;
        // Σ g and Σ g·xhat over the channel: they give dbias and dweight, and
        // (times w, over the count) the two means of the training-mode dx.
        double sg = 0, sgx = 0;
        for (int64_t n = 0; n < N; ++n) {
            const float* g = dout + (n * C + c) * L;
            const float* x = inp + (n * C + c) * L;
            for (int64_t l = 0; l < L; ++l) {
                sg += g[l];
                sgx += double(g[l]) * ((x[l] - mean[c]) * rstd[c]);
            }
        }
        if (dweight) dweight[c] += float(sgx);
        if (dbias) dbias[c] += float(sg);
        if (!dinp) continue;
        float ma = training ? float(w * sg / count) : 0.0f;   // mean(dxhat)
        float mb = training ? float(w * sgx / count) : 0.0f;  // mean(dxhat · xhat)
        for (int64_t n = 0; n < N; ++n) {
            const float* g = dout + (n * C + c) * L;
            const float* x = inp + (n * C + c) * L;
            float* dx = dinp + (n * C + c) * L;
            for (int64_t l = 0; l < L; ++l) {
                float xhat = (x[l] - mean[c]) * rstd[c];
                dx[l] += rstd[c] * (g[l] * w - ma - xhat * mb);
            }
        }
    }
}

// ---- L2 normalisation ------------------------------------------------------------------
// Line (o, i) is inp[o·C·inner + k·inner + i] for k in [0, C).

void l2norm_forward(float* out, float* norm, const float* inp, int64_t outer, int64_t C, int64_t inner, float eps) {
#pragma omp parallel for schedule(static) collapse(2) if (outer * C * inner > kParallelMin)
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const float* x = inp + o * C * inner + i;
            float* y = out + o * C * inner + i;
            double ss = 0;
            for (int64_t k = 0; k < C; ++k) ss += double(x[k * inner]) * x[k * inner];
            float n = float(std::sqrt(ss));
            norm[o * inner + i] = n;
            float inv = 1.0f / std::max(n, eps);
            for (int64_t k = 0; k < C; ++k) y[k * inner] = x[k * inner] * inv;
        }
}

void l2norm_backward(float* dinp, const float* dout, const float* inp, const float* norm, int64_t outer, int64_t C,
                     int64_t inner, float eps) {
#pragma omp parallel for schedule(static) collapse(2) if (outer * C * inner > kParallelMin)
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const float* x = inp + o * C * inner + i;
            const float* g = dout + o * C * inner + i;
            float* dx = dinp + o * C * inner + i;
            float n = norm[o * inner + i];
            if (!(n > eps)) {  // y = x / eps: a constant scale
                for (int64_t k = 0; k < C; ++k) dx[k * inner] += g[k * inner] / eps;
                continue;
            }
            double dot = 0;  // Σ g·x
            for (int64_t k = 0; k < C; ++k) dot += double(g[k * inner]) * x[k * inner];
            float inv = 1.0f / n;
            float c2 = float(dot / (double(n) * n * n));
            for (int64_t k = 0; k < C; ++k) dx[k * inner] += g[k * inner] * inv - x[k * inner] * c2;
        }
}

}  // namespace eng::cpu
