// gemm_avx512.cpp: the AVX-512 GEMM micro-kernel (12 × 32 register block)
// and its narrower variants for the edge tiles.
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
#include <immintrin.h>

#include "tensor/cpu/gemm_kernels.h"

namespace eng::cpu {
namespace {

constexpr int MR = 12;  // rows of the packed A panel
constexpr int NR = 32;  // columns of the packed B panel
constexpr int PF = 8;   // software prefetch distance, in k steps

// ROWS ≤ MR rows and NV ≤ 2 vectors of 16 columns of the tile.
template <int ROWS, int NV>
__attribute__((target("avx512f"))) void kernel(int64_t kc, const float* a, const float* b, float* C, int64_t ldc,
                                               float alpha, float beta) {
    __m512 acc[ROWS][NV];
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();

    // The tile of C is only touched at the end.  The panels streaming through
    // L1 would evict it if it were fetched into L1 now, so it goes to L2 first
    // and into L1 during the last TAIL steps.
    constexpr int64_t TAIL = 24;
    const bool read_c = beta != 0.0f;
    if (read_c)
        for (int i = 0; i < ROWS; ++i)
            for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + 16 * v), _MM_HINT_T1);

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
        a += MR;
        b += NR;
    };
    int64_t k = 0;
    for (; k < kc - TAIL; ++k) {
        _mm_prefetch(reinterpret_cast<const char*>(b + PF * NR), _MM_HINT_T0);
        if (NV == 2) _mm_prefetch(reinterpret_cast<const char*>(b + PF * NR + 16), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(a + PF * MR), _MM_HINT_T0);
        step();
    }
    if (read_c)
        for (int i = 0; i < ROWS; ++i)
            for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + 16 * v), _MM_HINT_T0);
    for (; k < kc; ++k) step();

    const __m512 va = _mm512_set1_ps(alpha);
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
            float* c = C + i * ldc + 16 * v;
            if (beta == 0.0f)
                _mm512_storeu_ps(c, _mm512_mul_ps(va, acc[i][v]));
            else if (beta == 1.0f)
                _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc[i][v], _mm512_loadu_ps(c)));
            else
                _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc[i][v], _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
        }
    }
}

template <int ROWS>
GemmMicroKernel pick_cols(int cols) {
    return cols <= 16 ? kernel<ROWS, 1> : kernel<ROWS, 2>;
}

// The smallest variant covering a rows × cols partial tile.
GemmMicroKernel edge_kernel(int rows, int cols) {
    switch (rows) {
        case 1: return pick_cols<1>(cols);
        case 2: return pick_cols<2>(cols);
        case 3: return pick_cols<3>(cols);
        case 4: return pick_cols<4>(cols);
        case 5: return pick_cols<5>(cols);
        case 6: return pick_cols<6>(cols);
        case 7: return pick_cols<7>(cols);
        case 8: return pick_cols<8>(cols);
        case 9: return pick_cols<9>(cols);
        case 10: return pick_cols<10>(cols);
        case 11: return pick_cols<11>(cols);
        default: return pick_cols<12>(cols);
    }
}

}  // namespace

const GemmKernel kGemmAvx512 = {"avx512", MR, NR, kernel<MR, 2>, edge_kernel};

}  // namespace eng::cpu
