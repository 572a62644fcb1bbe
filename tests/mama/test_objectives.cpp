// test_objectives.cpp: the MaMA losses (mama/objectives.h) against plain
// reference loops written here in double (following mama-reference.md §7
// literally: the reference's own logit layouts), finite-difference gradients
// for every differentiable input, the hard-max tie rule, the late-start
// schedule and the error messages.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "autograd/ops.h"
#include "mama/objectives.h"
#include "tests/testing.h"

using eng::Tensor;

namespace {

using Mat = std::vector<std::vector<double>>;

// Rows of x [R, D] (a packed float vector) as double vectors.
Mat rows_of(const Tensor& x) {
    std::vector<float> v = x.contiguous().to_vector();
    int64_t D = x.size(-1), R = x.numel() / D;
    Mat out(static_cast<size_t>(R), std::vector<double>(static_cast<size_t>(D)));
    for (int64_t r = 0; r < R; ++r)
        for (int64_t d = 0; d < D; ++d) out[size_t(r)][size_t(d)] = v[size_t(r * D + d)];
    return out;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

// −log softmax(logits)[target]
double ce_row(const std::vector<double>& logits, size_t target) {
    double mx = *std::max_element(logits.begin(), logits.end()), s = 0;
    for (double l : logits) s += std::exp(l - mx);
    return mx + std::log(s) - logits[target];
}

// CE(M) + CE(Mᵀ) with diagonal targets, as the reference's two F.cross_entropy calls.
double ref_ce_both(const Mat& M) {
    size_t n = M.size();
    double a = 0, b = 0;
    for (size_t r = 0; r < n; ++r) a += ce_row(M[r], r);
    for (size_t c = 0; c < n; ++c) {
        std::vector<double> col(n);
        for (size_t r = 0; r < n; ++r) col[r] = M[r][c];
        b += ce_row(col, c);
    }
    return a / double(n) + b / double(n);
}

// Random rows of width D, L2-normalised here (the ops expect normalised inputs).
Tensor unit_rows(const eng::Shape& shape, uint64_t seed) {
    eng::Generator g(seed);
    Tensor x = eng::randn(shape, &g);
    std::vector<float> v = x.to_vector();
    int64_t D = shape.back();
    for (size_t r = 0; r < v.size() / size_t(D); ++r) {
        double ss = 0;
        for (int64_t d = 0; d < D; ++d) ss += double(v[r * size_t(D) + size_t(d)]) * v[r * size_t(D) + size_t(d)];
        for (int64_t d = 0; d < D; ++d) v[r * size_t(D) + size_t(d)] = float(v[r * size_t(D) + size_t(d)] / std::sqrt(ss));
    }
    return eng::from_vector(v, shape);
}

double ref_clip(const Tensor& v, const Tensor& u, double theta) {
    Mat V = rows_of(v), U = rows_of(u), S(V.size(), std::vector<double>(U.size()));
    for (size_t n = 0; n < V.size(); ++n)
        for (size_t m = 0; m < U.size(); ++m) S[n][m] = std::exp(theta) * dot(V[n], U[m]);
    return ref_ce_both(S);
}

// lightly's single-process NT-Xent layout, literally: row n of out0 has
// [out0_n·out1_k (k = 0..B-1), out0_n·out0_k (k ≠ n)] / τ with target n, and the
// same for out1; mean CE over the 2B rows.  Inputs are normalised here.
double ref_ntxent(const Tensor& a, const Tensor& b, double tau) {
    Mat A = rows_of(a), Bm = rows_of(b);
    for (Mat* M : {&A, &Bm})
        for (auto& r : *M) {
            double n = std::max(std::sqrt(dot(r, r)), 1e-12);
            for (double& x : r) x /= n;
        }
    size_t B = A.size();
    double total = 0;
    for (int view = 0; view < 2; ++view) {
        const Mat& own = view == 0 ? A : Bm;
        const Mat& other = view == 0 ? Bm : A;
        for (size_t n = 0; n < B; ++n) {
            std::vector<double> logits;
            for (size_t k = 0; k < B; ++k) logits.push_back(dot(own[n], other[k]) / tau);
            for (size_t k = 0; k < B; ++k)
                if (k != n) logits.push_back(dot(own[n], own[k]) / tau);
            total += ce_row(logits, n);
        }
    }
    return total / double(2 * B);
}

// §7 (4) literally: c_{m,n,k,j} = ⟨p_{n,k}, s_{m,j}⟩; T_mn = e/J_m Σ_j max_k c;
// I_mn = e/K Σ_k max_j c; L = CE(T) + CE(Tᵀ) [+ CE(I) + CE(Iᵀ)].
double ref_sla(const Tensor& p, const Tensor& s, const std::vector<int64_t>& J, double theta, bool symmetric) {
    int64_t B = p.size(0), K = p.size(1);
    Mat P = rows_of(p), S = rows_of(s);
    std::vector<int64_t> off(size_t(B), 0);
    for (int64_t m = 1; m < B; ++m) off[size_t(m)] = off[size_t(m - 1)] + J[size_t(m - 1)];
    Mat T(static_cast<size_t>(B), std::vector<double>(static_cast<size_t>(B))), I = T;
    for (int64_t m = 0; m < B; ++m)
        for (int64_t n = 0; n < B; ++n) {
            auto c = [&](int64_t k, int64_t j) { return dot(P[size_t(n * K + k)], S[size_t(off[size_t(m)] + j)]); };
            double t = 0;
            for (int64_t j = 0; j < J[size_t(m)]; ++j) {
                double best = -1e300;
                for (int64_t k = 0; k < K; ++k) best = std::max(best, c(k, j));
                t += best;
            }
            double i = 0;
            for (int64_t k = 0; k < K; ++k) {
                double best = -1e300;
                for (int64_t j = 0; j < J[size_t(m)]; ++j) best = std::max(best, c(k, j));
                i += best;
            }
            T[size_t(m)][size_t(n)] = std::exp(theta) * t / double(J[size_t(m)]);
            I[size_t(m)][size_t(n)] = std::exp(theta) * i / double(K);
        }
    return ref_ce_both(T) + (symmetric ? ref_ce_both(I) : 0.0);
}

// Smallest gap between the best and second-best candidate of every hard max in
// SLA (over patches for each sentence/image, over sentences for each patch/caption).
double sla_min_gap(const Tensor& p, const Tensor& s, const std::vector<int64_t>& J) {
    int64_t B = p.size(0), K = p.size(1);
    Mat P = rows_of(p), S = rows_of(s);
    double gap = 1e300;
    auto top2 = [&](std::vector<double> v) {
        if (v.size() < 2) return;
        std::sort(v.rbegin(), v.rend());
        gap = std::min(gap, v[0] - v[1]);
    };
    int64_t o = 0;
    for (int64_t m = 0; m < B; ++m) {
        for (int64_t n = 0; n < B; ++n) {
            for (int64_t j = 0; j < J[size_t(m)]; ++j) {
                std::vector<double> v;
                for (int64_t k = 0; k < K; ++k) v.push_back(dot(P[size_t(n * K + k)], S[size_t(o + j)]));
                top2(v);
            }
            for (int64_t k = 0; k < K; ++k) {
                std::vector<double> v;
                for (int64_t j = 0; j < J[size_t(m)]; ++j) v.push_back(dot(P[size_t(n * K + k)], S[size_t(o + j)]));
                top2(v);
            }
        }
        o += J[size_t(m)];
    }
    return gap;
}

int64_t total(const std::vector<int64_t>& J) {
    int64_t t = 0;
    for (int64_t j : J) t += j;
    return t;
}

Tensor log_scale(float v) { return eng::scalar_tensor(v); }

}  // namespace

// ---- (1) and (3): CLIP ------------------------------------------------------------------

TEST_CASE("objectives: clip_loss and partner_clip_loss forward match a plain loop") {
    for (int64_t B : {3, 4, 5}) {
        Tensor v = unit_rows({B, 6}, 100 + uint64_t(B)), u = unit_rows({B, 6}, 200 + uint64_t(B));
        for (float theta : {0.0f, 1.0f, float(std::log(1 / 0.07))}) {
            double want = ref_clip(v, u, theta);
            CHECK(mama::clip_loss(v, u, log_scale(theta)).item() == doctest::Approx(want).epsilon(1e-5));
            CHECK(mama::partner_clip_loss(v, u, log_scale(theta)).item() == doctest::Approx(want).epsilon(1e-5));
        }
    }
    // Non-contiguous inputs, a [1]-shaped scale.
    Tensor vt = eng::transpose(unit_rows({4, 5}, 7), 0, 1);  // [5, 4]: not unit rows, still a valid input
    Tensor u = unit_rows({5, 4}, 8);
    REQUIRE(!vt.is_contiguous());
    CHECK(mama::clip_loss(vt, u, eng::full({1}, 0.5f)).item() == doctest::Approx(ref_clip(vt, u, 0.5)).epsilon(1e-5));
}

TEST_CASE("objectives: clip_loss hand case is the sum of both directions") {
    // v = u = identity rows, θ = 0: S = I (2×2).  Each row and each column has
    // CE = −log(e/(e + 1)) = log(1 + e^{-1}); the sum of the two means is 2·that.
    Tensor v = eng::from_vector({1, 0, 0, 1}, {2, 2});
    double want = 2 * std::log(1 + std::exp(-1.0));
    CHECK(mama::clip_loss(v, v, log_scale(0)).item() == doctest::Approx(want).epsilon(1e-6));
    // One pair: a 1×1 softmax, loss 0.
    Tensor one = eng::from_vector({0.6f, 0.8f}, {1, 2});
    CHECK(mama::clip_loss(one, one, log_scale(2)).item() == doctest::Approx(0.0));
}

TEST_CASE("objectives: clip_loss gradients (embeddings and logit_scale) match finite differences") {
    Tensor v = unit_rows({4, 5}, 11), u = unit_rows({4, 5}, 12), theta = log_scale(1.3f);
    for (Tensor* t : {&v, &u, &theta}) t->set_requires_grad(true);
    CHECK_GRADCHECK([](const std::vector<Tensor>& x) { return mama::clip_loss(x[0], x[1], x[2]); }, {v, u, theta});
    // The partner loss shares θ with the global one: both gradients accumulate.
    Tensor vp = unit_rows({4, 5}, 13);
    vp.set_requires_grad(true);
    CHECK_GRADCHECK(
        [](const std::vector<Tensor>& x) {
            return eng::add(mama::clip_loss(x[0], x[1], x[2]), mama::partner_clip_loss(x[3], x[1], x[2]));
        },
        {v, u, theta, vp});
    // Through a model-side normalisation (l2_normalize then the loss).
    Tensor raw = eng::randn({3, 4});
    raw.set_requires_grad(true);
    Tensor u3 = unit_rows({3, 4}, 14);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& x) { return mama::clip_loss(eng::l2_normalize(x[0]), u3, x[1]); },
        {raw, theta});
}

// ---- (2): NT-Xent ---------------------------------------------------------------------------

TEST_CASE("objectives: nt_xent_loss forward matches the reference's logit layout") {
    for (int64_t B : {3, 4, 5}) {
        eng::Generator g(300 + uint64_t(B));
        Tensor a = eng::normal({B, 7}, 0, 2, &g), b = eng::normal({B, 7}, 0, 2, &g);  // raw: normalised inside
        CHECK(mama::nt_xent_loss(a, b).item() == doctest::Approx(ref_ntxent(a, b, 0.5)).epsilon(1e-5));
        CHECK(mama::nt_xent_loss(a, b, 0.2f).item() == doctest::Approx(ref_ntxent(a, b, 0.2)).epsilon(1e-5));
        // Symmetric in the two views, invariant to each row's length.
        CHECK(mama::nt_xent_loss(b, a).item() == doctest::Approx(ref_ntxent(a, b, 0.5)).epsilon(1e-5));
        CHECK(mama::nt_xent_loss(eng::mul(a, 3.0f), b).item() == doctest::Approx(ref_ntxent(a, b, 0.5)).epsilon(1e-5));
    }
    // B = 1: each row has a single logit (its positive), loss 0.
    Tensor a = eng::from_vector({1, 2}, {1, 2}), b = eng::from_vector({3, -1}, {1, 2});
    CHECK(mama::nt_xent_loss(a, b).item() == doctest::Approx(0.0));
    // Non-contiguous view input.
    eng::Generator g(9);
    Tensor at = eng::transpose(eng::randn({6, 4}, &g), 0, 1), bt = eng::randn({4, 6}, &g);
    CHECK(mama::nt_xent_loss(at, bt).item() == doctest::Approx(ref_ntxent(at, bt, 0.5)).epsilon(1e-5));
}

TEST_CASE("objectives: nt_xent_loss gradients match finite differences") {
    eng::Generator g(21);
    Tensor a = eng::normal({4, 5}, 0, 1.5f, &g), b = eng::normal({4, 5}, 0, 1.5f, &g);
    a.set_requires_grad(true);
    b.set_requires_grad(true);
    CHECK_GRADCHECK([](const std::vector<Tensor>& x) { return mama::nt_xent_loss(x[0], x[1]); }, {a, b});
    Tensor a3 = eng::normal({3, 6}, 0, 1, &g), b3 = eng::normal({3, 6}, 0, 1, &g);
    a3.set_requires_grad(true);
    CHECK_GRADCHECK([](const std::vector<Tensor>& x) { return mama::nt_xent_loss(x[0], x[1], 0.3f); }, {a3, b3});
}

// ---- (4): SLA -------------------------------------------------------------------------------

TEST_CASE("objectives: sla_loss forward matches a plain loop (ragged sentence counts)") {
    struct Case {
        int64_t B, K, D;
        std::vector<int64_t> J;
    };
    for (const Case& c : {Case{3, 5, 6, {2, 1, 3}}, Case{4, 3, 8, {1, 4, 2, 2}}, Case{5, 6, 5, {3, 3, 1, 2, 5}}}) {
        Tensor p = unit_rows({c.B, c.K, c.D}, 400 + uint64_t(c.B)), s = unit_rows({total(c.J), c.D}, 500 + uint64_t(c.B));
        for (float theta : {0.0f, float(std::log(1 / 0.07))}) {
            CHECK(mama::sla_loss(p, s, c.J, log_scale(theta)).item() ==
                  doctest::Approx(ref_sla(p, s, c.J, theta, true)).epsilon(1e-5));
            CHECK(mama::sla_loss(p, s, c.J, log_scale(theta), false).item() ==
                  doctest::Approx(ref_sla(p, s, c.J, theta, false)).epsilon(1e-5));
        }
    }
    // Non-contiguous patches ([K, B, D] permuted to [B, K, D]).
    Tensor pk = unit_rows({4, 3, 6}, 31);
    Tensor p = eng::permute(pk, {1, 0, 2});
    REQUIRE(!p.is_contiguous());
    std::vector<int64_t> J{2, 1, 2};
    Tensor s = unit_rows({5, 6}, 32);
    CHECK(mama::sla_loss(p, s, J, log_scale(1)).item() == doctest::Approx(ref_sla(p, s, J, 1, true)).epsilon(1e-5));
}

TEST_CASE("objectives: sla_loss gradients (patches, sentences, local_scale) match finite differences") {
    std::vector<int64_t> J{2, 1, 3, 2};
    const int64_t B = 4, K = 4, D = 6;
    // Draw until every hard max wins by a clear margin: a perturbation of 1e-3 in
    // one coordinate moves a cosine by at most 1e-3, so no arg-max flips.
    Tensor p, s;
    uint64_t seed = 600;
    for (;; ++seed) {
        p = unit_rows({B, K, D}, seed);
        s = unit_rows({total(J), D}, seed + 1000);
        if (sla_min_gap(p, s, J) > 0.02) break;
        REQUIRE(seed < 800);
    }
    Tensor theta = log_scale(1.2f);
    for (Tensor* t : {&p, &s, &theta}) t->set_requires_grad(true);
    CHECK_GRADCHECK([&](const std::vector<Tensor>& x) { return mama::sla_loss(x[0], x[1], J, x[2]); }, {p, s, theta});
    CHECK_GRADCHECK([&](const std::vector<Tensor>& x) { return mama::sla_loss(x[0], x[1], J, x[2], false); },
                    {p, s, theta});
}

TEST_CASE("objectives: sla_loss hard max sends the gradient to the lowest-index arg-max on ties") {
    // Image 0's patches 0 and 1 are both exactly caption 0's first sentence:
    // that sentence's max over image 0's patches is a tie, won by patch 0.
    const int64_t B = 2, K = 3, D = 4;
    std::vector<int64_t> J{2, 1};
    Tensor s = unit_rows({3, D}, 41);
    std::vector<float> pv = unit_rows({B, K, D}, 42).to_vector(), sv = s.to_vector();
    for (int64_t d = 0; d < D; ++d) pv[size_t(0 * D + d)] = pv[size_t(1 * D + d)] = sv[size_t(d)];
    Tensor p = eng::from_vector(pv, {B, K, D});
    p.set_requires_grad(true);
    eng::backward(mama::sla_loss(p, s, J, log_scale(0.5f), /*symmetric=*/false));
    std::vector<float> gp = p.grad().to_vector();
    double g0 = 0, g1 = 0;
    for (int64_t d = 0; d < D; ++d) {
        g0 += std::fabs(gp[size_t(d)]);
        g1 += std::fabs(gp[size_t(D + d)]);
    }
    CHECK(g0 > 1e-4);  // patch 0 is the arg-max of sentence 0 against image 0
    CHECK(g1 == 0.0);  // its duplicate, patch 1, gets nothing in the text→image direction

    // Caption 0's two sentences identical: in the image→text direction every
    // patch's tie goes to sentence 0, so the duplicate (sentence 1) gets exactly
    // the text→image gradient and nothing more.
    std::vector<float> sv2 = sv;
    for (int64_t d = 0; d < D; ++d) sv2[size_t(D + d)] = sv2[size_t(d)];
    Tensor s_sym = eng::from_vector(sv2, {3, D}), s_one = eng::from_vector(sv2, {3, D});
    s_sym.set_requires_grad(true);
    s_one.set_requires_grad(true);
    Tensor p2 = unit_rows({B, K, D}, 43);
    eng::backward(mama::sla_loss(p2, s_sym, J, log_scale(0.5f), true));
    eng::backward(mama::sla_loss(p2, s_one, J, log_scale(0.5f), false));
    std::vector<float> a = s_sym.grad().to_vector(), b = s_one.grad().to_vector();
    double diff0 = 0;
    for (int64_t d = 0; d < D; ++d) {
        CHECK(a[size_t(D + d)] == b[size_t(D + d)]);
        diff0 += std::fabs(a[size_t(d)] - b[size_t(d)]);
    }
    CHECK(diff0 > 1e-5);  // sentence 0 does receive the image→text gradient
}

TEST_CASE("objectives: a NaN anywhere in the inputs makes every loss NaN (as PyTorch's max)") {
    std::vector<int64_t> J{2, 1, 3};
    for (int64_t where : {0, 7, 29}) {  // patch 0, a middle patch, the last patch of the last image
        std::vector<float> pv = unit_rows({3, 5, 2}, 61).to_vector();
        pv[size_t(where)] = NAN;
        CHECK(std::isnan(mama::sla_loss(eng::from_vector(pv, {3, 5, 2}), unit_rows({6, 2}, 62), J, log_scale(1)).item()));
        CHECK(std::isnan(
            mama::sla_loss(eng::from_vector(pv, {3, 5, 2}), unit_rows({6, 2}, 62), J, log_scale(1), false).item()));
    }
    std::vector<float> sv = unit_rows({6, 2}, 63).to_vector();
    sv[9] = NAN;  // caption 2's second sentence
    CHECK(std::isnan(mama::sla_loss(unit_rows({3, 5, 2}, 64), eng::from_vector(sv, {6, 2}), J, log_scale(1)).item()));
    std::vector<float> av = unit_rows({3, 4}, 65).to_vector();
    av[5] = NAN;
    CHECK(std::isnan(mama::nt_xent_loss(eng::from_vector(av, {3, 4}), unit_rows({3, 4}, 66)).item()));
    CHECK(std::isnan(mama::clip_loss(eng::from_vector(av, {3, 4}), unit_rows({3, 4}, 66), log_scale(1)).item()));
}

TEST_CASE("objectives: sla_loss results do not depend on the thread count") {
    // Large enough that every loop of the op runs in parallel (B·K·ΣJ ≥ 2^15).
    std::vector<int64_t> J{3, 1, 2, 4, 2};
    Tensor p0 = unit_rows({5, 600, 16}, 51), s0 = unit_rows({12, 16}, 52);
    auto run = [&](int threads) {
        int before = omp_get_max_threads();
        omp_set_num_threads(threads);
        Tensor p = p0.clone(), s = s0.clone(), th = log_scale(0.7f);
        for (Tensor* t : {&p, &s, &th}) t->set_requires_grad(true);
        Tensor loss = mama::sla_loss(p, s, J, th);
        eng::backward(loss);
        omp_set_num_threads(before);
        std::vector<float> all{loss.item(), th.grad().item()};
        for (float x : p.grad().to_vector()) all.push_back(x);
        for (float x : s.grad().to_vector()) all.push_back(x);
        return all;
    };
    std::vector<float> one = run(1), three = run(3);
    REQUIRE(one.size() == three.size());
    size_t differ = 0;
    for (size_t i = 0; i < one.size(); ++i) differ += one[i] != three[i];
    CHECK_MESSAGE(differ == 0, differ << " of " << one.size() << " values differ between 1 and 3 threads");
}

// ---- the composed losses (the GPU path) -------------------------------------------------

namespace {

using LossFn = std::function<Tensor(const std::vector<Tensor>&)>;

// The loss and the gradient of every input, from fresh leaves holding x's values.
std::vector<std::vector<float>> loss_and_grads(const LossFn& fn, const std::vector<Tensor>& x) {
    std::vector<Tensor> leaves;
    for (const Tensor& t : x) {
        leaves.push_back(t.clone().detach());
        leaves.back().set_requires_grad(true);
    }
    Tensor loss = fn(leaves);
    eng::backward(loss);
    std::vector<std::vector<float>> out{{loss.item()}};
    for (const Tensor& t : leaves) out.push_back(t.grad().to_vector());
    return out;
}

// Largest |a − b| over each tensor, relative to the largest |a| of that tensor.
void check_same(const std::vector<std::vector<float>>& fused, const std::vector<std::vector<float>>& composed,
                double rel) {
    REQUIRE(fused.size() == composed.size());
    for (size_t i = 0; i < fused.size(); ++i) {
        REQUIRE(fused[i].size() == composed[i].size());
        double scale = 0, err = 0;
        for (size_t k = 0; k < fused[i].size(); ++k) {
            scale = std::max(scale, double(std::fabs(fused[i][k])));
            err = std::max(err, double(std::fabs(fused[i][k] - composed[i][k])));
        }
        CHECK_MESSAGE(scale > 0, "output " << i << " is all zero: nothing compared");
        CHECK_MESSAGE(err <= rel * scale, "output " << i << " (0 = the loss, then each input's gradient): max |fused − "
                                                    "composed| " << err << " against a scale of " << scale);
    }
}

}  // namespace

TEST_CASE("objectives: the composed losses (the GPU path) equal the fused ops, values and gradients") {
    // The composed versions are what GPU inputs run (objective_composed.cpp);
    // here both run on the CPU.  Differences are rounding only (the fused ops
    // sum the cross-entropies in double), far below the 1e-5 bound.
    Tensor v = unit_rows({5, 6}, 71), u = unit_rows({5, 6}, 72), theta = log_scale(1.7f);
    check_same(loss_and_grads([](auto& x) { return mama::clip_loss(x[0], x[1], x[2]); }, {v, u, theta}),
               loss_and_grads([](auto& x) { return mama::detail::clip_loss_composed(x[0], x[1], x[2]); },
                              {v, u, theta}),
               1e-5);
    CHECK(mama::detail::clip_loss_composed(v, u, theta).item() == doctest::Approx(ref_clip(v, u, 1.7)).epsilon(1e-5));

    eng::Generator g(73);
    Tensor a = eng::normal({4, 7}, 0, 2, &g), b = eng::normal({4, 7}, 0, 2, &g);
    check_same(loss_and_grads([](auto& x) { return mama::nt_xent_loss(x[0], x[1], 0.3f); }, {a, b}),
               loss_and_grads([](auto& x) { return mama::detail::nt_xent_loss_composed(x[0], x[1], 0.3f); }, {a, b}),
               1e-5);
    CHECK(mama::detail::nt_xent_loss_composed(a, b, 0.5f).item() ==
          doctest::Approx(ref_ntxent(a, b, 0.5)).epsilon(1e-5));

    std::vector<int64_t> J{2, 1, 3, 2};
    Tensor p = unit_rows({4, 5, 6}, 74), s = unit_rows({8, 6}, 75), th = log_scale(1.2f);
    for (bool symmetric : {true, false}) {
        CAPTURE(symmetric);
        check_same(loss_and_grads([&](auto& x) { return mama::sla_loss(x[0], x[1], J, x[2], symmetric); },
                                  {p, s, th}),
                   loss_and_grads(
                       [&](auto& x) { return mama::detail::sla_loss_composed(x[0], x[1], J, x[2], symmetric); },
                       {p, s, th}),
                   1e-5);
        CHECK(mama::detail::sla_loss_composed(p, s, J, th, symmetric).item() ==
              doctest::Approx(ref_sla(p, s, J, 1.2, symmetric)).epsilon(1e-5));
    }

    // Ties: image 0's patches 0 and 1 both equal caption 0's first sentence, and
    // caption 0's two sentences are equal.  Both versions send each tied max's
    // gradient to the lowest index, so the gradients agree exactly where the
    // routing matters (a patch or sentence that loses a tie gets less).
    std::vector<float> pv = p.to_vector(), sv = s.to_vector();
    for (int64_t d = 0; d < 6; ++d) {
        pv[size_t(d)] = pv[size_t(6 + d)] = sv[size_t(d)];  // (sentence 0 before its copy is made)
        sv[size_t(1 * 6 + d)] = sv[size_t(d)];
    }
    Tensor pt = eng::from_vector(pv, {4, 5, 6}), st = eng::from_vector(sv, {8, 6});
    check_same(loss_and_grads([&](auto& x) { return mama::sla_loss(x[0], x[1], J, x[2]); }, {pt, st, th}),
               loss_and_grads([&](auto& x) { return mama::detail::sla_loss_composed(x[0], x[1], J, x[2], true); },
                              {pt, st, th}),
               1e-5);
}

// ---- schedule and errors --------------------------------------------------------------------

TEST_CASE("objectives: the late start switches the late losses and local heads on at the step") {
    mama::LossSchedule sched;  // the published run
    CHECK(sched.late_start_step == 8000);
    CHECK(sched.mv_weight == 1.0f);
    CHECK_FALSE(sched.active(0));
    CHECK_FALSE(sched.active(7999));
    CHECK(sched.active(8000));
    CHECK(sched.active(8001));
    CHECK_FALSE(sched.local_heads_trainable(7999));
    CHECK(sched.local_heads_trainable(8000));
    mama::LossSchedule now{0};
    CHECK(now.active(0));
}

TEST_CASE("objectives: bad shapes raise errors naming the op") {
    Tensor v = unit_rows({3, 4}, 1), u = unit_rows({4, 4}, 2), th = log_scale(0);
    CHECK_THROWS_CONTAINING(mama::clip_loss(v, u, th), "clip_loss: image embeddings [3, 4]");
    CHECK_THROWS_CONTAINING(mama::partner_clip_loss(v, u, th), "partner_clip_loss");
    CHECK_THROWS_CONTAINING(mama::clip_loss(v, v, eng::zeros({2})), "clip_loss: logit_scale must hold one element");
    CHECK_THROWS_CONTAINING(mama::clip_loss(eng::zeros({3}), v, th), "clip_loss: image embeddings must be [B, D]");
    CHECK_THROWS_CONTAINING(mama::clip_loss(v, v, Tensor()), "clip_loss: logit_scale is undefined");
    CHECK_THROWS_CONTAINING(mama::nt_xent_loss(v, u), "nt_xent_loss: the two views must have the same shape");
    CHECK_THROWS_CONTAINING(mama::nt_xent_loss(v, v, 0.0f), "nt_xent_loss: temperature");
    CHECK_THROWS_CONTAINING(mama::nt_xent_loss(eng::randint(0, 3, {3, 4}), v), "nt_xent_loss");

    Tensor p = unit_rows({2, 3, 4}, 3), s = unit_rows({3, 4}, 4);
    CHECK_THROWS_CONTAINING(mama::sla_loss(p, s, {2, 2}, th), "sla_loss: the sentence counts sum to 4");
    CHECK_THROWS_CONTAINING(mama::sla_loss(p, s, {3, 0}, th), "sla_loss: caption 1 has 0 sentences");
    CHECK_THROWS_CONTAINING(mama::sla_loss(p, s, {1, 1, 1}, th), "sla_loss: got 3 sentence counts for 2 images");
    CHECK_THROWS_CONTAINING(mama::sla_loss(p, unit_rows({3, 5}, 5), {2, 1}, th), "must have the same width D");
    CHECK_THROWS_CONTAINING(mama::sla_loss(s, s, {2, 1}, th), "sla_loss: patches must be [B, K, D]");
    CHECK_THROWS_CONTAINING(mama::sla_loss(p, s, {2, 1}, eng::zeros({1, 2})), "sla_loss: local_scale must hold one");
}

TEST_CASE("objectives: an embedding written in place between the loss and backward is an error") {
    using namespace eng;
    // The fused losses keep the packed inputs themselves; a change to them
    // would give the gradient at the new values.
    Tensor v = l2_normalize(randn({4, 8}), 1).set_requires_grad(true);
    Tensor u = l2_normalize(randn({4, 8}), 1).set_requires_grad(true);
    Tensor theta = full({}, 2.0f).set_requires_grad(true);
    Tensor l = mama::clip_loss(v, u, theta);
    u.detach().fill_(0.5f);
    CHECK_THROWS_CONTAINING(backward(l), "modified in place");
    Tensor p = randn({2, 3, 8}).set_requires_grad(true), s = randn({4, 8}).set_requires_grad(true);
    Tensor sla = mama::sla_loss(p, s, {2, 2}, theta);
    p.detach().fill_(0.0f);
    CHECK_THROWS_CONTAINING(backward(sla), "modified in place");
}
