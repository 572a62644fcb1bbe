// elementwise.h: CPU loops for the elementwise kernels (packed buffers of n floats).
// Broadcasting binary ops are driven from tensor/elementwise.cpp over strided views.
#pragma once
#include <cstdint>

#include "tensor/kernels.h"

namespace eng::cpu {

void unary_forward(kernels::Unary op, float* y, const float* x, int64_t n, float a, float b);
void unary_backward(kernels::Unary op, float* dx, const float* x, const float* y, const float* dy, int64_t n,
                    float a, float b);

}  // namespace eng::cpu
