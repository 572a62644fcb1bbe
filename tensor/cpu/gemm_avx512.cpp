// gemm_avx512.cpp: the AVX-512 GEMM micro-kernel (12 × 32 register block)
// and its narrower variants for the edge tiles, each in three forms: reading
// a packed A panel, or reading A where it lies, stored row-major or
// transposed (for products too narrow to repay packing it; see gemm.cpp).
//
// The tile of C lives in 24 zmm accumulators (12 rows × two 16-float vectors);
// each k step loads two vectors of the B panel and broadcasts 12 values of the
// A panel straight from memory into the FMAs, i.e. 24 FMAs per 14 loads, which
// keeps both FMA pipes of a Zen 4/5 or Skylake-X core busy (FMA latency 4,
// 24 independent chains).  Edge tiles (fewer rows, or at most 16 columns) use
// the same template with fewer accumulators, so a 257-wide matrix does not pay
// a full tile for its last column; the per-element arithmetic is unchanged.
// The file is compiled with the project's x86-64-v3 flags; the functions
// carry their own target attribute and are only called after gemm.cpp has
// checked __builtin_cpu_supports("avx512f").
#include "tensor/cpu/gemm_avx512_tile.h"
#include "tensor/cpu/gemm_kernels.h"

namespace eng::cpu {
namespace {

using namespace avx512;

// ROWS ≤ MR rows and NV ≤ 2 vectors of 16 columns of the tile.
template <int ROWS, int NV>
struct F32Kernel {
    // The tile over kc steps of k, the ROWS lanes of op(A) for step k at
    // a + k·a_step: a packed panel (a_step = MR), or an A stored [K, M] read
    // in place (op(A) = Aᵀ, a_step = lda).
    __attribute__((always_inline, target("avx512f"))) static inline void tile(int64_t kc, const float* a,
                                                                              int64_t a_step, const float* b,
                                                                              float* C, int64_t ldc, float alpha,
                                                                              float beta, const float* bias) {
        __m512 acc[ROWS][NV];
        zero_tile(acc);
        const bool read_c = beta != 0.0f;
        if (read_c) prefetch_tile<ROWS, NV>(C, ldc, 1);

        auto step = [&]() __attribute__((always_inline, target("avx512f"))) {
            __m512 bv[NV];
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
            for (int i = 0; i < ROWS; ++i) {
                const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 2
                for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
            }
            a += a_step;
            b += NR;
        };
        int64_t k = 0;
        for (; k < kc - kTail; ++k) {
            _mm_prefetch(reinterpret_cast<const char*>(b + PF * NR), _MM_HINT_T0);
            if (NV == 2) _mm_prefetch(reinterpret_cast<const char*>(b + PF * NR + 16), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(a + PF * a_step), _MM_HINT_T0);
            step();
        }
        if (read_c) prefetch_tile<ROWS, NV>(C, ldc, 0);
        for (; k < kc; ++k) step();
        store_tile(acc, C, ldc, alpha, beta, bias);
    }
    __attribute__((target("avx512f"))) static void run(int64_t kc, const float* a, const float* b, float* C,
                                                       int64_t ldc, float alpha, float beta, const float* bias) {
        tile(kc, a, MR, b, C, ldc, alpha, beta, bias);
    }
    __attribute__((target("avx512f"))) static void run_strided(int64_t kc, const float* a, int64_t lda, const float* b,
                                                               float* C, int64_t ldc, float alpha, float beta,
                                                               const float* bias) {
        tile(kc, a, lda, b, C, ldc, alpha, beta, bias);
    }
};
// F32Kernel's in-place form under the name pick_edge expects.
template <int ROWS, int NV>
struct F32StridedKernel {
    static constexpr GemmRowsKernel run = F32Kernel<ROWS, NV>::run_strided;
};

// The same tile with op(A) read in place: row i of the tile starts at
// a + i·lda and runs over k (A stored row-major).  Each row still feeds one
// broadcast per k, so every element of C gets exactly the FMA chain of the
// packed kernel above.  The rows are addressed from base pointers three rows
// apart (row 3j + t is base j + t·lda), which the addressing modes reach
// without a register per row.
template <int ROWS, int NV>
struct F32RowsKernel {
    __attribute__((target("avx512f"))) static void run(int64_t kc, const float* a, int64_t lda, const float* b,
                                                       float* C, int64_t ldc, float alpha, float beta,
                                                       const float* bias) {
        __m512 acc[ROWS][NV];
        zero_tile(acc);
        const bool read_c = beta != 0.0f;
        if (read_c) prefetch_tile<ROWS, NV>(C, ldc, 1);
        constexpr int kBases = (ROWS + 2) / 3;
        const float* base[kBases];
        for (int j = 0; j < kBases; ++j) base[j] = a + 3 * j * lda;

        auto step = [&](int64_t k) __attribute__((always_inline, target("avx512f"))) {
            __m512 bv[NV];
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
            for (int i = 0; i < ROWS; ++i) {
                const __m512 ai = _mm512_set1_ps(base[i / 3][(i % 3) * lda + k]);
#pragma GCC unroll 2
                for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
            }
            b += NR;
        };
        int64_t k = 0;
        for (; k < kc - kTail; ++k) {
            _mm_prefetch(reinterpret_cast<const char*>(b + PF * NR), _MM_HINT_T0);
            if (NV == 2) _mm_prefetch(reinterpret_cast<const char*>(b + PF * NR + 16), _MM_HINT_T0);
            step(k);
        }
        if (read_c) prefetch_tile<ROWS, NV>(C, ldc, 0);
        for (; k < kc; ++k) step(k);
        store_tile(acc, C, ldc, alpha, beta, bias);
    }
};

GemmMicroKernel edge_kernel(int rows, int cols) { return pick_edge<F32Kernel>(rows, cols); }
GemmRowsKernel edge_rows_kernel(int rows, int cols) { return pick_edge<F32RowsKernel>(rows, cols); }
GemmRowsKernel edge_strided_kernel(int rows, int cols) { return pick_edge<F32StridedKernel>(rows, cols); }

}  // namespace

const GemmKernel kGemmAvx512 = {"avx512",
                                MR,
                                NR,
                                F32Kernel<MR, 2>::run,
                                edge_kernel,
                                F32RowsKernel<MR, 2>::run,
                                edge_rows_kernel,
                                F32Kernel<MR, 2>::run_strided,
                                edge_strided_kernel};

}  // namespace eng::cpu
