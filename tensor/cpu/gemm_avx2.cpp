// gemm_avx2.cpp: the AVX2 + FMA GEMM micro-kernel (6 × 16 register block).
//
// The 6 × 16 tile of C takes 12 of the 16 ymm registers; each k step loads two
// 8-float vectors of the B panel and broadcasts 6 values of the A panel, i.e.
// 12 FMAs per 8 loads, enough independent chains to cover the FMA latency on
// Haswell-class and Zen cores.  x86-64-v3 (the project's baseline) always has
// AVX2 and FMA, so this kernel needs no run-time check beyond the baseline.
// A second form reads a row-major A where it lies (gemm.cpp), for ROWS ≤ 6
// rows, with the same FMA chain per element.
#include <immintrin.h>

#include "tensor/cpu/gemm_kernels.h"

namespace eng::cpu {
namespace {

constexpr int MR = 6;
constexpr int NR = 16;

// C = fma(alpha, acc, bias), alpha·acc, fma(alpha, acc, C) or
// fma(alpha, acc, beta·C) for ROWS rows of the tile (gemm_kernels.h).
template <int ROWS>
__attribute__((always_inline, target("avx2,fma"))) inline void store_tile(const __m256 (&c0)[ROWS],
                                                                          const __m256 (&c1)[ROWS], float* C,
                                                                          int64_t ldc, float alpha, float beta,
                                                                          const float* bias) {
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < ROWS; ++i) {
        float* cr = C + i * ldc;
        if (bias) {
            _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, c0[i], _mm256_loadu_ps(bias)));
            _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, c1[i], _mm256_loadu_ps(bias + 8)));
        } else if (beta == 0.0f) {
            _mm256_storeu_ps(cr, _mm256_mul_ps(va, c0[i]));
            _mm256_storeu_ps(cr + 8, _mm256_mul_ps(va, c1[i]));
        } else if (beta == 1.0f) {
            _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, c0[i], _mm256_loadu_ps(cr)));
            _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, c1[i], _mm256_loadu_ps(cr + 8)));
        } else {
            _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, c0[i], _mm256_mul_ps(vb, _mm256_loadu_ps(cr))));
            _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, c1[i], _mm256_mul_ps(vb, _mm256_loadu_ps(cr + 8))));
        }
    }
}

// The ROWS × 16 tile over kc steps; the A value of row i at step k is
// a[i·row_step + k·k_step]: a packed panel (row_step 1, k_step MR) or a
// row-major A read in place (row_step lda, k_step 1).
template <int ROWS>
__attribute__((always_inline, target("avx2,fma"))) inline void tile(int64_t kc, const float* a, int64_t row_step,
                                                                    int64_t k_step, const float* b, float* C,
                                                                    int64_t ldc, float alpha, float beta,
                                                                    const float* bias) {
    __m256 c0[ROWS], c1[ROWS];
#pragma GCC unroll 6
    for (int i = 0; i < ROWS; ++i) {
        c0[i] = _mm256_setzero_ps();
        c1[i] = _mm256_setzero_ps();
        _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
    }
    for (int64_t k = 0; k < kc; ++k) {
        const __m256 b0 = _mm256_load_ps(b);
        const __m256 b1 = _mm256_load_ps(b + 8);
        _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
#pragma GCC unroll 6
        for (int i = 0; i < ROWS; ++i) {
            // set1 of a plain load (still one vbroadcastss), so that
            // AddressSanitizer sees the read of A.
            const __m256 ai = _mm256_set1_ps(a[i * row_step]);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
        a += k_step;
        b += NR;
    }
    store_tile<ROWS>(c0, c1, C, ldc, alpha, beta, bias);
}

__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float* a, const float* b, float* C,
                                                     int64_t ldc, float alpha, float beta, const float* bias) {
    tile<MR>(kc, a, 1, MR, b, C, ldc, alpha, beta, bias);
}

// op(A) read in place: row i of the tile at a + i·lda, k contiguous.
template <int ROWS>
__attribute__((target("avx2,fma"))) void kernel_avx2_rows(int64_t kc, const float* a, int64_t lda, const float* b,
                                                          float* C, int64_t ldc, float alpha, float beta,
                                                          const float* bias) {
    tile<ROWS>(kc, a, lda, 1, b, C, ldc, alpha, beta, bias);
}

// The in-place form for a partial tile of `rows` rows (the columns always
// run full width: partial columns go through a scratch tile).
GemmInPlaceKernel edge_rows_avx2(int rows, int) {
    switch (rows) {
        case 1: return kernel_avx2_rows<1>;
        case 2: return kernel_avx2_rows<2>;
        case 3: return kernel_avx2_rows<3>;
        case 4: return kernel_avx2_rows<4>;
        case 5: return kernel_avx2_rows<5>;
        default: return kernel_avx2_rows<6>;
    }
}

}  // namespace

const GemmKernel kGemmAvx2 = {"avx2", MR, NR, kernel_avx2, nullptr, kernel_avx2_rows<MR>, edge_rows_avx2};

}  // namespace eng::cpu
