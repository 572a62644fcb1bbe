// linear.h: the differentiable fused linear layer y = x·Wᵀ + b.
#pragma once
#include "tensor/tensor.h"

namespace eng {

// x [..., in]; weight [out, in] (PyTorch Linear) or, with weight_in_out,
// [in, out] (GPT-2 Conv1D); bias [out] or an undefined tensor.  Returns
// [..., out].  Same values as matmul(x, Wᵀ) + b, computed with one GEMM in each
// direction (see tensor/linear.h).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, bool weight_in_out = false);

}  // namespace eng
