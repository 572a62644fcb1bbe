// elementwise.h: CPU loops for the elementwise kernels.  Unary ops work on
// packed buffers of n floats; binary ops on broadcast views (driven from
// tensor/elementwise.cpp, which expands both operands to the output shape).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/kernels.h"

namespace eng::cpu {

void unary_forward(kernels::Unary op, float* y, const float* x, int64_t n, float a, float b);
void unary_backward(kernels::Unary op, float* dx, const float* x, const float* y, const float* dy, int64_t n,
                    float a, float b);

// out (packed, element strides so) = a op b, with a and b read through element
// strides sa and sb over `shape` (0 for broadcast dims).
void binary_forward(kernels::Binary op, float* out, const float* a, const float* b, const std::vector<int64_t>& shape,
                    const int64_t* so, const int64_t* sa, const int64_t* sb);

}  // namespace eng::cpu
