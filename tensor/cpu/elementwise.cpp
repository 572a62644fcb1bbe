// elementwise.cpp: CPU forward and backward of the unary elementwise functions,
// and the loop of the broadcasting binary ops.
//
// Each backward computes dx = dy · f'(x), written with whichever of x or y
// gives the simplest exact derivative:
//   exp:     y' = y                  log:   1/x
//   sqrt:    1/(2y)                  rsqrt: -y/(2x)  (= -½ x^-3/2)
//   tanh:    1 - y²                  sigmoid: y(1 - y)
//   relu:    1 if x > 0 else 0       abs:   sign(x) (0 at 0)
//   pow a:   a·x^(a-1)               clamp: 1 inside [lo, hi], else 0
//   gelu (erf form):  y = x·Φ(x),  y' = Φ(x) + x·φ(x)
//   gelu (tanh form): y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³),
//                     y' = ½(1 + tanh u) + ½x(1 - tanh²u)·√(2/π)(1 + 3·0.044715x²)
//
// Speed: the op is a template parameter, so each op gets its own loop with no
// switch inside; exp, tanh and Φ come from vecmath.h (vectorisable, unlike the
// std:: calls), so the loops compile to AVX2 code, and to AVX-512 code in a
// second copy chosen at run time.  Large arrays are split into fixed chunks
// over the OpenMP threads (each element is computed alone, so the result does
// not depend on the thread count).
#include "tensor/cpu/elementwise.h"

#include <algorithm>
#include <cmath>

#include "tensor/cpu/strided.h"
#include "tensor/cpu/vecmath.h"

namespace eng::cpu {

using kernels::Binary;
using kernels::Unary;

static constexpr float kSqrt2OverPi = 0.7978845608028654f;
static constexpr int64_t kChunk = 1 << 13;         // elements per task
static constexpr int64_t kParallelMin = 1 << 15;   // below this, one thread (threads cost more than they save)

template <Unary OP>
static inline float apply(float x, float a, float b) {
    if constexpr (OP == Unary::Neg) return -x;
    if constexpr (OP == Unary::Exp) return vm::exp_f(x);
    if constexpr (OP == Unary::Log) return std::log(x);
    if constexpr (OP == Unary::Sqrt) return std::sqrt(x);
    if constexpr (OP == Unary::Rsqrt) return 1.0f / std::sqrt(x);
    if constexpr (OP == Unary::Abs) return std::fabs(x);
    if constexpr (OP == Unary::Tanh) return vm::tanh_f(x);
    if constexpr (OP == Unary::Sigmoid) return 1.0f / (1.0f + vm::exp_f(-x));
    if constexpr (OP == Unary::Relu) return x > 0.0f ? x : 0.0f;
    if constexpr (OP == Unary::GeluErf) {
        float pdf;
        return x * vm::normal_cdf(x, &pdf);
    }
    if constexpr (OP == Unary::GeluTanh) {
        float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.0f + vm::tanh_f(u));
    }
    if constexpr (OP == Unary::PowScalar) return std::pow(x, a);
    if constexpr (OP == Unary::Clamp) return std::min(std::max(x, a), b);
    (void)a, (void)b;
    return 0.0f;
}

template <Unary OP>
static inline float derivative(float x, float y, float a, float b) {
    if constexpr (OP == Unary::Neg) return -1.0f;
    if constexpr (OP == Unary::Exp) return y;
    if constexpr (OP == Unary::Log) return 1.0f / x;
    if constexpr (OP == Unary::Sqrt) return 0.5f / y;
    if constexpr (OP == Unary::Rsqrt) return -0.5f * y / x;
    if constexpr (OP == Unary::Abs) return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
    if constexpr (OP == Unary::Tanh) return 1.0f - y * y;
    if constexpr (OP == Unary::Sigmoid) return y * (1.0f - y);
    if constexpr (OP == Unary::Relu) return x > 0.0f ? 1.0f : 0.0f;
    if constexpr (OP == Unary::GeluErf) {
        float pdf;
        float cdf = vm::normal_cdf(x, &pdf);
        return cdf + x * pdf;
    }
    if constexpr (OP == Unary::GeluTanh) {
        float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
        float t = vm::tanh_f(u);
        float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    if constexpr (OP == Unary::PowScalar) return a == 0.0f ? 0.0f : a * std::pow(x, a - 1.0f);
    if constexpr (OP == Unary::Clamp) return (x >= a && x <= b) ? 1.0f : 0.0f;
    (void)x, (void)y, (void)a, (void)b;
    return 0.0f;
}

// The loop bodies, inlined into an AVX2 and an AVX-512 copy.
template <Unary OP>
__attribute__((always_inline)) inline void fwd_body(float* __restrict y, const float* __restrict x, int64_t n,
                                                    float a, float b) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = apply<OP>(x[i], a, b);
}
template <Unary OP>
__attribute__((always_inline)) inline void bwd_body(float* __restrict dx, const float* __restrict x,
                                                    const float* __restrict y, const float* __restrict dy, int64_t n,
                                                    float a, float b) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * derivative<OP>(x[i], y[i], a, b);
}
template <Unary OP>
static void fwd_avx2(float* y, const float* x, int64_t n, float a, float b) { fwd_body<OP>(y, x, n, a, b); }
template <Unary OP>
ENG_AVX512 static void fwd_avx512(float* y, const float* x, int64_t n, float a, float b) {
    fwd_body<OP>(y, x, n, a, b);
}
template <Unary OP>
static void bwd_avx2(float* dx, const float* x, const float* y, const float* dy, int64_t n, float a, float b) {
    bwd_body<OP>(dx, x, y, dy, n, a, b);
}
template <Unary OP>
ENG_AVX512 static void bwd_avx512(float* dx, const float* x, const float* y, const float* dy, int64_t n, float a,
                                  float b) {
    bwd_body<OP>(dx, x, y, dy, n, a, b);
}

template <Unary OP>
static void forward_op(float* y, const float* x, int64_t n, float a, float b) {
    const bool wide = use_avx512();
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t c = 0; c < chunks; ++c) {
        int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
        if (wide) fwd_avx512<OP>(y + i0, x + i0, len, a, b);
        else fwd_avx2<OP>(y + i0, x + i0, len, a, b);
    }
}

template <Unary OP>
static void backward_op(float* dx, const float* x, const float* y, const float* dy, int64_t n, float a, float b) {
    const bool wide = use_avx512();
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t c = 0; c < chunks; ++c) {
        int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
        if (wide) bwd_avx512<OP>(dx + i0, x + i0, y + i0, dy + i0, len, a, b);
        else bwd_avx2<OP>(dx + i0, x + i0, y + i0, dy + i0, len, a, b);
    }
}

#define ENG_UNARY_CASES(CALL)            \
    switch (op) {                        \
        case Unary::Neg: CALL(Neg);      \
        case Unary::Exp: CALL(Exp);      \
        case Unary::Log: CALL(Log);      \
        case Unary::Sqrt: CALL(Sqrt);    \
        case Unary::Rsqrt: CALL(Rsqrt);  \
        case Unary::Abs: CALL(Abs);      \
        case Unary::Tanh: CALL(Tanh);    \
        case Unary::Sigmoid: CALL(Sigmoid); \
        case Unary::Relu: CALL(Relu);    \
        case Unary::GeluErf: CALL(GeluErf); \
        case Unary::GeluTanh: CALL(GeluTanh); \
        case Unary::PowScalar: CALL(PowScalar); \
        case Unary::Clamp: CALL(Clamp);  \
    }

void unary_forward(Unary op, float* y, const float* x, int64_t n, float a, float b) {
#define ENG_FWD(OP) return forward_op<Unary::OP>(y, x, n, a, b)
    ENG_UNARY_CASES(ENG_FWD)
#undef ENG_FWD
}

void unary_backward(Unary op, float* dx, const float* x, const float* y, const float* dy, int64_t n, float a,
                    float b) {
#define ENG_BWD(OP) return backward_op<Unary::OP>(dx, x, y, dy, n, a, b)
    ENG_UNARY_CASES(ENG_BWD)
#undef ENG_BWD
}
#undef ENG_UNARY_CASES

// ---- binary ops over broadcast views --------------------------------------------------

template <Binary OP>
static inline float apply_binary(float a, float b) {
    if constexpr (OP == Binary::Add) return a + b;
    if constexpr (OP == Binary::Sub) return a - b;
    if constexpr (OP == Binary::Mul) return a * b;
    if constexpr (OP == Binary::Div) return a / b;
    if constexpr (OP == Binary::Pow) return std::pow(a, b);
    return 0.0f;
}

// One row of the broadcast problem.  The common layouts get their own loops so
// they vectorise: both operands contiguous (x + y, or x + bias along the last
// dim), one operand constant along the row (x · scalar, x - row mean), and a
// general strided fallback.
template <Binary OP>
static inline void binary_row(float* __restrict o, const float* __restrict pa, const float* __restrict pb,
                              int64_t len, int64_t sa, int64_t sb) {
    if (sa == 1 && sb == 1) {
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) o[i] = apply_binary<OP>(pa[i], pb[i]);
    } else if (sa == 1 && sb == 0) {
        const float bv = pb[0];
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) o[i] = apply_binary<OP>(pa[i], bv);
    } else if (sa == 0 && sb == 1) {
        const float av = pa[0];
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) o[i] = apply_binary<OP>(av, pb[i]);
    } else {
        for (int64_t i = 0; i < len; ++i) o[i] = apply_binary<OP>(pa[i * sa], pb[i * sb]);
    }
}

template <Binary OP>
static void binary_op(float* out, const float* a, const float* b, const std::vector<int64_t>& shape,
                      const int64_t* so, const int64_t* sa, const int64_t* sb, int64_t n) {
    // Same-shape packed operands: one flat loop in fixed chunks, whatever the
    // shape (rows of a narrow last dim would make short, overhead-bound loops).
    bool flat = true;
    for (size_t d = shape.size(); d-- > 0;)
        if (shape[d] != 1 && (sa[d] != so[d] || sb[d] != so[d])) flat = false;
    if (flat) {
        const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
        for (int64_t c = 0; c < chunks; ++c) {
            int64_t i0 = c * kChunk;
            binary_row<OP>(out + i0, a + i0, b + i0, std::min(kChunk, n - i0), 1, 1);
        }
        return;
    }
    for_each_row<3>(shape, {so, sa, sb},
                    [&](const std::array<int64_t, 3>& off, int64_t len, const std::array<int64_t, 3>& st) {
                        binary_row<OP>(out + off[0], a + off[1], b + off[2], len, st[1], st[2]);
                    });
}

void binary_forward(Binary op, float* out, const float* a, const float* b, const std::vector<int64_t>& shape,
                    const int64_t* so, const int64_t* sa, const int64_t* sb) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (n == 0) return;
    switch (op) {
        case Binary::Add: return binary_op<Binary::Add>(out, a, b, shape, so, sa, sb, n);
        case Binary::Sub: return binary_op<Binary::Sub>(out, a, b, shape, so, sa, sb, n);
        case Binary::Mul: return binary_op<Binary::Mul>(out, a, b, shape, so, sa, sb, n);
        case Binary::Div: return binary_op<Binary::Div>(out, a, b, shape, so, sa, sb, n);
        case Binary::Pow: return binary_op<Binary::Pow>(out, a, b, shape, so, sa, sb, n);
    }
}

}  // namespace eng::cpu
