// objective_ntxent.cpp: the multi-view NT-Xent loss (SimCLR; §7 (2)), single
// process, as one fused autograd node including the L2 normalisation.
//
// Forward (a, b [B, D] raw head outputs, τ the temperature, N = 2B):
//   z_i = x_i / max(||x_i||, ε) for the rows x of [a; b]   (ε = 1e-12, as F.normalize)
//   A_ij = ⟨z_i, z_j⟩/τ   (N × N, via one GEMM)
//   row i's logits: A_ij for the N − 1 columns j ≠ i; its positive is p(i) = (i + B) mod N
//   L = (1/N) Σ_i (lse_{j≠i} A_ij − A_{i,p(i)})
// This is the same set of logits as the reference's layout (per row: the B
// cross-view entries, then the B − 1 same-view ones): cross-entropy does not
// depend on the order of a row's logits.
//
// Backward, with upstream scalar g:
//   G_ij = dL/dA_ij = (1/N)(π_ij − δ_{j,p(i)}) for j ≠ i, G_ii = 0,
//     π_ij = e^{A_ij − lse_i} the softmax over j ≠ i.
//   A_ij = ⟨z_i, z_j⟩/τ involves z_i through both row i and column i, so
//     dL/dz = (g/τ)·(G + Gᵀ)·Z           (one GEMM).
//   Normalisation, with n_i = ||x_i||:
//     n_i > ε:  z = x/n, ∂z_j/∂x_k = (δ_jk − z_j z_k)/n  ⇒  dx = (dz − z·⟨dz, z⟩)/n
//     n_i ≤ ε:  z = x/ε (constant denominator)          ⇒  dx = dz/ε
// Saved: Z [N, D], the norms, and G (N × N, computed in the forward).
#include <algorithm>
#include <cmath>
#include <memory>

#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/views.h"
#include "mama/objectives.h"
#include "tensor/cpu/gemm.h"

namespace mama {

using eng::Tensor;

namespace {

constexpr float kNormEps = 1e-12f;

struct NtXentSaved {
    std::vector<float> z;      // [N, D] normalised rows of [a; b]
    std::vector<float> norm;   // [N] ||x_i||
    std::vector<float> G;      // [N, N] dL/dA
    int64_t B = 0, D = 0;
    float tau = 0.5f;
};

}  // namespace

Tensor nt_xent_loss(const Tensor& a, const Tensor& b, float temperature) {
    eng::profile::Scope profile_scope("nt_xent_loss");
    if (detail::any_on_cuda({&a, &b}))  // the fused kernel is CPU-only
        return detail::nt_xent_loss_composed(a, b, temperature);
    const char* op = "nt_xent_loss";
    detail::check_input(a, 2, op, "a (first view)", "[B, D]");
    detail::check_input(b, 2, op, "b (second view)", "[B, D]");
    ENG_CHECK(a.shape() == b.shape(), op, ": the two views must have the same shape [B, D], got a ",
              eng::shape_str(a.shape()), " and b ", eng::shape_str(b.shape()));
    ENG_CHECK(a.size(0) >= 1 && a.size(1) >= 1, op, ": empty views of shape ", eng::shape_str(a.shape()));
    ENG_CHECK(std::isfinite(temperature) && temperature > 0, op, ": temperature must be > 0, got ", temperature);

    auto sv = std::make_shared<NtXentSaved>();
    const int64_t B = a.size(0), D = a.size(1), N = 2 * B;
    sv->B = B;
    sv->D = D;
    sv->tau = temperature;
    sv->z.resize(size_t(N * D));
    sv->norm.resize(size_t(N));
    Tensor ac = a.detach().contiguous(), bc = b.detach().contiguous();
    for (int64_t i = 0; i < N; ++i) {
        const float* x = (i < B ? ac.data<float>() + i * D : bc.data<float>() + (i - B) * D);
        double ss = 0;
        for (int64_t d = 0; d < D; ++d) ss += double(x[d]) * double(x[d]);
        const float n = float(std::sqrt(ss));
        sv->norm[size_t(i)] = n;
        const float inv = 1.0f / std::max(n, kNormEps);
        for (int64_t d = 0; d < D; ++d) sv->z[size_t(i * D + d)] = x[d] * inv;
    }
    // A = Z·Zᵀ/τ
    std::vector<float> A(size_t(N * N));
    eng::cpu::gemm(false, true, N, N, D, 1.0f / temperature, sv->z.data(), D, sv->z.data(), D, 0.0f, A.data(), N);

    const bool need_grad = eng::autograd::any_requires_grad({a, b});
    if (need_grad) sv->G.assign(size_t(N * N), 0.0f);
    double loss = 0;
    for (int64_t i = 0; i < N; ++i) {
        const float* row = A.data() + i * N;
        const int64_t pos = (i + B) % N;
        double mx = -INFINITY;
        for (int64_t j = 0; j < N; ++j)
            if (j != i) mx = std::max(mx, double(row[j]));
        double s = 0;
        for (int64_t j = 0; j < N; ++j)
            if (j != i) s += std::exp(double(row[j]) - mx);
        const double lse = mx + std::log(s);
        loss += lse - double(row[pos]);
        if (need_grad)
            for (int64_t j = 0; j < N; ++j)
                if (j != i)
                    sv->G[size_t(i * N + j)] =
                        float((std::exp(double(row[j]) - lse) - (j == pos ? 1.0 : 0.0)) / double(N));
    }
    Tensor out = eng::scalar_tensor(float(loss / double(N)));
    if (!need_grad) return eng::autograd::untracked(out, {a, b});

    const bool na = a.requires_grad(), nb = b.requires_grad();
    return eng::autograd::record(op, out, {a, b}, [sv, na, nb](const Tensor& grad) -> std::vector<Tensor> {
        const float g = grad.item();
        const int64_t B = sv->B, D = sv->D, N = 2 * B;
        // H = G + Gᵀ;  dZ = (g/τ)·H·Z
        std::vector<float> H(size_t(N * N)), dz(size_t(N * D));
        for (int64_t i = 0; i < N; ++i)
            for (int64_t j = 0; j < N; ++j) H[size_t(i * N + j)] = sv->G[size_t(i * N + j)] + sv->G[size_t(j * N + i)];
        eng::cpu::gemm(false, false, N, D, N, g / sv->tau, H.data(), N, sv->z.data(), D, 0.0f, dz.data(), D);
        Tensor da = na ? eng::empty({B, D}) : Tensor(), db = nb ? eng::empty({B, D}) : Tensor();
        for (int64_t i = 0; i < N; ++i) {
            float* dst = i < B ? (na ? da.data<float>() + i * D : nullptr) : (nb ? db.data<float>() + (i - B) * D : nullptr);
            if (!dst) continue;
            const float* zi = sv->z.data() + i * D;
            const float* gi = dz.data() + i * D;
            const float n = sv->norm[size_t(i)];
            if (n > kNormEps) {
                double dot = 0;
                for (int64_t d = 0; d < D; ++d) dot += double(gi[d]) * double(zi[d]);
                for (int64_t d = 0; d < D; ++d) dst[d] = float((double(gi[d]) - double(zi[d]) * dot) / double(n));
            } else {
                for (int64_t d = 0; d < D; ++d) dst[d] = gi[d] / kNormEps;
            }
        }
        return {da, db};
    });
}

}  // namespace mama
