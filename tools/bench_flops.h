// bench_flops.h: the analytic FLOP model of one MaMA training step, used by
// `bench step` to turn step times into GFLOP/s (header-only; tested by
// tests/tools/test_bench_flops.cpp against a hand count).
//
// What is counted: the multiply-adds of the matrix products (2 FLOPs each):
// every linear layer, the patch embedding, the attention products Q·Kᵀ and P·V,
// the head layers, and the similarity matrices of the losses.  Elementwise work
// (LayerNorm, GELU, softmax, BatchNorm, AdamW) is memory-bound and left out, as
// is usual for model FLOPs.  The counts are NOMINAL, the same for any
// implementation, so that GFLOP/s of two programs compare as their step times:
//   - the patch embedding counts all in_channels (our grayscale shortcut, which
//     runs it on one channel, does a third of that work but is credited the full);
//   - causal text attention counts the full T × T products, as PyTorch's eager
//     GPT-2 computes them (our fused kernel skips the masked half of each
//     causal head);
//   - recomputation (fused attention's backward, activation checkpointing) is
//     not counted.
// Backward per product Y = X·W: dX = dY·Wᵀ when X needs a gradient, and
// dW = Xᵀ·dY when W is trained, each as many FLOPs as the forward.  So:
//   - ViT (trained): 2× forward, except the patch embedding (the image needs no
//     gradient: dW only, 1×);
//   - GPT-2 base weights are frozen under LoRA: dX only (1×), and in layer 0 the
//     c_attn input (LayerNorm of the frozen embeddings) needs no gradient, so
//     that product has no backward at all; LoRA's two small products are 2×
//     (layer 0's first one 1×: dA only); Q·Kᵀ and P·V are 2× (q, k, v depend on
//     LoRA in every layer).  Without LoRA (r = 0) nothing in the text tower
//     needs a gradient;
//   - heads and loss similarities: 2×; SLA's hard maxima send the gradient to one
//     element per (caption sentence, image) pair (T terms) and per (image patch,
//     caption) pair (I terms, when symmetric): 2 dot-product gradients of E
//     each, i.e. 4·E FLOPs per selected element.
// The LM head (hidden · wteᵀ) is NOT part of MaMA (the reference replaces it by
// the identity) and is not counted.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mama/model.h"
#include "tensor/check.h"

namespace bench {

// The batch geometry of one step (what the config alone does not fix).
struct StepShape {
    int64_t batch = 8;        // B samples (each an image, its partner and a caption)
    int64_t image_size = 224; // square images, a multiple of the patch size
    int64_t text_len = 128;   // T tokens per caption (padding included)
    int64_t sentences = 64;   // ΣJ: separator tokens over the whole batch
    bool late = true;         // the late losses are on (partner view, φ_v, φ_t, g, SLA)
};

struct FlopPart {
    std::string name;
    double forward = 0, backward = 0;
};

struct FlopModel {
    std::vector<FlopPart> parts;
    double forward() const {
        double s = 0;
        for (auto& p : parts) s += p.forward;
        return s;
    }
    double backward() const {
        double s = 0;
        for (auto& p : parts) s += p.backward;
        return s;
    }
    double total() const { return forward() + backward(); }
};

// 2·M·N·K: one [M, K] × [K, N] product.
inline double gemm_flops(int64_t M, int64_t N, int64_t K) { return 2.0 * double(M) * double(N) * double(K); }

inline FlopModel count_step_flops(const mama::MamaConfig& c, const StepShape& s) {
    ENG_CHECK(s.batch >= 1 && s.text_len >= 1 && s.sentences >= 0, "FLOP model: bad step shape");
    ENG_CHECK(s.image_size % c.vit.patch == 0, "FLOP model: image size ", s.image_size,
              " is not a multiple of the patch ", c.vit.patch);
    ENG_CHECK(c.lora_r == 0 || c.lora_target == "c_attn", "FLOP model: only LoRA on c_attn is modelled, got '",
              c.lora_target, "'");
    const int64_t B = s.batch, views = s.late ? 2 : 1;
    FlopModel m;

    // ---- image tower, per view (anchor; partner when late) ----
    {
        const auto& v = c.vit;
        const int64_t g = s.image_size / v.patch, N = g * g, T = 1 + v.registers + N, D = v.width;
        const int64_t H = v.heads, hd = D / H, F = int64_t(std::llround(double(D) * v.mlp_ratio));
        const int64_t rows = B * T;
        FlopPart patch{"vit patch embed", 0, 0}, blocks{"vit blocks", 0, 0};
        patch.forward = gemm_flops(B * N, D, v.in_channels * v.patch * v.patch);
        patch.backward = patch.forward;  // dW only
        const double qk_av = double(B * H) * (gemm_flops(T, T, hd) + gemm_flops(T, hd, T));
        const double linear = gemm_flops(rows, 3 * D, D) + gemm_flops(rows, D, D) + gemm_flops(rows, F, D) +
                              gemm_flops(rows, D, F);
        blocks.forward = double(v.depth) * (linear + qk_av);
        blocks.backward = 2.0 * blocks.forward;
        patch.forward *= double(views), patch.backward *= double(views);
        blocks.forward *= double(views), blocks.backward *= double(views);
        m.parts.push_back(patch);
        m.parts.push_back(blocks);
    }

    // ---- text tower (GPT-2, frozen base, LoRA on c_attn) ----
    {
        const auto& t = c.text;
        const int64_t T = s.text_len, D = t.width, H = t.heads, hd = D / H, F = t.inner_width(), r = c.lora_r;
        const int64_t rows = B * T;
        FlopPart base{"text blocks (frozen base)", 0, 0}, lora{"text LoRA", 0, 0};
        const double c_attn = gemm_flops(rows, 3 * D, D);
        const double rest = gemm_flops(rows, D, D) + gemm_flops(rows, F, D) + gemm_flops(rows, D, F);
        const double qk_av = double(B * H) * (gemm_flops(T, T, hd) + gemm_flops(T, hd, T));
        const double lora_a = gemm_flops(rows, r, D), lora_b = gemm_flops(rows, 3 * D, r);
        base.forward = double(t.layers) * (c_attn + rest + qk_av);
        lora.forward = double(t.layers) * (lora_a + lora_b);
        if (r > 0 && t.layers > 0) {
            // layers 1..L-1: every base product 1× (dX), attention 2×; layer 0: no c_attn backward.
            base.backward = double(t.layers) * (rest + 2.0 * qk_av) + double(t.layers - 1) * c_attn;
            lora.backward = double(t.layers) * 2.0 * (lora_a + lora_b) - lora_a;  // layer 0: dA only
        }
        m.parts.push_back(base);
        m.parts.push_back(lora);
    }

    // ---- heads ----
    {
        const int64_t Dv = c.vit.width, Dt = c.text.width, E = c.embed_dim, Hl = c.local_hidden;
        const int64_t Hm = c.mv_hidden > 0 ? c.mv_hidden : Dv;
        const int64_t N = (s.image_size / c.vit.patch) * (s.image_size / c.vit.patch);
        FlopPart proj{"projections W_v, W_t", 0, 0}, heads{"local heads, multi-view head", 0, 0};
        // Without LoRA the text features need no gradient: W_t and φ_t's first
        // layer then get dW only.
        const double text_in = c.lora_r > 0 ? 2.0 : 1.0;
        proj.forward = double(views) * gemm_flops(B, E, Dv) + gemm_flops(B, E, Dt);
        proj.backward = 2.0 * double(views) * gemm_flops(B, E, Dv) + text_in * gemm_flops(B, E, Dt);
        if (s.late) {
            const double g_phiv = 2.0 * (gemm_flops(B, Hm, Dv) + gemm_flops(B, E, Hm)) +  // g on both views
                                  gemm_flops(B * N, Hl, Dv) + gemm_flops(B * N, E, Hl);   // φ_v on the patches
            heads.forward = g_phiv + gemm_flops(s.sentences, Hl, Dt) + gemm_flops(s.sentences, E, Hl);  // + φ_t
            heads.backward = 2.0 * g_phiv + text_in * gemm_flops(s.sentences, Hl, Dt) +
                             2.0 * gemm_flops(s.sentences, E, Hl);
        }
        m.parts.push_back(proj);
        m.parts.push_back(heads);
    }

    // ---- losses: similarity matrices ----
    {
        const int64_t E = c.embed_dim, N = (s.image_size / c.vit.patch) * (s.image_size / c.vit.patch);
        FlopPart loss{"loss similarities", 0, 0};
        loss.forward = double(views) * gemm_flops(B, B, E);  // CLIP (and partner CLIP)
        loss.backward = 2.0 * loss.forward;
        if (s.late) {
            const double nt = gemm_flops(2 * B, 2 * B, E);
            const double sla = gemm_flops(B * N, s.sentences, E);
            const double picked = double(B * s.sentences) + (c.symmetric_local ? double(B * B * N) : 0.0);
            loss.forward += nt + sla;
            loss.backward += 2.0 * nt + 4.0 * double(E) * picked;
        }
        m.parts.push_back(loss);
    }
    return m;
}

}  // namespace bench
