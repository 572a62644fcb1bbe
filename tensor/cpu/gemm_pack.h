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
#include <cstdint>

namespace eng::cpu {

// Packs a whole block of `lanes` lanes into ceil(lanes / width) consecutive
// panels (each width · kc floats).  src points at element (k = 0, lane 0);
// element (k, lane) is src[k·ld + lane].
void pack_block_rows(const float* src, int64_t ld, int64_t lanes, int width, int64_t kc, float* dst);

// src points at element (lane 0, k = 0); element (k, lane) is src[lane·ld + k].
void pack_panel_cols(const float* src, int64_t ld, int valid, int width, int64_t kc, float* dst);

}  // namespace eng::cpu
