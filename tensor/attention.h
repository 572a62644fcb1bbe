// attention.h: raw (non-differentiable) scaled dot-product attention, forward
// and backward, fused or plain reference.
//
// q [B, H, T, d], k [B, H, S, d], v [B, H, S, dv]  (f32; S may differ from T)
//   scores  s_ij = (q_i · k_j) / √d / score_divisor
//   masked  s_ij = -inf when causal and j > i (query i sees keys j <= i; with
//           T != S this is the top-left aligned mask, as torch.tril(ones(T, S))),
//           or when key_padding_mask[b, j] == 0
//   out_i   = Σ_j softmax_j(s_i)_j · v_j                       -> [B, H, T, dv]
// score_divisor is GPT-2's scale_attn_by_inverse_layer_idx factor: BioMedLM
// computes (q·kᵀ / √head_dim) / (layer_idx + 1), so pass layer_idx + 1 there
// and 1 elsewhere (DINOv2).
// key_padding_mask: [B, S], any dtype, nonzero = keep, 0 = masked; may be undefined.
// A query row whose keys are ALL masked (possible only when padding removes
// every key it may see) returns zeros, its lse is -inf, and it passes zero
// gradient to q, k and v (PyTorch would return NaN there).
// q, k, v may be strided views as long as their last dim is contiguous
// (for example the permuted [B, T, H, d] -> [B, H, T, d] view of a fused qkv);
// otherwise they are packed first.
#pragma once
#include "tensor/cpu/attention.h"
#include "tensor/tensor.h"

namespace eng::kernels {

// Dropout on the attention probabilities inside the fused CPU kernels and the
// CUDA flash kernel (tensor/cpu/attention.h: the same mask as eng::dropout on
// the materialised probabilities from that generator state).  Not available
// with the reference path or the other CUDA kernels: p must be 0 there
// (cuda::attention_fused_dropout says which).  The backward takes the same
// AttentionDropout as the forward, so that it redraws the same mask.
using AttentionDropout = cpu::AttnDropout;

enum class AttentionPath {
    Fused,      // tiled, online softmax; memory independent of T×S (the default)
    Reference,  // scores materialised per head; for tests and debugging
};

// Returns out [B, H, T, dv]; *lse (if given) receives the per-row logsumexp
// [B, H, T] of the masked scores, which the backward needs.  On the CPU out is
// the [B, H, T, dv] view of a packed [B, T, H, dv] tensor (merging the heads
// afterwards is then a view); on the GPU it is packed as [B, H, T, dv].
Tensor attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                         const Tensor& key_padding_mask, float score_divisor, Tensor* lse,
                         AttentionPath path = AttentionPath::Fused, const AttentionDropout& dropout = {});

struct AttentionGrads {
    Tensor dq, dk, dv;
};
// Gradients of out w.r.t. q, k, v given dL/d(out); `out` and `lse` are the
// forward's results (the reference path recomputes everything from q, k, v).
AttentionGrads attention_backward(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& out, const Tensor& lse, bool causal, const Tensor& key_padding_mask,
                                  float score_divisor, AttentionPath path = AttentionPath::Fused,
                                  const AttentionDropout& dropout = {});

// The same for q, k, v of one shape taken from one packed projection: the
// three gradients as one [3, B, H, T, d] tensor (fused path).  On the CPU it is
// a permuted view of a [B, T, 3, H, d] buffer the kernel writes in place, the
// layout of the fused qkv linear layer's output, so no gradient is copied on
// its way back there; on the GPU the three are stacked.
Tensor attention_backward_packed(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& out, const Tensor& lse, bool causal, const Tensor& key_padding_mask,
                                 float score_divisor, const AttentionDropout& dropout = {});

}  // namespace eng::kernels
