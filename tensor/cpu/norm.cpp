// norm.cpp: CPU loops for layer norm, batch norm and L2 normalisation (see norm.h;
// the gradient formulas are derived in autograd/norm.cpp).
//
// Determinism: every sum is owned by one thread and runs in a fixed order
// (accumulated in double).  Layer norm's dweight/dbias are sums over rows, so
// each block of rows adds into its own partial sums (in the same pass as dx),
// and the partials are added in a fixed order, rather than by rows racing on
// the same column.  The partials of a block (64 rows) are float, added up in
// double: double partials made the backward twice as slow (every element
// converted, and twice the bytes of running sums per row).
#include "tensor/cpu/norm.h"

#include "tensor/cpu/rows.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace eng::cpu {

static constexpr int64_t kParallelMin = 1 << 14;  // elements; smaller problems run on one thread
static constexpr int64_t kRowBlock = 64;          // rows per task of layer norm's dweight/dbias sums

// ---- layer norm ------------------------------------------------------------------------
// Speed: one row per call of a vectorised row kernel (rows.h: AVX2 or AVX-512,
// threaded over blocks of rows); the optional weight/bias are template flags,
// so the inner loops have no per-element test.

template <bool W, bool B>
struct LayerNormFwd {
    static ENG_ROW_INLINE void row(int64_t i, float* out, float* mean, float* rstd, const float* inp,
                                   const float* weight, const float* bias, int64_t C, float eps) {
        const float* __restrict x = inp + i * C;
        float* __restrict y = out + i * C;
        // two passes: mean, then the (biased) variance about it
        double m = 0;
#pragma omp simd reduction(+ : m)
        for (int64_t j = 0; j < C; ++j) m += double(x[j]);
        m /= double(C);
        double v = 0;
#pragma omp simd reduction(+ : v)
        for (int64_t j = 0; j < C; ++j) v += (double(x[j]) - m) * (double(x[j]) - m);
        v /= double(C);
        const float s = float(1.0 / std::sqrt(v + double(eps)));
        const float fm = float(m);
#pragma omp simd
        for (int64_t j = 0; j < C; ++j) {
            float xhat = (x[j] - fm) * s;
            if constexpr (W) xhat *= weight[j];
            if constexpr (B) xhat += bias[j];
            y[j] = xhat;
        }
        mean[i] = fm;
        rstd[i] = s;
    }
};

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps) {
    if (weight && bias) parallel_rows<LayerNormFwd<true, true>>(N, N * C, out, mean, rstd, inp, weight, bias, C, eps);
    else if (weight) parallel_rows<LayerNormFwd<true, false>>(N, N * C, out, mean, rstd, inp, weight, bias, C, eps);
    else if (bias) parallel_rows<LayerNormFwd<false, true>>(N, N * C, out, mean, rstd, inp, weight, bias, C, eps);
    else parallel_rows<LayerNormFwd<false, false>>(N, N * C, out, mean, rstd, inp, weight, bias, C, eps);
}

// One block of kRowBlock rows: dx for each row (written, not added; skipped
// when dinp is null), and when P (the parameter gradients are wanted), the
// block's partial sums Σ_rows g·xhat and Σ_rows g into its own row of pw and
// pb.  A row is read from memory once: the second loop finds it in L1.
//   dx = rstd·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat)),  dxhat = g·weight
template <bool W, bool P>
struct LayerNormBwdBlock {
    static ENG_ROW_INLINE void row(int64_t blk, float* dinp, float* pw, float* pb, const float* dout,
                                   const float* inp, const float* weight, const float* mean, const float* rstd,
                                   int64_t N, int64_t C) {
        float* __restrict sw = pw + blk * C;
        float* __restrict sb = pb + blk * C;
        for (int64_t i = blk * kRowBlock; i < std::min(N, (blk + 1) * kRowBlock); ++i) {
            const float* __restrict g = dout + i * C;
            const float* __restrict x = inp + i * C;
            const float mu = mean[i], rs = rstd[i];
            if (!dinp) {  // the parameter sums only
#pragma omp simd
                for (int64_t j = 0; j < C; ++j) {
                    sw[j] += g[j] * ((x[j] - mu) * rs);
                    sb[j] += g[j];
                }
                continue;
            }
            float* __restrict dx = dinp + i * C;
            double a = 0, b = 0;  // the two row means of the dx formula, times C
#pragma omp simd reduction(+ : a, b)
            for (int64_t j = 0; j < C; ++j) {
                float dxhat = W ? g[j] * weight[j] : g[j];
                float xhat = (x[j] - mu) * rs;
                a += double(dxhat);
                b += double(dxhat) * double(xhat);
            }
            const float ma = float(a / double(C)), mb = float(b / double(C));
#pragma omp simd
            for (int64_t j = 0; j < C; ++j) {
                float dxhat = W ? g[j] * weight[j] : g[j];
                float xhat = (x[j] - mu) * rs;
                dx[j] = rs * (dxhat - ma - xhat * mb);
                if (P) {
                    sw[j] += g[j] * xhat;
                    sb[j] += g[j];
                }
            }
        }
    }
};

// dweight = Σ_i g·xhat and dbias = Σ_i g (sums over rows) come from per-block
// partial sums added in block order: the same additions for any number of
// threads.
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
    const bool params = dweight || dbias;
    if (!dinp && !params) return;
    const int64_t blocks = (N + kRowBlock - 1) / kRowBlock;
    std::vector<float> pw(params ? size_t(blocks * C) : 0, 0.0f), pb(params ? size_t(blocks * C) : 0, 0.0f);
    auto run = [&](auto kernel) {
        parallel_rows<decltype(kernel)>(blocks, N * C, dinp, pw.data(), pb.data(), dout, inp, weight, mean, rstd,
                                        N, C);
    };
    if (weight && params) run(LayerNormBwdBlock<true, true>{});
    else if (weight) run(LayerNormBwdBlock<true, false>{});
    else if (params) run(LayerNormBwdBlock<false, true>{});
    else run(LayerNormBwdBlock<false, false>{});
    if (!params) return;
#pragma omp parallel for schedule(static) if (blocks * C > kParallelMin)
    for (int64_t j = 0; j < C; ++j) {
        double w = 0, b = 0;
        for (int64_t blk = 0; blk < blocks; ++blk) {
            w += double(pw[size_t(blk * C + j)]);
            b += double(pb[size_t(blk * C + j)]);
        }
        if (dweight) dweight[j] += float(w);
        if (dbias) dbias[j] += float(b);
    }
}

// ---- batch norm --------------------------------------------------------------------------
// The inner loops run along L (contiguous); `omp simd` lets them vectorise,
// including the double sums (a fixed lane order, so still deterministic).
// Channel c of sample n is the contiguous run inp[(n·C + c)·L .. +L].

// ---- batch norm on [N, C] (L == 1, BatchNorm1d over features) ------------------------
// The channels are the contiguous dimension here, so walking one channel down
// the rows (the general loops below) would stride C floats per element.  These
// loops take a block of channels at a time and walk the rows once, vectorised
// across the block; each channel is still summed over n in the same order, in
// double, so the results are identical to the general loops'.
static constexpr int64_t kChannelBlock = 64;

static void batchnorm_stats_rows(float* mean, float* var, const float* inp, int64_t N, int64_t C) {
    const double count = double(N);
    const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t cb = 0; cb < blocks; ++cb) {
        const int64_t c0 = cb * kChannelBlock, w = std::min(kChannelBlock, C - c0);
        double m[kChannelBlock] = {}, v[kChannelBlock] = {};
        for (int64_t n = 0; n < N; ++n) {
            const float* x = inp + n * C + c0;
#pragma omp simd
            for (int64_t j = 0; j < w; ++j) m[j] += double(x[j]);
        }
        for (int64_t j = 0; j < w; ++j) m[j] /= count;
        for (int64_t n = 0; n < N; ++n) {
            const float* x = inp + n * C + c0;
#pragma omp simd
            for (int64_t j = 0; j < w; ++j) v[j] += (double(x[j]) - m[j]) * (double(x[j]) - m[j]);
        }
        for (int64_t j = 0; j < w; ++j) {
            mean[c0 + j] = float(m[j]);
            var[c0 + j] = float(v[j] / count);
        }
    }
}

static void batchnorm_backward_rows(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                    const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C,
                                    bool training) {
    const double count = double(N);
    const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
    std::vector<float> ma(static_cast<size_t>(C)), mb(static_cast<size_t>(C));  // mean(dxhat), mean(dxhat · xhat) per channel
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t cb = 0; cb < blocks; ++cb) {
        const int64_t c0 = cb * kChannelBlock, w = std::min(kChannelBlock, C - c0);
        double sg[kChannelBlock] = {}, sgx[kChannelBlock] = {};
        for (int64_t n = 0; n < N; ++n) {
            const float* __restrict g = dout + n * C + c0;
            const float* __restrict x = inp + n * C + c0;
#pragma omp simd
            for (int64_t j = 0; j < w; ++j) {
                sg[j] += double(g[j]);
                sgx[j] += double(g[j]) * double((x[j] - mean[c0 + j]) * rstd[c0 + j]);
            }
        }
        for (int64_t j = 0; j < w; ++j) {
            const int64_t c = c0 + j;
            const float wc = weight ? weight[c] : 1.0f;
            if (dweight) dweight[c] += float(sgx[j]);
            if (dbias) dbias[c] += float(sg[j]);
            ma[size_t(c)] = training ? float(wc * sg[j] / count) : 0.0f;
            mb[size_t(c)] = training ? float(wc * sgx[j] / count) : 0.0f;
        }
    }
    if (!dinp) return;
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t n = 0; n < N; ++n) {
        const float* __restrict g = dout + n * C;
        const float* __restrict x = inp + n * C;
        float* __restrict dx = dinp + n * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
            const float wc = weight ? weight[c] : 1.0f, rs = rstd[c];
            const float xhat = (x[c] - mean[c]) * rs;
            dx[c] += rs * (g[c] * wc - ma[size_t(c)] - xhat * mb[size_t(c)]);
        }
    }
}

// ---- batch norm, general [N, C, L] ------------------------------------------------------
void batchnorm_stats(float* mean, float* var, const float* inp, int64_t N, int64_t C, int64_t L) {
    if (L == 1) return batchnorm_stats_rows(mean, var, inp, N, C);
    double count = double(N * L);
#pragma omp parallel for schedule(static) if (N * C * L > kParallelMin)
    for (int64_t c = 0; c < C; ++c) {
        double m = 0;
        for (int64_t n = 0; n < N; ++n) {
            const float* x = inp + (n * C + c) * L;
#pragma omp simd reduction(+ : m)
            for (int64_t l = 0; l < L; ++l) m += double(x[l]);
        }
        m /= count;
        double v = 0;
        for (int64_t n = 0; n < N; ++n) {
            const float* x = inp + (n * C + c) * L;
#pragma omp simd reduction(+ : v)
            for (int64_t l = 0; l < L; ++l) v += (double(x[l]) - m) * (double(x[l]) - m);
        }
        mean[c] = float(m);
        var[c] = float(v / count);
    }
}

void batchnorm_forward(float* out, const float* inp, const float* mean, const float* rstd, const float* weight,
                       const float* bias, int64_t N, int64_t C, int64_t L) {
    if (L == 1) {  // [N, C]: one vectorised pass per row
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
        for (int64_t n = 0; n < N; ++n) {
            const float* __restrict x = inp + n * C;
            float* __restrict y = out + n * C;
#pragma omp simd
            for (int64_t c = 0; c < C; ++c)
                y[c] = (x[c] - mean[c]) * rstd[c] * (weight ? weight[c] : 1.0f) + (bias ? bias[c] : 0.0f);
        }
        return;
    }
#pragma omp parallel for schedule(static) collapse(2) if (N * C * L > kParallelMin)
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            const float* x = inp + (n * C + c) * L;
            float* y = out + (n * C + c) * L;
            const float w = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f, mu = mean[c], rs = rstd[c];
#pragma omp simd
            for (int64_t l = 0; l < L; ++l) y[l] = (x[l] - mu) * rs * w + b;
        }
}

void batchnorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C, int64_t L,
                        bool training) {
    if (L == 1) return batchnorm_backward_rows(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C, training);
    double count = double(N * L);
#pragma omp parallel for schedule(static) if (N * C * L > kParallelMin)
    for (int64_t c = 0; c < C; ++c) {
        float w = weight ? weight[c] : 1.0f;
        // Σ g and Σ g·xhat over the channel: they give dbias and dweight, and
        // (times w, over the count) the two means of the training-mode dx.
        double sg = 0, sgx = 0;
        for (int64_t n = 0; n < N; ++n) {
            const float* __restrict g = dout + (n * C + c) * L;
            const float* __restrict x = inp + (n * C + c) * L;
            const float mu = mean[c], rs = rstd[c];
#pragma omp simd reduction(+ : sg, sgx)
            for (int64_t l = 0; l < L; ++l) {
                sg += double(g[l]);
                sgx += double(g[l]) * double((x[l] - mu) * rs);
            }
        }
        if (dweight) dweight[c] += float(sgx);
        if (dbias) dbias[c] += float(sg);
        if (!dinp) continue;
        float ma = training ? float(w * sg / count) : 0.0f;   // mean(dxhat)
        float mb = training ? float(w * sgx / count) : 0.0f;  // mean(dxhat · xhat)
        for (int64_t n = 0; n < N; ++n) {
            const float* __restrict g = dout + (n * C + c) * L;
            const float* __restrict x = inp + (n * C + c) * L;
            float* __restrict dx = dinp + (n * C + c) * L;
            const float mu = mean[c], rs = rstd[c];
#pragma omp simd
            for (int64_t l = 0; l < L; ++l) {
                float xhat = (x[l] - mu) * rs;
                dx[l] += rs * (g[l] * w - ma - xhat * mb);
            }
        }
    }
}

// ---- L2 normalisation ------------------------------------------------------------------
// Line (o, i) is inp[o·C·inner + k·inner + i] for k in [0, C).

// inner == 1 (normalising along the last dim, the usual case for embeddings):
// each line is a contiguous row, so a vectorised row kernel does it.
struct L2NormFwdRow {
    static ENG_ROW_INLINE void row(int64_t i, float* out, float* norm, const float* inp, int64_t C, float eps) {
        const float* __restrict x = inp + i * C;
        float* __restrict y = out + i * C;
        double ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int64_t k = 0; k < C; ++k) ss += double(x[k]) * double(x[k]);
        const float n = float(std::sqrt(ss));
        norm[i] = n;
        const float inv = 1.0f / std::max(n, eps);
#pragma omp simd
        for (int64_t k = 0; k < C; ++k) y[k] = x[k] * inv;
    }
};

struct L2NormBwdRow {
    static ENG_ROW_INLINE void row(int64_t i, float* dinp, const float* dout, const float* inp, const float* norm,
                                   int64_t C, float eps) {
        const float* __restrict x = inp + i * C;
        const float* __restrict g = dout + i * C;
        float* __restrict dx = dinp + i * C;
        const float n = norm[i];
        if (!(n > eps)) {  // y = x / eps: a constant scale
#pragma omp simd
            for (int64_t k = 0; k < C; ++k) dx[k] += g[k] / eps;
            return;
        }
        double dot = 0;  // Σ g·x
#pragma omp simd reduction(+ : dot)
        for (int64_t k = 0; k < C; ++k) dot += double(g[k]) * double(x[k]);
        const float inv = 1.0f / n;
        const float c2 = float(dot / (double(n) * n * n));
#pragma omp simd
        for (int64_t k = 0; k < C; ++k) dx[k] += g[k] * inv - x[k] * c2;
    }
};

void l2norm_forward(float* out, float* norm, const float* inp, int64_t outer, int64_t C, int64_t inner, float eps) {
    if (inner == 1) return parallel_rows<L2NormFwdRow>(outer, outer * C, out, norm, inp, C, eps);
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
    if (inner == 1) return parallel_rows<L2NormBwdRow>(outer, outer * C, dinp, dout, inp, norm, C, eps);
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
