// attention.h: differentiable scaled dot-product attention.
//
//   q [B, H, T, d], k [B, H, S, d], v [B, H, S, dv]  ->  out [B, H, T, dv]
//   out = softmax(q·kᵀ / √d / score_divisor + mask) · v
// causal: query i sees keys j <= i (top-left aligned when T != S).
// key_padding_mask: [B, S], nonzero = keep, 0 = masked; may be undefined.
// score_divisor: extra divisor of the scores, applied after the 1/√d scaling;
//   BioMedLM (GPT-2, scale_attn_by_inverse_layer_idx) passes layer_idx + 1
//   (layer_idx 0-based), everything else 1.
// A query row with every key masked returns zeros and gets zero gradient (no NaN).
// Attention-probability dropout: only in the packed variant below, on the CPU
// and with the CUDA flash kernel (attention_dropout_fused says where).
// The computation is fused and tiled (memory does not grow with T×S); the
// _reference variant materialises the scores and exists for tests.
#pragma once
#include "tensor/tensor.h"

namespace eng {

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal = false,
                                    const Tensor& key_padding_mask = Tensor(), float score_divisor = 1.0f);
// The same on a packed projection: qkv [3, B, H, T, d] holds q, k, v along
// dim 0 (the [B, T, 3, H, d] output of a fused qkv linear layer, permuted; a
// view is fine).  The result is that of attention on the three selected
// views, but the backward returns ONE gradient [3, B, H, T, d] assembled from
// dq, dk, dv, instead of three zero-padded gradients that the engine would
// have to add up (three fills and two additions of the whole projection per
// layer).
// dropout_p > 0 drops attention probabilities as dropout(softmax(·), dropout_p)
// would, drawing from g (the default generator when null): the same mask, and
// the same counters consumed, as that materialised path, but inside the fused
// kernel (nothing of size T×S is stored; the backward redraws the mask).  Only
// where attention_dropout_fused(device, d) holds; pass 0 outside training.
Tensor scaled_dot_product_attention_packed(const Tensor& qkv, bool causal = false,
                                           const Tensor& key_padding_mask = Tensor(), float score_divisor = 1.0f,
                                           float dropout_p = 0.0f, Generator* g = nullptr);
// Whether the attention on `device` applies probability dropout inside its
// kernel for heads of dimension head_dim: always on the CPU; on the GPU with
// the flash kernel selected (cuda::set_attention_kernel) and head_dim <= 128.
bool attention_dropout_fused(Device device, int64_t head_dim);
Tensor scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, bool causal = false,
                                              const Tensor& key_padding_mask = Tensor(),
                                              float score_divisor = 1.0f);

}  // namespace eng
