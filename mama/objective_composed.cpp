// objective_composed.cpp: the four MaMA losses written with the engine's
// differentiable ops (matmul, max with indices, narrow, cross_entropy, ...)
// instead of one fused node each, so that they run on any device.
//
// The fused ops of objective_{clip,ntxent,sla}.cpp have CPU kernels only; with
// inputs on the GPU they call these instead, so the embeddings never leave the
// device and autograd derives the backward from the ops' own (tested) CUDA
// backward kernels.  The formulas are those of objectives.h, step by step:
//
//   clip:    S = e^θ·V·Uᵀ,  L = CE(S) + CE(Sᵀ)  with the diagonal as targets
//   ntxent:  Z = norm([a; b]),  A = Z·Zᵀ/τ with the diagonal set to −∞ (a row's
//            own entry is not a logit; e^−∞ = 0 drops it from the softmax and
//            the mask passes no gradient), targets p(i) = (i + B) mod 2B
//   sla:     C = P·Sᵀ [B·K, ΣJ];  T_mn = e/J_m·Σ_j max_k C (the mean over caption
//            m's columns of the column maxima of image n's K rows);
//            I_mn = e/K·Σ_k max_{j in caption m} C (caption m's columns narrowed
//            out, one max per patch);  L = CE(T) + CE(Tᵀ) + CE(I) + CE(Iᵀ)
//
// max passes its gradient to the arg-max only, lowest index on ties, the rule
// of the fused SLA kernel, so both route identical gradients.  The differences
// are rounding only: the fused ops sum the cross-entropies in double.  The
// tests (tests/mama/test_objectives.cpp on the CPU, tests/cuda/test_cuda_mama.cpp
// on the GPU) compare these with the fused ops, values and gradients.
#include <cmath>
#include <initializer_list>

#include "autograd/ops.h"
#include "mama/objectives.h"

namespace mama::detail {

using eng::Tensor;

namespace {

// The device the loss runs on: the GPU when any input is there.  Inputs
// elsewhere (say a scale kept on the host) are moved to it, differentiably.
eng::Device device_of(std::initializer_list<const Tensor*> ts) {
    return any_on_cuda(ts) ? eng::Device::CUDA : eng::Device::CPU;
}
Tensor on(const Tensor& t, eng::Device d) { return eng::to_device(t, d); }

// CE(M) + CE(Mᵀ) for a square [n, n] M with the diagonal as targets.
Tensor symmetric_ce_of(const Tensor& M) {
    const Tensor t = eng::arange(0, M.size(0), 1, {eng::DType::i32, M.device()});  // the diagonal
    return eng::cross_entropy(M, t) + eng::cross_entropy(eng::transpose(M, 0, 1), t);
}

}  // namespace

Tensor clip_loss_composed(const Tensor& image_emb, const Tensor& text_emb, const Tensor& logit_scale) {
    const char* op = "clip_loss";
    ENG_CHECK(image_emb.dim() == 2 && text_emb.shape() == image_emb.shape(), op,
              ": image and text embeddings must both be [B, D], got ", eng::shape_str(image_emb.shape()), " and ",
              eng::shape_str(text_emb.shape()));
    check_scale(logit_scale, op, "logit_scale");
    const eng::Device d = device_of({&image_emb, &text_emb, &logit_scale});
    Tensor S = eng::matmul(on(image_emb, d), eng::transpose(on(text_emb, d), 0, 1));
    S = S * eng::exp(eng::reshape(on(logit_scale, d), {1}));
    return symmetric_ce_of(S);
}

Tensor nt_xent_loss_composed(const Tensor& a, const Tensor& b, float temperature) {
    const char* op = "nt_xent_loss";
    ENG_CHECK(a.dim() == 2 && a.shape() == b.shape() && a.size(0) >= 1, op,
              ": the two views must have the same shape [B, D], got a ", eng::shape_str(a.shape()), " and b ",
              eng::shape_str(b.shape()));
    ENG_CHECK(std::isfinite(temperature) && temperature > 0, op, ": temperature must be > 0, got ", temperature);
    const eng::Device d = device_of({&a, &b});
    const int64_t B = a.size(0), N = 2 * B;
    const Tensor z = eng::l2_normalize(eng::concat({on(a, d), on(b, d)}, 0), -1, 1e-12f);
    Tensor A = eng::matmul(z, eng::transpose(z, 0, 1)) / temperature;
    std::vector<float> eye(size_t(N * N), 0.0f);
    std::vector<int32_t> positive(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) {
        eye[size_t(i * N + i)] = 1.0f;
        positive[size_t(i)] = int32_t((i + B) % N);
    }
    A = eng::masked_fill(A, eng::from_vector(eye, {N, N}, {eng::DType::f32, d}), -INFINITY);
    return eng::cross_entropy(A, eng::from_ivector(positive, {N}, d));
}

Tensor sla_loss_composed(const Tensor& patches, const Tensor& sentences, const std::vector<int64_t>& sentence_counts,
                         const Tensor& local_scale, bool symmetric) {
    const char* op = "sla_loss";
    ENG_CHECK(patches.dim() == 3 && sentences.dim() == 2 && sentences.size(1) == patches.size(2), op,
              ": expected patches [B, K, D] and sentences [sum of J_m, D], got ", eng::shape_str(patches.shape()),
              " and ", eng::shape_str(sentences.shape()));
    check_scale(local_scale, op, "local_scale");
    const eng::Device d = device_of({&patches, &sentences, &local_scale});
    const int64_t B = patches.size(0), K = patches.size(1), D = patches.size(2);
    const int64_t total = sentences.size(0);
    const std::vector<int64_t> offsets = sentence_offsets(sentence_counts, B, total, op);

    // C[n·K + k, o_m + j] = ⟨p_{n,k}, s_{m,j}⟩
    const Tensor C = eng::matmul(eng::reshape(on(patches, d), {B * K, D}), eng::transpose(on(sentences, d), 0, 1));
    // Each sentence's best patch in each image: [B (n), ΣJ].
    const Tensor best_patch = eng::max(eng::reshape(C, {B, K, total}), 1).values;
    std::vector<Tensor> t_rows, i_cols;
    for (int64_t m = 0; m < B; ++m) {
        const int64_t o = offsets[size_t(m)], J = sentence_counts[size_t(m)];
        t_rows.push_back(eng::mean(eng::narrow(best_patch, 1, o, J), {1}));  // T[m, :] / e, over images n
        if (symmetric)  // each patch's best sentence of caption m: [B·K]
            i_cols.push_back(eng::max(eng::narrow(C, 1, o, J), 1).values);
    }
    const Tensor e = eng::exp(eng::reshape(on(local_scale, d), {1}));
    Tensor loss = symmetric_ce_of(eng::stack(t_rows, 0) * e);  // T [m, n]
    if (symmetric) {
        // [B·K, B (m)] -> mean over each image's K patches -> [B (n), B (m)]; I is its transpose.
        const Tensor I_nm = eng::mean(eng::reshape(eng::stack(i_cols, 1), {B, K, B}), {1});
        loss = loss + symmetric_ce_of(eng::transpose(I_nm, 0, 1) * e);
    }
    return loss;
}

}  // namespace mama::detail
