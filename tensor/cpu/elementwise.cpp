// elementwise.cpp: CPU forward and backward of the unary elementwise functions.
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
#include "tensor/cpu/elementwise.h"

#include <algorithm>
#include <cmath>

namespace eng::cpu {

using kernels::Unary;

static constexpr float kSqrt2OverPi = 0.7978845608028654f;
static constexpr float kInvSqrt2 = 0.7071067811865476f;
static constexpr float kInvSqrt2Pi = 0.3989422804014327f;

static inline float apply(Unary op, float x, float a, float b) {
    switch (op) {
        case Unary::Neg: return -x;
        case Unary::Exp: return std::exp(x);
        case Unary::Log: return std::log(x);
        case Unary::Sqrt: return std::sqrt(x);
        case Unary::Rsqrt: return 1.0f / std::sqrt(x);
        case Unary::Abs: return std::fabs(x);
        case Unary::Tanh: return std::tanh(x);
        case Unary::Sigmoid: return 1.0f / (1.0f + std::exp(-x));
        case Unary::Relu: return x > 0.0f ? x : 0.0f;
        case Unary::GeluErf: return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
        case Unary::GeluTanh: {
            float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
            return 0.5f * x * (1.0f + std::tanh(u));
        }
        case Unary::PowScalar: return std::pow(x, a);
        case Unary::Clamp: return std::min(std::max(x, a), b);
    }
    return 0.0f;
}

static inline float derivative(Unary op, float x, float y, float a, float b) {
    switch (op) {
        case Unary::Neg: return -1.0f;
        case Unary::Exp: return y;
        case Unary::Log: return 1.0f / x;
        case Unary::Sqrt: return 0.5f / y;
        case Unary::Rsqrt: return -0.5f * y / x;
        case Unary::Abs: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
        case Unary::Tanh: return 1.0f - y * y;
        case Unary::Sigmoid: return y * (1.0f - y);
        case Unary::Relu: return x > 0.0f ? 1.0f : 0.0f;
        case Unary::GeluErf: {
            float cdf = 0.5f * (1.0f + std::erf(x * kInvSqrt2));
            float pdf = kInvSqrt2Pi * std::exp(-0.5f * x * x);
            return cdf + x * pdf;
        }
        case Unary::GeluTanh: {
            float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
            float t = std::tanh(u);
            float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
            return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
        }
        case Unary::PowScalar: return a == 0.0f ? 0.0f : a * std::pow(x, a - 1.0f);
        case Unary::Clamp: return (x >= a && x <= b) ? 1.0f : 0.0f;
    }
    return 0.0f;
}

void unary_forward(Unary op, float* y, const float* x, int64_t n, float a, float b) {
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) y[i] = apply(op, x[i], a, b);
}

void unary_backward(Unary op, float* dx, const float* x, const float* y, const float* dy, int64_t n, float a,
                    float b) {
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * derivative(op, x[i], y[i], a, b);
}

}  // namespace eng::cpu
