// matmul.h: differentiable matrix multiply (torch.matmul semantics).
#pragma once
#include "tensor/tensor.h"

namespace eng {

// a [..., M, K] · b [..., K, N], batch dims broadcast; 1-D operands are
// treated as a row (a) or column (b) vector and that dim is dropped.
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace eng
