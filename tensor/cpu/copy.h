// copy.h: CPU copies between views and dtype conversion.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace eng::cpu {

// dst[i] = src[i] for every index of the (equal) shapes; both CPU, same dtype.
void strided_copy(const Tensor& dst, const Tensor& src);
// Packed conversion of n elements between any two engine dtypes.
void convert(void* dst, DType dst_type, const void* src, DType src_type, int64_t n);
// x[i] = round_to_bf16(x[i]) for n packed floats (bf16-true, tensor/precision.h).
void round_to_bf16(float* x, int64_t n);

}  // namespace eng::cpu
