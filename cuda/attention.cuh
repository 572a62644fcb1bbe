// attention.cuh: what the CUDA attention implementations share.  The public
// cuda::attention_forward / attention_backward (tensor/cuda_backend.h)
// dispatch on set_attention_kernel to one of three: the cuBLAS path
// (attention_gemm.cu), the CUDA-core tiled kernels (attention.cu) and the
// tensor-core flash kernels (attention_flash.cu).  Same contract,
// tensor/cpu/attention.h.  Only compiled by nvcc.
#pragma once
#include <algorithm>
#include <cstdint>

#include "cuda/common.cuh"
#include "tensor/check.h"
#include "tensor/cpu/attention.h"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

// ---- device views of the operands and the problem --------------------------------------------

// A [B, H, rows, cols] operand with contiguous rows (cpu::AttnOperand on the device).
struct Operand {
    const float* p;
    int64_t sb, sh, st;
    __device__ const float* row(int64_t b, int64_t h, int64_t t) const { return p + b * sb + h * sh + t * st; }
};

struct Dims {
    int64_t B, H, T, S, d, dv;
    float scale;
    bool causal;
    const uint8_t* keep;  // [B, S] on the device, or null
    cpu::AttnDropout dropout;  // p = 0: none (only the flash kernels apply it)
};

inline Operand to_dev(const cpu::AttnOperand& o) { return Operand{o.p, o.sb, o.sh, o.st}; }
inline Dims to_dev(const cpu::AttnDims& n) {
    return Dims{n.B, n.H, n.T, n.S, n.d, n.dv, n.scale, n.causal, n.keep, n.dropout};
}

// Whether query i of batch b may see key j (the -inf entries of the contract).
__device__ __forceinline__ bool key_visible(const Dims& n, int64_t b, int64_t i, int64_t j) {
    if (j >= n.S) return false;
    if (n.causal && j > i) return false;
    if (n.keep && !n.keep[b * n.S + j]) return false;
    return true;
}

// The factor dropout gives probability (b, h, i, j): cpu::DropoutMask(p).at(seed,
// offset + ((b·H + h)·T + i)·S + j), i.e. 1/(1-p) where kept and 0 where dropped
// (the CPU kernels' mask, bit for bit); 1 without dropout.
__device__ __forceinline__ float dropout_factor(const Dims& n, int64_t b, int64_t h, int64_t i, int64_t j) {
    if (n.dropout.p <= 0.0f) return 1.0f;
    const float keep = 1.0f - n.dropout.p, scale = keep > 0.0f ? 1.0f / keep : 0.0f;
    const uint64_t counter = n.dropout.offset + uint64_t(((b * n.H + h) * n.T + i) * n.S + j);
    return word_to_uniform_dev(random_word_dev(n.dropout.seed, counter)) < keep ? scale : 0.0f;
}

// The grid of the tiled kernels: one block per batch·head (x, up to 2³¹ − 1
// blocks: 36 images × 12 heads is far from it) and per tile of `tile` rows
// (y, at most 65535).  The kernels read bh = blockIdx.x, row tile blockIdx.y.
inline dim3 attention_grid(int64_t rows, int64_t tile, const cpu::AttnDims& n) {
    const int64_t tiles = (rows + tile - 1) / tile;
    ENG_CHECK(n.B * n.H <= int64_t(0x7fffffff) && tiles < 65536, "scaled_dot_product_attention: ", n.B * n.H,
              " batch·heads and ", rows, " rows in tiles of ", tile,
              " exceed the CUDA grid (2³¹ − 1 by 65535 blocks). HINT: split the batch");
    return dim3(unsigned(n.B * n.H), unsigned(std::max<int64_t>(tiles, 1)));
}

// Launches with `bytes` of dynamic shared memory, opting in beyond 48 KiB.
template <typename Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
    if (bytes > 48 * 1024) CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

// D[bh·T + i] = dO_i · O_i for packed [B, H, T, dv] dout and out, in a buffer
// from cuda::alloc (the caller frees it): the row term of every backward.
float* attention_row_dots(const float* dout, const float* out, const cpu::AttnDims& n);

// ---- the implementations -------------------------------------------------------------------------

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
// Whether the flash kernels take this problem (head dims up to 128, a GPU of
// compute capability 8.0 or later); the dispatcher uses the gemm path otherwise.
// Dropout on the probabilities (n.dropout) exists in the flash kernels only.
bool attention_flash_fits(const cpu::AttnDims& n);
void attention_forward_flash(float* out, float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                             const cpu::AttnOperand& v, const cpu::AttnDims& n);
void attention_backward_flash(float* dq, float* dk, float* dv, const float* dout, const float* out,
                              const float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                              const cpu::AttnOperand& v, const cpu::AttnDims& n);

}  // namespace eng::cuda
