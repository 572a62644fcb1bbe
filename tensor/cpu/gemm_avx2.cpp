// gemm_avx2.cpp: the AVX2 + FMA GEMM micro-kernel (6 × 16 register block).
//
// The 6 × 16 tile of C takes 12 of the 16 ymm registers; each k step loads two
// 8-float vectors of the B panel and broadcasts 6 values of the A panel, i.e.
// 12 FMAs per 8 loads, enough independent chains to cover the FMA latency on
// Haswell-class and Zen cores.  x86-64-v3 (the project's baseline) always has
// AVX2 and FMA, so this kernel needs no run-time check beyond the baseline.
#include <immintrin.h>

#include "tensor/cpu/gemm_kernels.h"

namespace eng::cpu {
namespace {

constexpr int MR = 6;
constexpr int NR = 16;

__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float* a, const float* b, float* C,
                                                     int64_t ldc, float alpha, float beta, const float* bias) {
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
        c0[i] = _mm256_setzero_ps();
        c1[i] = _mm256_setzero_ps();
        _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
    }
    for (int64_t k = 0; k < kc; ++k) {
        const __m256 b0 = _mm256_load_ps(b);
        const __m256 b1 = _mm256_load_ps(b + 8);
        _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
#pragma GCC unroll 6
        for (int i = 0; i < MR; ++i) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
        a += MR;
        b += NR;
    }
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
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

}  // namespace

const GemmKernel kGemmAvx2 = {"avx2", MR, NR, kernel_avx2, nullptr};

}  // namespace eng::cpu
