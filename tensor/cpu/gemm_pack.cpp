// gemm_pack.cpp: panel packing for the GEMM (layouts described in gemm_pack.h).
//
// Packing touches every element of A and B about once per cache block while
// the kernel does O(n) FMAs per element, but a slow scalar gather still costs
// 10–20 % at transformer sizes, so the transposing case uses AVX2 8 × 8
// register transposes (x86-64-v3 is the project's baseline).
#include <immintrin.h>


#include "tensor/cpu/gemm_pack.h"

namespace eng::cpu {
namespace {

// Transposes the 8 × 8 tile held in r[0..7] (r[i] = row i) in place.
inline void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Stores the first `lanes` (< 8) floats of v: 4-, 2- and 1-float pieces
// (masked stores are slow on AMD cores).
inline void store_lanes(float* d, __m256 v, int lanes) {
    __m128 x = _mm256_castps256_ps128(v);
    if (lanes & 4) {
        _mm_storeu_ps(d, x);
        d += 4;
        x = _mm256_extractf128_ps(v, 1);
    }
    if (lanes & 2) {
        _mm_storel_pi(reinterpret_cast<__m64*>(d), x);
        d += 2;
        x = _mm_movehl_ps(x, x);
    }
    if (lanes & 1) _mm_store_ss(d, x);
}

}  // namespace

void pack_block_rows(const float* src, int64_t ld, int64_t lanes, int width, int64_t kc, float* dst) {
    // Row k of the block feeds every panel: walking it once, left to right,
    // keeps the reads sequential (hardware prefetch works; a panel-by-panel
    // walk would read a 128-byte strip of each of kc rows, one page apart).
    const int64_t full = lanes / width, rest = lanes % width;
    const int64_t panel = int64_t(width) * kc;
    for (int64_t k = 0; k < kc; ++k) {
        const float* s = src + k * ld;
        float* d = dst + k * width;
        for (int64_t p = 0; p < full; ++p, s += width, d += panel) {
            int j = 0;
            for (; j + 8 <= width; j += 8) _mm256_storeu_ps(d + j, _mm256_loadu_ps(s + j));
            if (j + 4 <= width) {
                _mm_storeu_ps(d + j, _mm_loadu_ps(s + j));
                j += 4;
            }
            for (; j < width; ++j) d[j] = s[j];
        }
        if (rest) {
            int j = 0;
            for (; j < rest; ++j) d[j] = s[j];
            for (; j < width; ++j) d[j] = 0.0f;
        }
    }
}

void pack_panel_cols(const float* src, int64_t ld, int valid, int width, int64_t kc, float* dst) {
    // Lanes in groups of 8: each group is an 8 (lanes) × 8 (k) tile that a
    // register transpose turns into 8 runs of 8 lanes, one per k.  A group
    // with fewer than 8 lanes (width not a multiple of 8, or an edge panel)
    // is stored piecewise so it never spills into the next k's lanes.
    const int64_t k8 = kc & ~int64_t(7);
    for (int g = 0; g < width; g += 8) {
        const int lanes = width - g < 8 ? width - g : 8;     // lanes this group writes
        const int live = valid - g < 0 ? 0 : (valid - g < lanes ? valid - g : lanes);  // lanes with data
        const float* s = src + g * ld;
        for (int64_t k = 0; k < k8; k += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; ++i) r[i] = i < live ? _mm256_loadu_ps(s + i * ld + k) : _mm256_setzero_ps();
            transpose8(r);
            float* d = dst + k * width + g;
            if (lanes == 8) {
                for (int i = 0; i < 8; ++i) _mm256_storeu_ps(d + i * width, r[i]);
            } else {
                for (int i = 0; i < 8; ++i) store_lanes(d + i * width, r[i], lanes);
            }
        }
        for (int64_t k = k8; k < kc; ++k) {
            float* d = dst + k * width + g;
            for (int i = 0; i < lanes; ++i) d[i] = i < live ? s[i * ld + k] : 0.0f;
        }
    }
}

}  // namespace eng::cpu
