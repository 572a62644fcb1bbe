// objectives.h: the MaMA pretraining losses (mama-reference.md §7) as fused
// differentiable ops, each ONE autograd node with a hand-derived backward, plus
// the late-start schedule that gates them.
//
//   clip_loss          (1) global image-text CLIP loss, CE(S) + CE(Sᵀ), S = e^θ·V·Uᵀ
//   nt_xent_loss       (2) multi-view NT-Xent (SimCLR, τ = 0.5, 2B × (2B − 1) logits)
//   partner_clip_loss  (3) the partner image against the anchor's caption, same θ as (1)
//   sla_loss           (4) symmetric local alignment, ragged sentence counts, hard max
//
// What each op expects (decided to match where the reference normalises):
//   - clip_loss / partner_clip_loss take the ALREADY L2-normalised global
//     embeddings v = norm(W_v·v̄), u = norm(W_t·z̄) (the model normalises them
//     with eng::l2_normalize: it needs them normalised anyway for retrieval
//     metrics and the `emb.image` / `emb.text` dumps).  No renormalisation here.
//   - nt_xent_loss takes the RAW multi-view head outputs a = g(v̄̃), b = g(v̄)
//     and normalises them itself (x / max(||x||, 1e-12)), as the NT-Xent loss
//     object of the reference does internally.
//   - sla_loss takes the ALREADY L2-normalised local embeddings p = norm(φ_v(·))
//     and s = norm(φ_t(·)) (the heads, their BatchNorm and the normalisation
//     belong to the model).
// The scale parameters (logit_scale θ, local_scale θ_l) are one-element tensors
// (shape [] or [1]) holding the LOG scale: the ops use exp(θ), no clamp, and
// return dL/dθ (shaped like the input).  All inputs f32.  The fused ops have
// CPU kernels; when an input is on the GPU, the same loss is computed from the
// engine's differentiable ops instead (objective_composed.cpp), so the
// embeddings stay on the device.  Each op returns a scalar [] on the inputs'
// device.
// The formulas and their gradients are derived in the objective_*.cpp files.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "tensor/tensor.h"

namespace mama {

// (1) §7 (1): image_emb v [B, D], text_emb u [B, D] (row n of each is one pair),
// logit_scale θ (one element).  S_nm = e^θ⟨v_n, u_m⟩,
//   L = CE(S) + CE(Sᵀ)      (the SUM of both directions, not their mean),
// CE(M) = (1/B) Σ_r −log softmax(M_r)[r].
eng::Tensor clip_loss(const eng::Tensor& image_emb, const eng::Tensor& text_emb, const eng::Tensor& logit_scale);

// (3) §7 (3): the same loss with the partner images' normalised embeddings ṽ
// [B, D] against the anchors' caption embeddings u [B, D] and the SAME θ as (1)
// (pass the same parameter: its gradient accumulates from both terms).  Only the
// name in error messages differs from clip_loss.
eng::Tensor partner_clip_loss(const eng::Tensor& partner_image_emb, const eng::Tensor& text_emb,
                              const eng::Tensor& logit_scale);

// (2) §7 (2), single process: a [B, D] (partner view, g(v̄̃)) and b [B, D]
// (anchor view, g(v̄)), raw (normalised here).  With z = [â; b̂] (2B rows),
// row i has the 2B − 1 logits ⟨z_i, z_j⟩/τ for j ≠ i and its positive is its
// other view j = (i + B) mod 2B;  L = mean over the 2B rows of the CE.
eng::Tensor nt_xent_loss(const eng::Tensor& a, const eng::Tensor& b, float temperature = 0.5f);

// (4) §7 (4): patches p [B, K, D] (image n's K normalised local patch
// embeddings), sentences s [ΣJ, D] (caption m's J_m normalised sentence
// embeddings, packed caption after caption in order), sentence_counts [B] = J_m
// (each ≥ 1, summing to ΣJ), local_scale θ_l (one element).  With
// c_{m,n,k,j} = ⟨p_{n,k}, s_{m,j}⟩ and e = e^{θ_l}:
//   T_mn = e·(1/J_m)·Σ_j max_k c      (each sentence takes its best patch)
//   I_mn = e·(1/K)  ·Σ_k max_j c      (each patch takes its best sentence)
//   L = CE(T) + CE(Tᵀ) + CE(I) + CE(Iᵀ)          (rows = captions m, columns = images n)
// The maxima are hard: the gradient goes to the arg-max only (ties: lowest index).
// symmetric = false drops the I terms (the reference without --symmetric_local).
eng::Tensor sla_loss(const eng::Tensor& patches, const eng::Tensor& sentences,
                     const std::vector<int64_t>& sentence_counts, const eng::Tensor& local_scale,
                     bool symmetric = true);

// The late start (`--late_loss`, §7 "Schedule details", §8.1).  `step` is the
// GLOBAL step = the number of optimizer steps already taken (Lightning's
// global_step: 0 during the first update, the same for every micro-batch of one
// accumulated step, and the current value during validation).
//   step <  late_start_step: L = clip only (2 CE terms).  The partner image is not
//     forwarded; φ_v, φ_t and θ_l are frozen (no gradient, hence no AdamW update
//     and no weight decay); the multi-view head g stays trainable but receives no
//     gradient (so AdamW skips it too).
//   step >= late_start_step: L = clip + mv_weight·nt_xent + partner_clip + sla
//     (9 CE terms); φ_v, φ_t, θ_l are unfrozen from the first step with
//     step == late_start_step on.
// late_start_step <= 0 means "active from the start".
struct LossSchedule {
    int64_t late_start_step = 8000;  // the published run: 8000 (of 40000)
    float mv_weight = 1.0f;          // λ_VV (`--slip_loss_lambda`)

    // Are the late losses (NT-Xent, partner CLIP, SLA) part of the loss at `step`?
    bool active(int64_t step) const { return step >= late_start_step; }
    // Do φ_v, φ_t and θ_l require gradients (are they trainable) at `step`?
    // Identical to active(): they are frozen exactly while the late losses are off.
    bool local_heads_trainable(int64_t step) const { return active(step); }
};

namespace detail {
// Shared by the objective_*.cpp files (not part of the public API).

// L = CE(M) + CE(Mᵀ) for a square [n, n] logit matrix M (row-major) with the
// diagonal as targets, computed in double with stable log-sum-exp.  When grad
// is non-null it receives dL/dM = (P + Q − 2I)/n, P the row softmax, Q the
// column softmax.
double symmetric_ce(const float* M, int64_t n, float* grad);

// Checks t is a one-element f32 tensor (a log scale), on any device.
void check_scale(const eng::Tensor& t, const char* op, const char* arg);
// The same, on the CPU, and returns its value.
float scale_value(const eng::Tensor& t, const char* op, const char* arg);
// SLA's packed sentences: checks there is one count per image, each >= 1, and
// that they sum to `rows` (the sentence embeddings); returns each caption's
// first row o_m = Σ_{m'<m} J_m'.
std::vector<int64_t> sentence_offsets(const std::vector<int64_t>& counts, int64_t images, int64_t rows,
                                      const char* op);
// Checks t is a defined f32 CPU tensor with `dims` dimensions.
void check_input(const eng::Tensor& t, int64_t dims, const char* op, const char* arg, const char* layout);
// Is any of the (defined) tensors on the GPU?  Then the op runs composed.
bool any_on_cuda(std::initializer_list<const eng::Tensor*> ts);

// The same losses built from the engine's differentiable ops, on the GPU when
// any input is there, else on the CPU (objective_composed.cpp).  The fused ops
// call them for GPU inputs; the tests compare the two.
eng::Tensor clip_loss_composed(const eng::Tensor& image_emb, const eng::Tensor& text_emb,
                               const eng::Tensor& logit_scale);
eng::Tensor nt_xent_loss_composed(const eng::Tensor& a, const eng::Tensor& b, float temperature);
eng::Tensor sla_loss_composed(const eng::Tensor& patches, const eng::Tensor& sentences,
                              const std::vector<int64_t>& sentence_counts, const eng::Tensor& local_scale,
                              bool symmetric);
}  // namespace detail

}  // namespace mama
