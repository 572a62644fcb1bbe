// gemm_avx512_tile.h: what the f32 and bf16 AVX-512 micro-kernels share: the
// register tile of C (ROWS rows × NV vectors of 16 floats), its prefetches and
// the final update of C.  Only included by gemm_avx512*.cpp, whose kernels carry
// the target attributes these inline helpers need.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace eng::cpu::avx512 {

constexpr int MR = 12;  // rows of the packed A panel
constexpr int NR = 32;  // columns of the packed B panel (two zmm vectors)
constexpr int PF = 8;   // software prefetch distance, in k steps
// The tile of C is only touched at the end.  The panels streaming through L1
// would evict it if it were fetched into L1 early, so it goes to L2 first and
// into L1 during the last kTail steps.
constexpr int64_t kTail = 24;
// The A and B prefetches run only before the last kTail steps, so they stay
// inside the panels (and inside A's rows when it is read in place).
static_assert(PF < kTail, "prefetches must stay within the panel");

template <int ROWS, int NV>
__attribute__((always_inline, target("avx512f"))) inline void zero_tile(__m512 (&acc)[ROWS][NV]) {
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
}

template <int ROWS, int NV>
__attribute__((always_inline)) inline void prefetch_tile(const float* C, int64_t ldc, int hint) {
    for (int i = 0; i < ROWS; ++i)
        for (int v = 0; v < NV; ++v) {
            const char* p = reinterpret_cast<const char*>(C + i * ldc + 16 * v);
            if (hint == 0) _mm_prefetch(p, _MM_HINT_T0);
            else _mm_prefetch(p, _MM_HINT_T1);
        }
}

// C = fma(alpha, acc, bias) (bias given), alpha·acc (beta 0, old C ignored),
// fma(alpha, acc, C) (beta 1) or fma(alpha, acc, beta·C): the per-element
// arithmetic of gemm_kernels.h.
template <int ROWS, int NV>
__attribute__((always_inline, target("avx512f"))) inline void store_tile(const __m512 (&acc)[ROWS][NV], float* C,
                                                                         int64_t ldc, float alpha, float beta,
                                                                         const float* bias) {
    const __m512 va = _mm512_set1_ps(alpha);
    const __m512 vb = _mm512_set1_ps(beta);
    __m512 vbias[NV];
    for (int v = 0; v < NV; ++v) vbias[v] = bias ? _mm512_loadu_ps(bias + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) {
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
            float* c = C + i * ldc + 16 * v;
            if (bias)
                _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc[i][v], vbias[v]));
            else if (beta == 0.0f)
                _mm512_storeu_ps(c, _mm512_mul_ps(va, acc[i][v]));
            else if (beta == 1.0f)
                _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc[i][v], _mm512_loadu_ps(c)));
            else
                _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc[i][v], _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
        }
    }
}

// The smallest kernel<rows, 1 or 2> covering a rows × cols partial tile.
template <template <int, int> class K>
auto pick_edge(int rows, int cols) {
    auto by_cols = [cols](auto one, auto two) { return cols <= 16 ? one : two; };
    switch (rows) {
        case 1: return by_cols(K<1, 1>::run, K<1, 2>::run);
        case 2: return by_cols(K<2, 1>::run, K<2, 2>::run);
        case 3: return by_cols(K<3, 1>::run, K<3, 2>::run);
        case 4: return by_cols(K<4, 1>::run, K<4, 2>::run);
        case 5: return by_cols(K<5, 1>::run, K<5, 2>::run);
        case 6: return by_cols(K<6, 1>::run, K<6, 2>::run);
        case 7: return by_cols(K<7, 1>::run, K<7, 2>::run);
        case 8: return by_cols(K<8, 1>::run, K<8, 2>::run);
        case 9: return by_cols(K<9, 1>::run, K<9, 2>::run);
        case 10: return by_cols(K<10, 1>::run, K<10, 2>::run);
        case 11: return by_cols(K<11, 1>::run, K<11, 2>::run);
        default: return by_cols(K<12, 1>::run, K<12, 2>::run);
    }
}

}  // namespace eng::cpu::avx512
