// gemm_pack.cpp: panel packing for the GEMM (layouts described in gemm_pack.h).
//
// Packing touches every element of A and B about once per cache block while
// the kernel does O(n) FMAs per element, but a slow scalar gather still costs
// 10–20 % at transformer sizes, so the transposing case uses AVX2 8 × 8
// register transposes (x86-64-v3 is the project's baseline).
#include "tensor/cpu/gemm_pack.h"

#include <algorithm>

#include "tensor/dtype.h"

namespace eng::cpu {
namespace {

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

// Rows of a block to prefetch ahead while packing by rows: about 16 KiB of
// source in flight, at most 8 rows.  The source is usually an activation
// last written long ago (in DRAM, not cache), and the weight-gradient
// products (op(A) = Xᵀ) pack a whole K-long operand per product: without
// the hints the loads stall, and packing took a fifth of their time.
inline int64_t prefetch_rows(int64_t lanes) { return std::clamp<int64_t>(4096 / std::max<int64_t>(lanes, 1), 1, 8); }

// Hints the `lanes` floats of the row at src into the cache, a line at a time.
inline void prefetch_row(const float* src, int64_t lanes) {
    for (int64_t off = 0; off < lanes; off += 16) _mm_prefetch(reinterpret_cast<const char*>(src + off), _MM_HINT_T0);
}

// The value stored for x: x itself, or with ROUND its nearest bf16 (to
// nearest even, NaN kept quiet), the rounding of eng::round_to_bf16
// (tensor/dtype.h) done on 8 or 4 lanes at once.
template <bool ROUND>
inline __m256 stored(__m256 x) {
    if (!ROUND) return x;
    const __m256i u = _mm256_castps_si256(x);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i high = _mm256_set1_epi32(int(0xffff0000u));
    const __m256i half = _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb);  // ties go to the even kept half
    const __m256i rounded = _mm256_and_si256(_mm256_add_epi32(u, half), high);
    const __m256i magnitude = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
    const __m256i nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7f800000));
    const __m256i quiet = _mm256_and_si256(_mm256_or_si256(u, _mm256_set1_epi32(0x00400000)), high);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(rounded, quiet, nan));
}
template <bool ROUND>
inline __m128 stored(__m128 x) {
    return _mm256_castps256_ps128(stored<ROUND>(_mm256_castps128_ps256(x)));
}
template <bool ROUND>
inline float stored(float x) {
    return ROUND ? eng::round_to_bf16(x) : x;
}

template <bool ROUND>
void block_rows(const float* src, int64_t ld, int64_t lanes, int width, int64_t kc, float* dst) {
    // Row k of the block feeds every panel: walking it once, left to right,
    // keeps the reads sequential (hardware prefetch works; a panel-by-panel
    // walk would read a 128-byte strip of each of kc rows, one page apart).
    const int64_t full = lanes / width, rest = lanes % width;
    const int64_t panel = int64_t(width) * kc, ahead = prefetch_rows(lanes);
    for (int64_t k = 0; k < kc; ++k) {
        const float* s = src + k * ld;
        float* d = dst + k * width;
        if (k + ahead < kc) prefetch_row(s + ahead * ld, lanes);
        for (int64_t p = 0; p < full; ++p, s += width, d += panel) {
            int j = 0;
            for (; j + 8 <= width; j += 8) _mm256_storeu_ps(d + j, stored<ROUND>(_mm256_loadu_ps(s + j)));
            if (j + 4 <= width) {
                _mm_storeu_ps(d + j, stored<ROUND>(_mm_loadu_ps(s + j)));
                j += 4;
            }
            for (; j < width; ++j) d[j] = stored<ROUND>(s[j]);
        }
        if (rest) {
            int j = 0;
            for (; j < rest; ++j) d[j] = stored<ROUND>(s[j]);
            for (; j < width; ++j) d[j] = 0.0f;
        }
    }
}

template <bool ROUND>
void panel_cols(const float* src, int64_t ld, int valid, int width, int64_t kc, float* dst) {
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
            for (int i = 0; i < 8; ++i) r[i] = stored<ROUND>(r[i]);
            float* d = dst + k * width + g;
            if (lanes == 8) {
                for (int i = 0; i < 8; ++i) _mm256_storeu_ps(d + i * width, r[i]);
            } else {
                for (int i = 0; i < 8; ++i) store_lanes(d + i * width, r[i], lanes);
            }
        }
        for (int64_t k = k8; k < kc; ++k) {
            float* d = dst + k * width + g;
            for (int i = 0; i < lanes; ++i) d[i] = i < live ? stored<ROUND>(s[i * ld + k]) : 0.0f;
        }
    }
}

}  // namespace

void pack_block_rows(const float* src, int64_t ld, int64_t lanes, int width, int64_t kc, float* dst, bool round_bf16) {
    if (round_bf16) block_rows<true>(src, ld, lanes, width, kc, dst);
    else block_rows<false>(src, ld, lanes, width, kc, dst);
}

void pack_panel_cols(const float* src, int64_t ld, int valid, int width, int64_t kc, float* dst, bool round_bf16) {
    if (round_bf16) panel_cols<true>(src, ld, valid, width, kc, dst);
    else panel_cols<false>(src, ld, valid, width, kc, dst);
}

}  // namespace eng::cpu
