// optim.cpp: fused CPU AdamW and SGD updates (formulas in optim.h).
//
// AdamW streams four arrays (read p, m, v, g; write p, m, v), so it is bound
// by memory bandwidth once it is vectorised.  GCC will not vectorise
// std::sqrt without -fno-math-errno (it might have to set errno): the
// Makefile compiles this file with it, which lets the bf16-true loops below
// vectorise; the f32 AVX2 loop predates that and is written with
// intrinsics.  Every step is written with explicit fused multiply-adds, in
// the vector loop and in the scalar tail alike, so an element's result does
// not depend on where it falls in a vector; the chunks given to the threads
// start at multiples of 8, so it does not depend on the number of threads
// either.
#include "tensor/cpu/optim.h"

#include <algorithm>
#include <cmath>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "tensor/optim_bf16_true.h"

namespace eng::cpu {

namespace {

struct AdamW {
    // one_minus_b1/b2 are 1 - β computed in double and rounded once (PyTorch's
    // Python scalar 1 - β, as its kernels receive it), not 1.0f - float(β).
    float beta1, one_minus_b1, beta2, one_minus_b2, eps, step_size, inv_sqrt_bc2, decay;

    void scalar(float* p, float* m, float* v, const float* g, int64_t n) const {
        for (int64_t i = 0; i < n; ++i) {
            float gi = g[i];
            float mi = std::fma(beta1, m[i], one_minus_b1 * gi);
            float vi = std::fma(beta2, v[i], one_minus_b2 * gi * gi);
            m[i] = mi;
            v[i] = vi;
            float denom = std::fma(std::sqrt(vi), inv_sqrt_bc2, eps);
            p[i] = std::fma(p[i], decay, -(step_size * mi / denom));
        }
    }

    void run(float* p, float* m, float* v, const float* g, int64_t n) const {
        int64_t i = 0;
#ifdef __AVX2__
        const __m256 b1 = _mm256_set1_ps(beta1), b2 = _mm256_set1_ps(beta2), c1 = _mm256_set1_ps(one_minus_b1),
                     c2 = _mm256_set1_ps(one_minus_b2), e = _mm256_set1_ps(eps), ss = _mm256_set1_ps(step_size),
                     ib = _mm256_set1_ps(inv_sqrt_bc2), dec = _mm256_set1_ps(decay);
        for (; i + 8 <= n; i += 8) {
            __m256 gi = _mm256_loadu_ps(g + i);
            __m256 mi = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(c1, gi));
            __m256 vi = _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i), _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
            _mm256_storeu_ps(m + i, mi);
            _mm256_storeu_ps(v + i, vi);
            __m256 denom = _mm256_fmadd_ps(_mm256_sqrt_ps(vi), ib, e);
            __m256 upd = _mm256_div_ps(_mm256_mul_ps(ss, mi), denom);
            _mm256_storeu_ps(p + i, _mm256_fmsub_ps(_mm256_loadu_ps(p + i), dec, upd));
        }
#endif
        scalar(p + i, m + i, v + i, g + i, n - i);
    }
};

}  // namespace

void adamw_update(float* p, float* m, float* v, const float* g, int64_t n, float lr, double beta1, double beta2,
                  float eps, float weight_decay, int64_t step) {
    // Bias corrections in double: 1 - β2ᵗ is tiny for small t and loses digits in float.
    double bc1 = 1.0 - std::pow(beta1, double(step));
    double bc2 = 1.0 - std::pow(beta2, double(step));
    const AdamW k{float(beta1),   float(1.0 - beta1),         float(beta2),
                  float(1.0 - beta2), eps, float(lr / bc1), float(1.0 / std::sqrt(bc2)),
                  std::fma(-lr, weight_decay, 1.0f)};  // one rounding on every device (cuda/optim.cu)
    constexpr int64_t kChunk = 1 << 14;  // a multiple of the vector width
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t c = 0; c < chunks; ++c) {
        int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
        k.run(p + i0, m + i0, v + i0, g + i0, len);
    }
}

void sgd_update(float* p, float* buf, const float* g, int64_t n, float lr, float momentum, float dampening,
                float weight_decay, bool nesterov, bool first_step) {
    // Explicit fused multiply-adds, as in AdamW: left to itself the compiler
    // contracts a·b + c·d with either product, and the CUDA kernel must give
    // the same bits.
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) {
        float d = std::fma(weight_decay, p[i], g[i]);
        if (momentum != 0.0f) {
            float b = first_step ? d : std::fma(momentum, buf[i], (1.0f - dampening) * d);
            buf[i] = b;
            d = nesterov ? std::fma(momentum, b, d) : b;
        }
        p[i] = std::fma(-lr, d, p[i]);
    }
}

void adamw_update_bf16_true(float* p, float* m, float* v, const float* g, int64_t n, float lr, double beta1,
                            double beta2, float eps, float weight_decay, int64_t step) {
    const bf16_true::AdamWConstants k = bf16_true::adamw_constants(lr, beta1, beta2, eps, weight_decay, step);
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) bf16_true::adamw_element(p[i], m[i], v[i], g[i], k);
}

void sgd_update_bf16_true(float* p, float* buf, const float* g, int64_t n, float lr, float momentum,
                          float dampening, float weight_decay, bool nesterov, bool first_step) {
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i)
        bf16_true::sgd_element(p[i], buf ? buf + i : nullptr, g[i], lr, momentum, dampening, weight_decay, nesterov,
                               first_step);
}

}  // namespace eng::cpu
