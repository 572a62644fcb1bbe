// vecmath.h: exp, tanh and the normal CDF written so that the compiler can
// vectorise loops that call them.
//
// std::exp / std::tanh / std::erf are library calls: a loop calling them runs
// one element at a time (GCC only vectorises them with -ffast-math, which the
// build does not use).  These versions are straight-line float arithmetic with
// selects instead of branches, so `#pragma omp simd` loops over them become
// AVX2 / AVX-512 code.  Accuracy (checked against the std versions in
// tests/tensor/test_cpu_kernels.cpp):
//   exp_f:  range reduction x = n·ln2 + r, |r| ≤ ½ln2, degree-6 polynomial
//           (Cephes' expf coefficients), n added to the exponent bits;
//           relative error ≤ 2 ulp; exp(x) = 0 for x < ln(FLT_MIN) = -87.34
//           (std::exp gives a subnormal there), +inf above 88.72, NaN propagates.
//   tanh_f: |x| < 0.625: odd polynomial (Cephes' tanhf); otherwise
//           1 - 2/(exp(2|x|) + 1) with the sign restored; error a few ulp.
//   erfc_pos: erfc(z) for z ≥ 0 as t·P(t)·exp(-z²), t = 1/(1 + p z)
//           (Abramowitz & Stegun 7.1.26), absolute error ≤ 1.5e-7 (≤ 3e-7 on
//           Φ after float rounding); it feeds
//           the erf-form GELU, Φ(x) = ½ erfc(-x/√2).
#pragma once
#include <atomic>
#include <cstdint>

#include "tensor/dtype.h"

namespace eng::cpu::vm {

inline float exp_f(float x) {
    const float hi = 88.7228391f, lo = -87.3365447f;  // ln(FLT_MAX), ln(FLT_MIN)
    // Clamp (NaN becomes hi here; it is restored at the end).
    float xc = x < hi ? x : hi;
    xc = xc > lo ? xc : lo;
    // n = round(x / ln2) with the 1.5·2^23 trick (exact for |n| < 2^22).
    const float magic = 12582912.0f;
    float n = (xc * 1.44269504088896341f + magic) - magic;
    float r = xc - n * 0.693359375f;  // ln2 split in two so that n·ln2 is exact
    r = r - n * -2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    // p · 2^n by adding n to p's exponent field: one integer add instead of
    // building 2^n (as two factors, for the ends of the range) and
    // multiplying, about 13 % less time, and the same bits for every float x
    // but x = lo (checked exhaustively), which now gives the contract's 0
    // rather than a subnormal.  p is in [0.707, 1.414], so the field stays in
    // [1, 254] for every x strictly between lo and hi: at n = -126, x > lo
    // makes p ≥ 1; at n = 128, x < hi makes p < 1.
    float y = f32_from_bits(f32_bits(p) + (uint32_t(int32_t(n)) << 23));
    y = x <= lo ? 0.0f : y;
    y = x >= hi ? __builtin_inff() : y;
    return x != x ? x : y;
}

inline float tanh_f(float x) {
    float ax = x < 0.0f ? -x : x;
    // small |x|: tanh x = x + x³·P(x²), no cancellation
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    // large |x|: 1 - 2/(e^{2|x|} + 1), exact limit 1 when e^{2|x|} overflows
    float big = 1.0f - 2.0f / (exp_f(2.0f * ax) + 1.0f);
    big = x < 0.0f ? -big : big;
    return ax < 0.625f ? small : big;
}

// erfc(z) for z >= 0, together with exp(-z²) (the normal pdf needs it too).
inline float erfc_pos(float z, float* exp_mz2) {
    float t = 1.0f / (1.0f + 0.3275911f * z);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    float e = exp_f(-z * z);
    *exp_mz2 = e;
    return p * t * e;
}

// Φ(x), the standard normal CDF, and φ(x), its density.
inline float normal_cdf(float x, float* pdf) {
    float z = (x < 0.0f ? -x : x) * 0.7071067811865476f;
    float e;
    float c = 0.5f * erfc_pos(z, &e);  // Φ(-|x|)
    *pdf = 0.3989422804014327f * e;    // e = exp(-x²/2)
    return x < 0.0f ? c : 1.0f - c;
}

}  // namespace eng::cpu::vm

// ---- run-time choice of the vector width ----------------------------------------------
// The build targets x86-64-v3 (AVX2 + FMA).  Compute-heavy loops (exp, GELU,
// softmax) are compiled a second time with ENG_AVX512 and take that version
// when the CPU has AVX-512: twice the lanes per instruction.  Memory-bound
// loops are not worth the second copy.
#define ENG_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw")))

namespace eng::cpu {

// -1: decide from the CPU; 0: force the AVX2 versions (tests compare both).
inline std::atomic<int> g_avx512_override{-1};

inline bool use_avx512() {
    static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
    int o = g_avx512_override.load(std::memory_order_relaxed);
    return has && o != 0;
}

}  // namespace eng::cpu
