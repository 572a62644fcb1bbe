// gemm_avx512_bf16.cpp: the bf16 GEMM of AVX512-BF16 CPUs (Zen 4 and later,
// Intel Cooper Lake and Sapphire Rapids and later): packing with rounding to
// bf16 pairs, and the 12 × 32 micro-kernel built on VDPBF16PS.
//
// VDPBF16PS multiplies two vectors of 32 bf16 values and adds each adjacent
// pair of products into one f32 lane: acc[j] += a[2j]·b[2j] + a[2j+1]·b[2j+1].
// A bf16 product is exact in f32 (8-bit significands), so the only changes
// from the f32 GEMM are the rounding of each operand to bf16 (round to nearest
// even) and the accumulation order within a pair; accumulation stays f32.  One
// instruction does the work of two FMAs, which nearly doubles the arithmetic
// rate (measured on Zen 5: 399 against 217 GFLOP/s per core).
//
// The f32 driver (gemm.cpp) runs unchanged but for the packing: the panels
// hold 32-bit slots, each with the bf16 values of two consecutive k (the even
// one in the low half; zero past the end of K), rounded from the f32 operands
// while they are packed, so no converted copy of an operand is ever made.  A
// panel of kc steps thus has ceil(kc / 2) slots per lane, and the kernel below
// reads a slot of the A panel as a broadcast pair.
#include "tensor/cpu/gemm_avx512_tile.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/cpu/gemm_pack.h"

#include <algorithm>
#include <cstring>

namespace eng::cpu {
namespace {

using namespace avx512;

// ROWS ≤ MR rows and NV ≤ 2 vectors of 16 columns; kc counts pairs of k.
template <int ROWS, int NV>
struct Bf16Kernel {
    __attribute__((target("avx512f,avx512bf16"))) static void run(int64_t kc, const float* a, const float* b,
                                                                  float* C, int64_t ldc, float alpha, float beta,
                                                                  const float* bias) {
        __m512 acc[ROWS][NV];
        zero_tile(acc);
        const bool read_c = beta != 0.0f;
        if (read_c) prefetch_tile<ROWS, NV>(C, ldc, 1);

        auto step = [&]() __attribute__((always_inline, target("avx512f,avx512bf16"))) {
            __m512bh bv[NV];
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_load_si512(b + 16 * v);
#pragma GCC unroll 16
            for (int i = 0; i < ROWS; ++i) {
                // The slot is a bit pattern, not a float: broadcast its 32 bits.
                const __m512bh ai = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(a[i]));
#pragma GCC unroll 2
                for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], ai, bv[v]);
            }
            a += MR;
            b += NR;
        };
        int64_t k = 0;
        for (; k < kc - kTail; ++k) {
            _mm_prefetch(reinterpret_cast<const char*>(b + PF * NR), _MM_HINT_T0);
            if (NV == 2) _mm_prefetch(reinterpret_cast<const char*>(b + PF * NR + 16), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(a + PF * MR), _MM_HINT_T0);
            step();
        }
        if (read_c) prefetch_tile<ROWS, NV>(C, ldc, 0);
        for (; k < kc; ++k) step();
        store_tile(acc, C, ldc, alpha, beta, bias);
    }
};

GemmMicroKernel edge_kernel(int rows, int cols) { return pick_edge<Bf16Kernel>(rows, cols); }

// Mask of the first n (< 16) lanes.
inline __mmask16 first_lanes(int64_t n) { return __mmask16((1u << n) - 1); }
constexpr __mmask16 all_lanes = 0xFFFF;

// Slots of 16 lanes: even | odd << 16, each rounded to bf16 (odd may be null:
// the high halves stay zero); lanes outside `m` read as zero.
__attribute__((target("avx512f,avx512bf16"), always_inline)) inline __m512i pair_slots(const float* even,
                                                                                     const float* odd,
                                                                                     __mmask16 m) {
    const __m512i lo =
        _mm512_maskz_cvtepu16_epi32(all_lanes, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, even)));
    if (!odd) return lo;
    const __m512i hi =
        _mm512_maskz_cvtepu16_epi32(all_lanes, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, odd)));
    return _mm512_or_si512(lo, _mm512_maskz_slli_epi32(all_lanes, hi, 16));
}

}  // namespace

const GemmKernel kGemmAvx512Bf16 = {"avx512-bf16", MR, NR, Bf16Kernel<MR, 2>::run, edge_kernel};

__attribute__((target("avx512f,avx512bf16"))) void pack_block_rows_bf16(const float* src, int64_t ld,
                                                                        int64_t lanes, int width, int64_t kc,
                                                                        float* dst) {
    // Rows 2p and 2p+1 of the block (k = 2p, 2p+1) give slot row p of every
    // panel.  They are converted a chunk of lanes at a time into a small
    // buffer with full-width vector operations, then copied into the panels
    // (a multiple of both panel widths, 12 and 32, per chunk).
    constexpr int64_t kChunk = 384;
    alignas(64) uint32_t slots[kChunk];
    const int64_t kc2 = (kc + 1) / 2, panel = int64_t(width) * kc2;
    uint32_t* out = reinterpret_cast<uint32_t*>(dst);
    for (int64_t p = 0; p < kc2; ++p) {
        const float* even = src + 2 * p * ld;
        const float* odd = 2 * p + 1 < kc ? even + ld : nullptr;
        for (int64_t c0 = 0; c0 < lanes; c0 += kChunk) {
            const int64_t n = std::min(kChunk, lanes - c0);
            for (int64_t j = 0; j < n; j += 16) {
                const __mmask16 m = n - j >= 16 ? all_lanes : first_lanes(n - j);
                _mm512_store_si512(slots + j, pair_slots(even + c0 + j, odd ? odd + c0 + j : nullptr, m));
            }
            for (int64_t l = 0; l < n; l += width) {  // panel (c0 + l) / width, its slot row p
                uint32_t* d = out + (c0 + l) / width * panel + p * width;
                const int64_t live = std::min<int64_t>(width, n - l);
                std::memcpy(d, slots + l, sizeof(uint32_t) * size_t(live));
                std::memset(d + live, 0, sizeof(uint32_t) * size_t(width - live));
            }
        }
    }
}

__attribute__((target("avx512f,avx512bf16"))) void pack_panel_cols_bf16(const float* src, int64_t ld, int valid,
                                                                        int width, int64_t kc, float* dst) {
    // Each lane is a run over k, so 16 floats of one lane round to 16 bf16
    // values = 8 slots (pairs of consecutive k) in one 256-bit register; eight
    // lanes' registers form an 8 × 8 tile of slots that transpose8 turns into
    // 8 slot rows of 8 lanes, as pack_panel_cols does with floats.  Panel
    // widths are multiples of 4 (the kernel's 12 and 32): a last group of 4
    // lanes stores the low half of each row.
    const int64_t kc2 = (kc + 1) / 2;
    for (int g = 0; g < width; g += 8) {
        const int lanes = std::min(8, width - g);                     // lanes this group writes
        const int live = std::clamp(valid - g, 0, lanes);             // lanes with data
        const float* s = src + int64_t(g) * ld;
        for (int64_t p = 0; p < kc2; p += 8) {
            const int64_t k = 2 * p, left = std::min<int64_t>(16, kc - k);  // floats of this block
            const __mmask16 m = left == 16 ? all_lanes : first_lanes(left);
            __m256 r[8];
            for (int i = 0; i < 8; ++i) {
                const __m256bh h = i < live ? _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, s + i * ld + k))
                                            : (__m256bh)_mm256_setzero_si256();
                r[i] = _mm256_castsi256_ps((__m256i)h);
            }
            transpose8(r);
            const int64_t rows = std::min<int64_t>(8, kc2 - p);  // slot rows of this block
            float* d = dst + p * width + g;
            for (int64_t t = 0; t < rows; ++t) {
                if (lanes == 8) _mm256_storeu_ps(d + t * width, r[t]);
                else _mm_storeu_ps(d + t * width, _mm256_castps256_ps128(r[t]));  // width 12: the last 4 lanes
            }
        }
    }
}

}  // namespace eng::cpu
