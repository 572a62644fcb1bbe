// linear.h: the raw (non-differentiable) kernels of the fused linear layer
// y = x·Wᵀ + b, used by autograd/linear.cpp.
//
// A linear layer is the most frequent op of a transformer.  Written as
// matmul + broadcast add it costs an extra pass over the output and, in the
// backward, a batched GEMM per leading index followed by a reduction.  Here
// the leading dims are flattened to one row dim N, so each product is a single
// large GEMM, and the bias is written into the output before the GEMM
// accumulates onto it (beta = 1), so it costs no extra pass.
#pragma once
#include "tensor/tensor.h"

namespace eng::kernels {

// x [N, in] (any strides), weight [out, in] or, with weight_in_out, [in, out]
// (GPT-2's Conv1D layout); bias [out] or undefined.  Returns y [N, out].
Tensor linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, bool weight_in_out);

// The three gradients for upstream g [N, out].  Each output is skipped (left
// undefined) when its flag is false; x may be undefined when the weight's
// gradient is not wanted, and weight when x's is not (nothing reads them).
struct LinearGrads {
    Tensor x, weight, bias;
};
LinearGrads linear_backward(const Tensor& g, const Tensor& x, const Tensor& weight, bool weight_in_out,
                            bool need_x, bool need_weight, bool need_bias);

}  // namespace eng::kernels
