// objective_sla.cpp: symmetric local alignment (SLA; §7 (4)) with ragged
// sentence counts and hard-max routing, as one fused autograd node.
//
// Inputs: patches p [B, K, D] (image n, patch k), sentences s [ΣJ, D] packed by
// caption (caption m owns rows o_m .. o_m + J_m − 1, o_m = Σ_{m'<m} J_m'), both
// already L2-normalised by the model; θ_l the log local scale, e = e^{θ_l}.
//
// Forward:
//   C = P·Sᵀ  ([B·K, ΣJ], one GEMM):  c_{m,n,k,j} = C[n·K + k, o_m + j]
//   text→image:  k*(n, m, j) = argmax_k c,    T_mn = e/J_m · Σ_j c_{m,n,k*,j}
//   image→text:  j*(n, k, m) = argmax_j c,    I_mn = e/K   · Σ_k c_{m,n,k,j*}
//   L = CE(T) + CE(Tᵀ) + CE(I) + CE(Iᵀ)       (T, I: rows = captions m, columns = images n)
// Ties in an arg-max go to the lowest index (strict > while scanning upwards).
// Only the arg-max indices (B·ΣJ of them for T, B·K·B for I) are kept; C is freed.
//
// Backward, with upstream scalar g and G^T = dL/dT, G^I = dL/dI = (P + Q − 2I)/B
// (objective_common.cpp), both computed in the forward:
//   A hard max passes its gradient to the arg-max element only, so c_{m,n,k,j}
//   receives   g·G^T_mn·e/J_m  if k = k*(n, m, j)      (from T)
//            + g·G^I_mn·e/K    if j = j*(n, k, m)      (from I),
//   and c = ⟨p_{n,k}, s_{m,j}⟩ gives dp_{n,k} += (that)·s_{m,j}, ds_{m,j} += (that)·p_{n,k}.
//   ∂T_mn/∂θ_l = T_mn and ∂I_mn/∂θ_l = I_mn  ⇒  dL/dθ_l = g·(Σ G^T∘T + Σ G^I∘I).
// The routed gradient dL/dC is sparse (B·ΣJ + B·K·B nonzeros out of B·K·ΣJ), so it
// is applied directly as D-long axpys instead of two dense GEMMs over C (≈ ΣJ/B
// times fewer flops, and no [B·K, ΣJ] buffer).  Threads own disjoint outputs
// (dP: one image n each; dS: a per-image partial, summed over n in a fixed order
// afterwards) and add in a fixed order, so the result does not depend on the
// thread count.
#include <algorithm>
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

struct SlaSaved {
    Tensor p, s;                    // packed [B·K, D], [ΣJ, D] (the inputs themselves when packed)
    eng::autograd::VersionCheck p_version, s_version;
    std::vector<int64_t> count, off;  // J_m and o_m
    std::vector<int32_t> kstar;     // [B (image n), ΣJ]: best patch of every sentence against image n
    std::vector<int32_t> jstar;     // [B·K (image n, patch k), B (caption m)]: best sentence (global row)
    std::vector<float> GT, GI;      // dL/dT, dL/dI [B (m), B (n)]
    double dtheta = 0;              // Σ G^T∘T + Σ G^I∘I
    float e = 1;                    // e^{θ_l}
    int64_t B = 0, K = 0, D = 0, S = 0;
    bool symmetric = true;
};

// Below this many inner-loop operations a loop runs on one thread: on small
// inputs the fork/join costs more than the work (the result is the same either way).
constexpr int64_t kParallelWork = 1 << 15;

// Adds alpha·x to y (D values).
inline void axpy(float* __restrict y, float alpha, const float* __restrict x, int64_t D) {
    for (int64_t d = 0; d < D; ++d) y[d] += alpha * x[d];
}

}  // namespace

Tensor sla_loss(const Tensor& patches, const Tensor& sentences, const std::vector<int64_t>& sentence_counts,
                const Tensor& local_scale, bool symmetric) {
    eng::profile::Scope profile_scope("sla_loss");
    if (detail::any_on_cuda({&patches, &sentences, &local_scale}))  // the fused kernel is CPU-only
        return detail::sla_loss_composed(patches, sentences, sentence_counts, local_scale, symmetric);
    const char* op = "sla_loss";
    detail::check_input(patches, 3, op, "patches", "[B, K, D] (images, patches, width)");
    detail::check_input(sentences, 2, op, "sentences", "[sum of J_m, D] (packed sentence embeddings)");
    const int64_t B = patches.size(0), K = patches.size(1), D = patches.size(2), S = sentences.size(0);
    ENG_CHECK(B >= 1 && K >= 1 && D >= 1, op, ": empty patches of shape ", eng::shape_str(patches.shape()));
    ENG_CHECK(sentences.size(1) == D, op, ": sentences ", eng::shape_str(sentences.shape()),
              " and patches ", eng::shape_str(patches.shape()), " must have the same width D");
    auto sv = std::make_shared<SlaSaved>();
    sv->count = sentence_counts;
    sv->off = detail::sentence_offsets(sentence_counts, B, S, op);
    const float theta = detail::scale_value(local_scale, op, "local_scale");

    sv->p = patches.detach().contiguous();
    sv->s = sentences.detach().contiguous();
    sv->p_version = eng::autograd::VersionCheck(sv->p);
    sv->s_version = eng::autograd::VersionCheck(sv->s);
    sv->B = B;
    sv->K = K;
    sv->D = D;
    sv->S = S;
    sv->symmetric = symmetric;
    sv->e = float(std::exp(double(theta)));
    const float* P = sv->p.data<float>();
    const float* Sp = sv->s.data<float>();

    // C = P·Sᵀ: [B·K, ΣJ]
    // (not zero-initialised: the GEMM with beta = 0 overwrites it)
    std::unique_ptr<float[]> C(new float[size_t(B * K * S)]);
    eng::cpu::gemm(false, true, B * K, S, D, 1.0f, P, D, Sp, D, 0.0f, C.get(), S);

    sv->kstar.assign(size_t(B * S), 0);
    if (symmetric) sv->jstar.assign(size_t(B * K * B), 0);
    std::vector<float> T(size_t(B * B)), I(size_t(B * B), 0.0f);
#pragma omp parallel for schedule(static) if (B * K * S >= kParallelWork)
    for (int64_t n = 0; n < B; ++n) {
        const float* Cn = C.get() + n * K * S;  // image n's K rows
        // text→image: running column maxima over the patches (k ascending, strict >).
        // A NaN wins and stays (as torch.max), so a NaN input gives a NaN loss.
        std::vector<float> best(Cn, Cn + S);
        int32_t* ks = sv->kstar.data() + n * S;
        for (int64_t k = 1; k < K; ++k) {
            const float* row = Cn + k * S;
            for (int64_t j = 0; j < S; ++j)
                if (row[j] > best[size_t(j)] || row[j] != row[j]) {
                    best[size_t(j)] = row[j];
                    ks[j] = int32_t(k);
                }
        }
        for (int64_t m = 0; m < B; ++m) {
            double acc = 0;
            for (int64_t j = 0; j < sv->count[size_t(m)]; ++j) acc += best[size_t(sv->off[size_t(m)] + j)];
            T[size_t(m * B + n)] = float(double(sv->e) * acc / double(sv->count[size_t(m)]));
        }
        if (!symmetric) continue;
        // image→text: each patch's best sentence within every caption.
        std::vector<double> acc(size_t(B), 0.0);
        for (int64_t k = 0; k < K; ++k) {
            const float* row = Cn + k * S;
            int32_t* js = sv->jstar.data() + (n * K + k) * B;
            for (int64_t m = 0; m < B; ++m) {
                const int64_t o = sv->off[size_t(m)], J = sv->count[size_t(m)];
                int64_t arg = o;
                for (int64_t j = o + 1; j < o + J; ++j)
                    if (row[j] > row[arg] || row[j] != row[j]) arg = j;
                js[m] = int32_t(arg);
                acc[size_t(m)] += row[arg];
            }
        }
        for (int64_t m = 0; m < B; ++m) I[size_t(m * B + n)] = float(double(sv->e) * acc[size_t(m)] / double(K));
    }
    C.reset();  // free before the (small) loss computation

    const bool need_grad = eng::autograd::any_requires_grad({patches, sentences, local_scale});
    if (need_grad) {
        sv->GT.resize(size_t(B * B));
        if (symmetric) sv->GI.resize(size_t(B * B));
    }
    double loss = detail::symmetric_ce(T.data(), B, need_grad ? sv->GT.data() : nullptr);
    if (symmetric) loss += detail::symmetric_ce(I.data(), B, need_grad ? sv->GI.data() : nullptr);
    Tensor out = eng::scalar_tensor(float(loss));
    if (!need_grad) return eng::autograd::untracked(out, {patches, sentences, local_scale});
    for (int64_t i = 0; i < B * B; ++i) {
        sv->dtheta += double(sv->GT[size_t(i)]) * double(T[size_t(i)]);
        if (symmetric) sv->dtheta += double(sv->GI[size_t(i)]) * double(I[size_t(i)]);
    }

    const bool np = patches.requires_grad(), ns = sentences.requires_grad(), nt = local_scale.requires_grad();
    const eng::Shape p_shape = patches.shape(), s_shape = sentences.shape(), t_shape = local_scale.shape();
    return eng::autograd::record(op, out, {patches, sentences, local_scale},
                                 [sv, np, ns, nt, p_shape, s_shape, t_shape](const Tensor& grad) -> std::vector<Tensor> {
        sv->p_version.check();
        sv->s_version.check();
        const float g = grad.item();
        const int64_t B = sv->B, K = sv->K, D = sv->D, S = sv->S;
        const float* P = sv->p.data<float>();
        const float* Sp = sv->s.data<float>();
        // Routed weights: wT(m, n) for every sentence of caption m, wI(m, n) for every patch.
        std::vector<float> wT(size_t(B * B)), wI(size_t(B * B), 0.0f);
        for (int64_t m = 0; m < B; ++m)
            for (int64_t n = 0; n < B; ++n) {
                wT[size_t(m * B + n)] = g * sv->GT[size_t(m * B + n)] * sv->e / float(sv->count[size_t(m)]);
                if (sv->symmetric) wI[size_t(m * B + n)] = g * sv->GI[size_t(m * B + n)] * sv->e / float(K);
            }
        Tensor dp, ds, dt;
        if (np) {  // dp_{n,k}: owned by image n
            dp = eng::zeros(p_shape);
            float* dP = dp.data<float>();
#pragma omp parallel for schedule(static) if (B * K * B * D >= kParallelWork)
            for (int64_t n = 0; n < B; ++n) {
                for (int64_t m = 0; m < B; ++m)
                    for (int64_t j = sv->off[size_t(m)]; j < sv->off[size_t(m)] + sv->count[size_t(m)]; ++j)
                        axpy(dP + (n * K + sv->kstar[size_t(n * S + j)]) * D, wT[size_t(m * B + n)], Sp + j * D, D);
                if (!sv->symmetric) continue;
                for (int64_t k = 0; k < K; ++k) {
                    const int32_t* js = sv->jstar.data() + (n * K + k) * B;
                    for (int64_t m = 0; m < B; ++m)
                        axpy(dP + (n * K + k) * D, wI[size_t(m * B + n)], Sp + int64_t(js[m]) * D, D);
                }
            }
        }
        if (ns) {
            // ds: every image n adds into its own partial [ΣJ, D] (image n's patches
            // are read once, the partial stays in cache), then the partials are
            // summed in the fixed order n = 0..B−1, row by row.
            std::vector<float> part(size_t(B * S * D), 0.0f);
#pragma omp parallel for schedule(static) if (B * K * B * D >= kParallelWork)
            for (int64_t n = 0; n < B; ++n) {
                float* dS = part.data() + n * S * D;
                for (int64_t m = 0; m < B; ++m)
                    for (int64_t j = sv->off[size_t(m)]; j < sv->off[size_t(m)] + sv->count[size_t(m)]; ++j)
                        axpy(dS + j * D, wT[size_t(m * B + n)], P + (n * K + sv->kstar[size_t(n * S + j)]) * D, D);
                if (!sv->symmetric) continue;
                for (int64_t k = 0; k < K; ++k) {
                    const int32_t* js = sv->jstar.data() + (n * K + k) * B;
                    for (int64_t m = 0; m < B; ++m)
                        axpy(dS + int64_t(js[m]) * D, wI[size_t(m * B + n)], P + (n * K + k) * D, D);
                }
            }
            ds = eng::zeros(s_shape);
            float* out = ds.data<float>();
#pragma omp parallel for schedule(static) if (B * S * D >= kParallelWork)
            for (int64_t j = 0; j < S; ++j)
                for (int64_t n = 0; n < B; ++n) axpy(out + j * D, 1.0f, part.data() + (n * S + j) * D, D);
        }
        if (nt) dt = eng::full(t_shape, float(double(g) * sv->dtheta));
        return {dp, ds, dt};
    });
}

}  // namespace mama
