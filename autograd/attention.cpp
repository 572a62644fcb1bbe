// attention.cpp: autograd wrapper of scaled dot-product attention.
//
// With s = c·Q·Kᵀ (c = 1/(√d·score_divisor)), P = softmax_rows(s), O = P·V and
// upstream gradient dO:
//   dV = Pᵀ·dO                       (O is linear in V)
//   dP = dO·Vᵀ
//   dS_ij = P_ij (dP_ij - D_i),  D_i = Σ_k P_ik dP_ik = dO_i·O_i
//                                   (softmax Jacobian ∂P_ik/∂s_ij = P_ik(δ_kj - P_ij))
//   dQ = c·dS·K,  dK = c·dSᵀ·Q       (s is bilinear in Q and K)
// Masked entries have P = 0, hence dS = 0: no gradient flows through them.  A
// row with every key masked has P = 0 and O = 0, so its gradients are 0.
// The fused kernel saves only the per-row lse and recomputes P = exp(s - lse)
// tile by tile in backward (tensor/cpu/attention.cpp).
#include "autograd/attention.h"

#include "autograd/index_ops.h"
#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/saved.h"
#include "autograd/views.h"
#include "tensor/attention.h"
#include "tensor/cuda_backend.h"

namespace eng {

// q, k and v reach the backward only as operands of products (the scores,
// dV, dP, dK, dQ), which round them to bf16 in bf16 mode: kept as bf16 then
// (autograd/saved.h).  Not for the CUDA `fused` kernel, which computes in f32
// whatever the mode, nor (for simplicity: it exists for tests) for the CPU
// reference path, whose products do follow the mode but keep f32 operands.
static autograd::SavedTensor saved_operand(const Tensor& t, kernels::AttentionPath path) {
    const bool f32_kernel = path == kernels::AttentionPath::Reference ||
                            (t.is_cuda() && cuda::attention_kernel() == cuda::AttentionKernel::fused);
    return f32_kernel ? autograd::SavedTensor(t) : autograd::SavedTensor::for_products(t, !t.is_leaf());
}

static Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal, const Tensor& mask,
                        float divisor, kernels::AttentionPath path) {
    profile::Scope profile_scope("scaled_dot_product_attention");
    Tensor lse;
    Tensor out = kernels::attention_forward(q, k, v, causal, mask, divisor, &lse, path);
    if (!autograd::any_requires_grad({q, k, v})) return autograd::untracked(out, {q, k, v});
    using autograd::SavedTensor;
    SavedTensor sq = saved_operand(q, path), sk = saved_operand(k, path), sv = saved_operand(v, path), so(out, true);
    Tensor smask = mask.defined() ? mask.detach() : Tensor();
    return autograd::record("scaled_dot_product_attention", out, {q, k, v},
                            [=](const Tensor& g) -> std::vector<Tensor> {
                                kernels::AttentionGrads r = kernels::attention_backward(
                                    g, sq.get(), sk.get(), sv.get(), so.get(), lse, causal, smask, divisor, path);
                                return {r.dq, r.dk, r.dv};
                            });
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                    const Tensor& key_padding_mask, float score_divisor) {
    return attention(q, k, v, causal, key_padding_mask, score_divisor, kernels::AttentionPath::Fused);
}

Tensor scaled_dot_product_attention_packed(const Tensor& qkv, bool causal, const Tensor& key_padding_mask,
                                           float score_divisor, float dropout_p, Generator* g) {
    profile::Scope profile_scope("scaled_dot_product_attention_packed");
    ENG_CHECK(qkv.dim() == 5 && qkv.size(0) == 3, "scaled_dot_product_attention_packed: qkv must be [3, B, H, T, d], "
              "got ", shape_str(qkv.shape()));
    const Tensor d = qkv.detach();  // the three views are taken without recording them
    const Tensor q = select(d, 0, 0), k = select(d, 0, 1), v = select(d, 0, 2);
    kernels::AttentionDropout drop;
    if (dropout_p > 0.0f) {  // one counter per probability [B, H, T, S], as eng::dropout on them
        Generator& gen = g ? *g : default_generator();
        drop.p = dropout_p;
        drop.seed = gen.seed();
        drop.offset = gen.reserve(uint64_t(q.size(0) * q.size(1) * q.size(2) * k.size(2)));
    }
    Tensor lse;
    Tensor out = kernels::attention_forward(q, k, v, causal, key_padding_mask, score_divisor, &lse,
                                            kernels::AttentionPath::Fused, drop);
    if (!autograd::any_requires_grad({qkv})) return autograd::untracked(out, {qkv});
    // The three views share qkv's storage: kept as one.
    autograd::SavedTensor saved_qkv = saved_operand(qkv, kernels::AttentionPath::Fused), so(out, true);
    Tensor smask = key_padding_mask.defined() ? key_padding_mask.detach() : Tensor();
    return autograd::record("scaled_dot_product_attention_packed", out, {qkv},
                            [=](const Tensor& g) -> std::vector<Tensor> {
                                const Tensor all = saved_qkv.get();
                                return {kernels::attention_backward_packed(g, select(all, 0, 0), select(all, 0, 1),
                                                                           select(all, 0, 2), so.get(), lse, causal,
                                                                           smask, score_divisor, drop)};
                            });
}

bool attention_dropout_fused(Device device, int64_t head_dim) {
    if (device == Device::CPU) return true;
    cpu::AttnDims n{};
    n.d = n.dv = head_dim;
    return cuda::attention_fused_dropout(n);
}

Tensor scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                                              const Tensor& key_padding_mask, float score_divisor) {
    return attention(q, k, v, causal, key_padding_mask, score_divisor, kernels::AttentionPath::Reference);
}

}  // namespace eng
