// attention.cuh: the two CUDA attention implementations behind
// cuda::attention_forward / attention_backward (tensor/cuda_backend.h), which
// dispatch on set_attention_kernel: the fused tiled kernels (attention.cu) and
// the cuBLAS path (attention_gemm.cu).  Same contract, tensor/cpu/attention.h.
#pragma once
#include "tensor/cpu/attention.h"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

void attention_forward_fused(float* out, float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                             const cpu::AttnOperand& v, const cpu::AttnDims& n);
void attention_backward_fused(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                              const cpu::AttnOperand& q, const cpu::AttnOperand& k, const cpu::AttnOperand& v,
                              const cpu::AttnDims& n);
void attention_forward_gemm(float* out, float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                            const cpu::AttnOperand& v, const cpu::AttnDims& n);
void attention_backward_gemm(float* dq, float* dk, float* dv, const float* dout, const float* lse,
                             const cpu::AttnOperand& q, const cpu::AttnOperand& k, const cpu::AttnOperand& v,
                             const cpu::AttnDims& n);

}  // namespace eng::cuda
