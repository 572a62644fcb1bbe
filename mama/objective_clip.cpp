// objective_clip.cpp: the global image-text CLIP loss (§7 (1)) and the partner
// image-text CLIP loss (§7 (3)), one fused autograd node each.
//
// Forward (v, u [B, D], already L2-normalised by the model; θ the log scale):
//   X = V·Uᵀ (B × B cosines),  s = e^θ,  S = s·X,
//   L = CE(S) + CE(Sᵀ)   (sum of the image→text and text→image directions).
// Backward, with G = dL/dS = (P + Q − 2I)/B (objective_common.cpp) and the
// upstream scalar g:
//   S_nm = s·Σ_d v_nd u_md  ⇒  dL/dv_n = g·s·Σ_m G_nm u_m,  i.e. dV = g·s·G·U
//                              dL/du_m = g·s·Σ_n G_nm v_n,  i.e. dU = g·s·Gᵀ·V
//   ∂S_nm/∂θ = S_nm          ⇒  dL/dθ = g·Σ_nm G_nm·S_nm.
// G and Σ G∘S are computed in the forward (B × B, cheap) and saved with V and U.
// The embeddings are NOT renormalised here, so the gradient is that of the loss
// as a function of the given (normalised) vectors; the model's l2_normalize node
// carries it back through the normalisation.
#include <cmath>
#include <memory>

#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/saved.h"
#include "autograd/views.h"
#include "mama/objectives.h"
#include "tensor/cpu/gemm.h"

namespace mama {

using eng::Tensor;

namespace {

struct ClipSaved {
    Tensor v, u;            // packed [B, D] (the inputs themselves when packed)
    eng::autograd::VersionCheck v_version, u_version;
    std::vector<float> G;   // dL/dS [B, B]
    float s = 1;            // e^θ
    double dtheta = 0;      // Σ G∘S
    int64_t B = 0, D = 0;
};

Tensor clip_like(const char* op, const Tensor& image_emb, const Tensor& text_emb, const Tensor& logit_scale) {
    eng::profile::Scope profile_scope(op);
    detail::check_input(image_emb, 2, op, "image embeddings", "[B, D]");
    detail::check_input(text_emb, 2, op, "text embeddings", "[B, D]");
    ENG_CHECK(image_emb.shape() == text_emb.shape(), op, ": image embeddings ", eng::shape_str(image_emb.shape()),
              " and text embeddings ", eng::shape_str(text_emb.shape()),
              " must have the same shape [B, D] (row n of each is one image-caption pair)");
    ENG_CHECK(image_emb.size(0) >= 1 && image_emb.size(1) >= 1, op, ": empty embeddings of shape ",
              eng::shape_str(image_emb.shape()));
    const float theta = detail::scale_value(logit_scale, op, "logit_scale");

    auto sv = std::make_shared<ClipSaved>();
    sv->v = image_emb.detach().contiguous();
    sv->u = text_emb.detach().contiguous();
    sv->v_version = eng::autograd::VersionCheck(sv->v);
    sv->u_version = eng::autograd::VersionCheck(sv->u);
    const int64_t B = image_emb.size(0), D = image_emb.size(1);
    sv->B = B;
    sv->D = D;
    sv->s = float(std::exp(double(theta)));

    // S = e^θ · V·Uᵀ
    std::vector<float> S(size_t(B * B));
    eng::cpu::gemm(false, true, B, B, D, sv->s, sv->v.data<float>(), D, sv->u.data<float>(), D, 0.0f, S.data(), B);
    const bool need_grad = eng::autograd::any_requires_grad({image_emb, text_emb, logit_scale});
    if (need_grad) sv->G.resize(size_t(B * B));
    double loss = detail::symmetric_ce(S.data(), B, need_grad ? sv->G.data() : nullptr);
    Tensor out = eng::scalar_tensor(float(loss));
    if (!need_grad) return eng::autograd::untracked(out, {image_emb, text_emb, logit_scale});
    for (size_t i = 0; i < S.size(); ++i) sv->dtheta += double(sv->G[i]) * double(S[i]);

    const bool nv = image_emb.requires_grad(), nu = text_emb.requires_grad(), nt = logit_scale.requires_grad();
    const eng::Shape theta_shape = logit_scale.shape();
    return eng::autograd::record(op, out, {image_emb, text_emb, logit_scale},
                                 [sv, nv, nu, nt, theta_shape](const Tensor& grad) -> std::vector<Tensor> {
        sv->v_version.check();
        sv->u_version.check();
        const float g = grad.item();
        const int64_t B = sv->B, D = sv->D;
        Tensor dv, du, dtheta;
        if (nv) {  // dV = g·s·G·U
            dv = eng::empty({B, D});
            eng::cpu::gemm(false, false, B, D, B, g * sv->s, sv->G.data(), B, sv->u.data<float>(), D, 0.0f,
                           dv.data<float>(), D);
        }
        if (nu) {  // dU = g·s·Gᵀ·V
            du = eng::empty({B, D});
            eng::cpu::gemm(true, false, B, D, B, g * sv->s, sv->G.data(), B, sv->v.data<float>(), D, 0.0f,
                           du.data<float>(), D);
        }
        if (nt) dtheta = eng::full(theta_shape, float(double(g) * sv->dtheta));
        return {dv, du, dtheta};
    });
}

}  // namespace

Tensor clip_loss(const Tensor& image_emb, const Tensor& text_emb, const Tensor& logit_scale) {
    if (detail::any_on_cuda({&image_emb, &text_emb, &logit_scale}))  // the fused kernel is CPU-only
        return detail::clip_loss_composed(image_emb, text_emb, logit_scale);
    return clip_like("clip_loss", image_emb, text_emb, logit_scale);
}

Tensor partner_clip_loss(const Tensor& partner_image_emb, const Tensor& text_emb, const Tensor& logit_scale) {
    if (detail::any_on_cuda({&partner_image_emb, &text_emb, &logit_scale}))
        return detail::clip_loss_composed(partner_image_emb, text_emb, logit_scale);
    return clip_like("partner_clip_loss", partner_image_emb, text_emb, logit_scale);
}

}  // namespace mama
