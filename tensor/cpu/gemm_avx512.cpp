// gemm_avx512.cpp: the AVX-512 GEMM micro-kernel (12 × 32 register block)
// and its narrower variants for the edge tiles, each in three forms: reading
// a packed A panel, or reading A where it lies, stored row-major (always, in
// f32) or transposed (in narrow products; see gemm.cpp).
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

// Where a tile's values of op(A) are, for the kernel below.
// PanelA: the lanes of step k at a + k·step, contiguous: a packed panel
// (step = MR), or an A stored [K, M] read in place (op(A) = Aᵀ, step = lda).
struct PanelA {
    const float* a;
    int64_t step;
    static constexpr bool kPrefetch = true;  // the panel runs ahead of the hardware prefetchers
    float at(int i) const { return a[i]; }
    const float* ahead() const { return a + PF * step; }
    void next() { a += step; }
};
// RowsA: a row-major A read in place, row i of the tile at a + i·lda and k
// contiguous.  The rows are addressed from base pointers three rows apart
// (row 3j + t is base j + t·lda), which the addressing modes reach without a
// register per row; the hardware prefetchers follow the row streams.
template <int ROWS>
struct RowsA {
    const float* base[(ROWS + 2) / 3];
    int64_t lda, k = 0;
    static constexpr bool kPrefetch = false;
    RowsA(const float* a, int64_t ld) : lda(ld) {
        for (int j = 0; j < (ROWS + 2) / 3; ++j) base[j] = a + 3 * j * ld;
    }
    float at(int i) const { return base[i / 3][(i % 3) * lda + k]; }
    const float* ahead() const { return nullptr; }
    void next() { ++k; }
};

// ROWS ≤ MR rows and NV ≤ 2 vectors of 16 columns of the tile.  Whichever
// way A is read, every element of C gets the same FMA chain in increasing k,
// so the three forms give the same bits.
template <int ROWS, int NV>
struct F32Kernel {
    template <class A>
    __attribute__((always_inline, target("avx512f"))) static inline void tile(int64_t kc, A a, const float* b,
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
                const __m512 ai = _mm512_set1_ps(a.at(i));
#pragma GCC unroll 2
                for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
            }
            a.next();
            b += NR;
        };
        int64_t k = 0;
        for (; k < kc - kTail; ++k) {
            _mm_prefetch(reinterpret_cast<const char*>(b + PF * NR), _MM_HINT_T0);
            if (NV == 2) _mm_prefetch(reinterpret_cast<const char*>(b + PF * NR + 16), _MM_HINT_T0);
            if constexpr (A::kPrefetch) _mm_prefetch(reinterpret_cast<const char*>(a.ahead()), _MM_HINT_T0);
            step();
        }
        if (read_c) prefetch_tile<ROWS, NV>(C, ldc, 0);
        for (; k < kc; ++k) step();
        store_tile(acc, C, ldc, alpha, beta, bias);
    }
    // A packed panel.
    __attribute__((target("avx512f"))) static void run(int64_t kc, const float* a, const float* b, float* C,
                                                       int64_t ldc, float alpha, float beta, const float* bias) {
        tile(kc, PanelA{a, MR}, b, C, ldc, alpha, beta, bias);
    }
    // A stored [K, M], read in place.
    __attribute__((target("avx512f"))) static void run_strided(int64_t kc, const float* a, int64_t lda, const float* b,
                                                               float* C, int64_t ldc, float alpha, float beta,
                                                               const float* bias) {
        tile(kc, PanelA{a, lda}, b, C, ldc, alpha, beta, bias);
    }
    // A stored row-major, read in place.
    __attribute__((target("avx512f"))) static void run_rows(int64_t kc, const float* a, int64_t lda, const float* b,
                                                            float* C, int64_t ldc, float alpha, float beta,
                                                            const float* bias) {
        tile(kc, RowsA<ROWS>(a, lda), b, C, ldc, alpha, beta, bias);
    }
};
// The in-place forms under the name pick_edge expects.
template <int ROWS, int NV>
struct F32StridedKernel {
    static constexpr GemmInPlaceKernel run = F32Kernel<ROWS, NV>::run_strided;
};
template <int ROWS, int NV>
struct F32RowsKernel {
    static constexpr GemmInPlaceKernel run = F32Kernel<ROWS, NV>::run_rows;
};

GemmMicroKernel edge_kernel(int rows, int cols) { return pick_edge<F32Kernel>(rows, cols); }
GemmInPlaceKernel edge_rows_kernel(int rows, int cols) { return pick_edge<F32RowsKernel>(rows, cols); }
GemmInPlaceKernel edge_strided_kernel(int rows, int cols) { return pick_edge<F32StridedKernel>(rows, cols); }

}  // namespace

const GemmKernel kGemmAvx512 = {"avx512",
                                MR,
                                NR,
                                F32Kernel<MR, 2>::run,
                                edge_kernel,
                                F32Kernel<MR, 2>::run_rows,
                                edge_rows_kernel,
                                F32Kernel<MR, 2>::run_strided,
                                edge_strided_kernel};

}  // namespace eng::cpu
