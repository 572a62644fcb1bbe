// gemm_pack.h: copies blocks of A and B into the panel layout the GEMM
// micro-kernels read (see gemm_kernels.h), handling both storage orders.
//
// Both operands reduce to the same two cases.  A panel holds `width` (MR or NR)
// "lanes" (rows of op(A), or columns of op(B)) for kc steps of k, laid out as
// dst[k·width + lane].  Either the lanes are contiguous in memory for each k
// (op(A) = Aᵀ stored [K, M], or B stored [K, N]): pack_block_rows copies
// each row of the block into all the panels; or each lane is a contiguous run over k (A stored [M, K],
// or op(B) = Bᵀ stored [N, K]): pack_panel_cols transposes 8 × 8 tiles.
// Lanes past `valid` are zero-filled so edge tiles can run the full kernel.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace eng::cpu {

// Packs a whole block of `lanes` lanes into ceil(lanes / width) consecutive
// panels (each width · kc floats).  src points at element (k = 0, lane 0);
// element (k, lane) is src[k·ld + lane].
// With round_bf16 every value is stored rounded to the nearest bf16 (to
// nearest even, as eng::round_to_bf16), still in an f32 slot: the f32 kernel
// then multiplies bf16 operands (the FMA route of bf16 precision, gemm.h).
void pack_block_rows(const float* src, int64_t ld, int64_t lanes, int width, int64_t kc, float* dst,
                     bool round_bf16 = false);

// src points at element (lane 0, k = 0); element (k, lane) is src[lane·ld + k].
void pack_panel_cols(const float* src, int64_t ld, int valid, int width, int64_t kc, float* dst,
                     bool round_bf16 = false);

// The same two layouts for the bf16 kernel (gemm_avx512_bf16.cpp; AVX512-BF16
// CPUs only): the panels hold 32-bit slots, slot = bf16(x[k]) | bf16(x[k+1]) << 16
// for even k (the high half zero past kc), so a panel is width · ceil(kc / 2)
// slots.  The f32 source is rounded to bf16 while it is packed.
void pack_block_rows_bf16(const float* src, int64_t ld, int64_t lanes, int width, int64_t kc, float* dst);
void pack_panel_cols_bf16(const float* src, int64_t ld, int valid, int width, int64_t kc, float* dst);

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



}  // namespace eng::cpu
