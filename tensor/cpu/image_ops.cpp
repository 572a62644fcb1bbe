// image_ops.cpp: CPU loops for patchify and separable bicubic resampling.
//
// The non-antialiased weights are computed in float, as PyTorch's CPU kernel
// does (its opmath type for f32), so the fixtures match to a few ulps.
#include "tensor/cpu/image_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace eng::cpu {

void patchify_forward(float* out, const float* x, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
    // out [B, N, C·p·p], x [B, C, H, W]: one memcpy of p floats per (patch, c, r).
    const int64_t GH = H / p, GW = W / p, D = C * p * p;
#pragma omp parallel for schedule(static) if (B * C * H * W > (1 << 16))
    for (int64_t bg = 0; bg < B * GH; ++bg) {
        const int64_t b = bg / GH, gy = bg % GH;
        for (int64_t gx = 0; gx < GW; ++gx) {
            float* o = out + (b * GH * GW + gy * GW + gx) * D;
            for (int64_t c = 0; c < C; ++c)
                for (int64_t r = 0; r < p; ++r)
                    std::memcpy(o + (c * p + r) * p, x + ((b * C + c) * H + gy * p + r) * W + gx * p,
                                size_t(p) * sizeof(float));
        }
    }
}

void patchify_backward(float* dx, const float* dout, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
    // dx [B, C, H, W], dout [B, N, C·p·p]: the same index map, reversed (each dx element has one source).
    const int64_t GH = H / p, GW = W / p, D = C * p * p;
#pragma omp parallel for schedule(static) if (B * C * H * W > (1 << 16))
    for (int64_t bg = 0; bg < B * GH; ++bg) {
        const int64_t b = bg / GH, gy = bg % GH;
        for (int64_t gx = 0; gx < GW; ++gx) {
            const float* g = dout + (b * GH * GW + gy * GW + gx) * D;
            for (int64_t c = 0; c < C; ++c)
                for (int64_t r = 0; r < p; ++r) {
                    float* d = dx + ((b * C + c) * H + gy * p + r) * W + gx * p;
                    const float* s = g + (c * p + r) * p;
                    for (int64_t k = 0; k < p; ++k) d[k] += s[k];
                }
        }
    }
}

namespace {

// Keys' cubic convolution kernel pieces: |x| <= 1 and 1 < |x| < 2.
template <typename F>
F cubic1(F x, F A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }
template <typename F>
F cubic2(F x, F A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }

float aa_cubic(float x) {
    const float A = -0.5f;
    x = std::fabs(x);
    if (x < 1.0f) return cubic1(x, A);
    if (x < 2.0f) return cubic2(x, A);
    return 0.0f;
}

}  // namespace

ResampleAxis bicubic_axis(int64_t in, int64_t out, double scale_factor, bool antialias) {
    ResampleAxis ax;
    ax.in = in;
    ax.out = out;
    const float scale = scale_factor > 0.0 ? float(1.0 / scale_factor) : float(in) / float(out);
    if (!antialias) {
        const float A = -0.75f;
        ax.taps = 4;
        ax.index.assign(size_t(out * 4), 0);
        ax.weight.assign(size_t(out * 4), 0.0f);
        for (int64_t o = 0; o < out; ++o) {
            const float u = scale * (float(o) + 0.5f) - 0.5f;
            const int64_t i = std::min(int64_t(std::floor(u)), in - 1);
            const float t = std::min(std::max(u - float(i), 0.0f), 1.0f);
            const float w[4] = {cubic2(t + 1.0f, A), cubic1(t, A), cubic1(1.0f - t, A), cubic2(2.0f - t, A)};
            for (int64_t j = 0; j < 4; ++j) {
                ax.index[size_t(o * 4 + j)] = int32_t(std::min(std::max(i - 1 + j, int64_t(0)), in - 1));
                ax.weight[size_t(o * 4 + j)] = w[j];
            }
        }
        return ax;
    }
    const float support = scale >= 1.0f ? 2.0f * scale : 2.0f;
    const float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
    std::vector<int64_t> lo(static_cast<size_t>(out)), n(static_cast<size_t>(out));
    std::vector<float> center(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
        center[size_t(o)] = float(double(scale) * (double(o) + 0.5));
        const float c = center[size_t(o)];
        lo[size_t(o)] = std::max(int64_t(double(c) - support + 0.5), int64_t(0));  // truncation, as C casts
        n[size_t(o)] = std::max(std::min(int64_t(double(c) + support + 0.5), in) - lo[size_t(o)], int64_t(0));
        ax.taps = std::max(ax.taps, n[size_t(o)]);
    }
    ax.index.assign(size_t(out * ax.taps), 0);
    ax.weight.assign(size_t(out * ax.taps), 0.0f);
    for (int64_t o = 0; o < out; ++o) {
        float total = 0.0f;
        float* w = ax.weight.data() + o * ax.taps;
        for (int64_t j = 0; j < n[size_t(o)]; ++j) {
            const int64_t src = lo[size_t(o)] + j;
            w[j] = aa_cubic(float((double(src) - center[size_t(o)] + 0.5) * invscale));
            ax.index[size_t(o * ax.taps + j)] = int32_t(src);
            total += w[j];
        }
        if (total != 0.0f)
            for (int64_t j = 0; j < n[size_t(o)]; ++j) w[j] /= total;
    }
    return ax;
}

void resample2d_forward(float* out, const float* x, int64_t P, const ResampleAxis& ax_h, const ResampleAxis& ax_w) {
    // Width pass into tmp [ih, ow], then height pass: out[o, :] = Σ_t w·tmp[idx, :].
    const int64_t ih = ax_h.in, iw = ax_w.in, oh = ax_h.out, ow = ax_w.out;
#pragma omp parallel if (P * (ih * ow + oh * ow) * (ax_w.taps + ax_h.taps) > (1 << 16))
    {
        std::vector<float> tmp(size_t(ih * ow));
#pragma omp for schedule(static)
        for (int64_t p = 0; p < P; ++p) {
            const float* xp = x + p * ih * iw;
            for (int64_t y = 0; y < ih; ++y)
                for (int64_t o = 0; o < ow; ++o) {
                    float s = 0.0f;
                    for (int64_t t = 0; t < ax_w.taps; ++t)
                        s += ax_w.weight[size_t(o * ax_w.taps + t)] * xp[y * iw + ax_w.index[size_t(o * ax_w.taps + t)]];
                    tmp[size_t(y * ow + o)] = s;
                }
            float* op = out + p * oh * ow;
            for (int64_t o = 0; o < oh; ++o) {
                float* row = op + o * ow;
                std::fill(row, row + ow, 0.0f);
                for (int64_t t = 0; t < ax_h.taps; ++t) {
                    const float w = ax_h.weight[size_t(o * ax_h.taps + t)];
                    const float* src = tmp.data() + ax_h.index[size_t(o * ax_h.taps + t)] * ow;
                    for (int64_t c = 0; c < ow; ++c) row[c] += w * src[c];
                }
            }
        }
    }
}

void resample2d_backward(float* dx, const float* dout, int64_t P, const ResampleAxis& ax_h,
                         const ResampleAxis& ax_w) {
    // The transpose of the forward, pass by pass in reverse: first
    // gtmp[idx_h, :] += w·g[o, :], then dx[y, idx_w] += w·gtmp[y, o].
    // One thread per plane, fixed loop order: deterministic.
    const int64_t ih = ax_h.in, iw = ax_w.in, oh = ax_h.out, ow = ax_w.out;
#pragma omp parallel if (P * (ih * ow + oh * ow) * (ax_w.taps + ax_h.taps) > (1 << 16))
    {
        std::vector<float> gtmp(size_t(ih * ow));
#pragma omp for schedule(static)
        for (int64_t p = 0; p < P; ++p) {
            std::fill(gtmp.begin(), gtmp.end(), 0.0f);
            const float* gp = dout + p * oh * ow;
            for (int64_t o = 0; o < oh; ++o)
                for (int64_t t = 0; t < ax_h.taps; ++t) {
                    const float w = ax_h.weight[size_t(o * ax_h.taps + t)];
                    float* dst = gtmp.data() + ax_h.index[size_t(o * ax_h.taps + t)] * ow;
                    for (int64_t c = 0; c < ow; ++c) dst[c] += w * gp[o * ow + c];
                }
            float* dp = dx + p * ih * iw;
            for (int64_t y = 0; y < ih; ++y)
                for (int64_t o = 0; o < ow; ++o) {
                    const float g = gtmp[size_t(y * ow + o)];
                    for (int64_t t = 0; t < ax_w.taps; ++t)
                        dp[y * iw + ax_w.index[size_t(o * ax_w.taps + t)]] += ax_w.weight[size_t(o * ax_w.taps + t)] * g;
                }
        }
    }
}

}  // namespace eng::cpu
