// test_attention.cpp: scaled dot-product attention.  The fused kernel against a
// plain double-precision loop written here (causal, padding, score divisor,
// T != S, sizes that are not multiples of the tile, strided inputs), fused vs
// reference backward, gradcheck, fully masked rows, thread-count independence,
// a ViT-length (T = 1374) forward, and the error messages.
#include <omp.h>

#include <cmath>
#include <limits>

#include "tests/testing.h"

#include "autograd/ops.h"
#include "tensor/attention.h"
#include "tensor/cpu/gemm.h"

using namespace eng;

namespace {

Tensor randn_t(const Shape& s, uint64_t seed, float scale = 1.0f) {
    Generator g(seed);
    return normal(s, 0.0f, scale, &g);
}

// [B, H, T, d] as a permuted view of a packed [B, T, H, d] tensor (as produced
// by splitting a fused qkv projection): the kernels must accept it without a copy.
Tensor bthd_view(int64_t B, int64_t H, int64_t T, int64_t d, uint64_t seed, float scale = 2.0f) {
    return raw_permute(randn_t({B, T, H, d}, seed, scale), {0, 2, 1, 3});
}

struct Case {
    int64_t B, H, T, S, d, dv;
    bool causal, padded;
    float divisor;
};

// out[b,h,i,:] = Σ_j softmax(s)_j v_j in double, s_ij = q·k/√d/divisor, masked
// entries left out; a row with no visible key is zero.
std::vector<float> plain_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Case& c,
                                   const std::vector<float>& keep) {
    std::vector<float> Q = q.contiguous().to_vector(), K = k.contiguous().to_vector(), V = v.contiguous().to_vector();
    std::vector<float> out(size_t(c.B * c.H * c.T * c.dv), 0.0f);
    for (int64_t b = 0; b < c.B; ++b)
        for (int64_t h = 0; h < c.H; ++h)
            for (int64_t i = 0; i < c.T; ++i) {
                std::vector<double> s(size_t(c.S));
                std::vector<bool> vis(size_t(c.S));
                double mx = -1e300;
                bool any = false;
                for (int64_t j = 0; j < c.S; ++j) {
                    vis[size_t(j)] = !(c.causal && j > i) && (keep.empty() || keep[size_t(b * c.S + j)] != 0);
                    double dot = 0;
                    for (int64_t e = 0; e < c.d; ++e)
                        dot += double(Q[size_t(((b * c.H + h) * c.T + i) * c.d + e)]) *
                               K[size_t(((b * c.H + h) * c.S + j) * c.d + e)];
                    s[size_t(j)] = dot / std::sqrt(double(c.d)) / c.divisor;
                    if (vis[size_t(j)]) {
                        mx = std::max(mx, s[size_t(j)]);
                        any = true;
                    }
                }
                if (!any) continue;
                double z = 0;
                for (int64_t j = 0; j < c.S; ++j)
                    if (vis[size_t(j)]) z += std::exp(s[size_t(j)] - mx);
                for (int64_t e = 0; e < c.dv; ++e) {
                    double acc = 0;
                    for (int64_t j = 0; j < c.S; ++j)
                        if (vis[size_t(j)])
                            acc += std::exp(s[size_t(j)] - mx) / z * V[size_t(((b * c.H + h) * c.S + j) * c.dv + e)];
                    out[size_t(((b * c.H + h) * c.T + i) * c.dv + e)] = float(acc);
                }
            }
    return out;
}

// Padding mask: batch b keeps its first S - 3·b - 1 keys (at least one).
Tensor make_mask(int64_t B, int64_t S) {
    std::vector<float> m(size_t(B * S));
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < S; ++j) m[size_t(b * S + j)] = j < std::max<int64_t>(1, S - 3 * b - 1) ? 1.0f : 0.0f;
    return from_vector(m, {B, S});
}

const Case kCases[] = {
    {2, 3, 70, 70, 16, 16, true, true, 1.0f},     // GPT-2 style: causal + right padding
    {1, 2, 5, 131, 8, 8, false, false, 3.0f},     // T < S, S not a multiple of the tile
    {2, 1, 130, 40, 12, 7, true, false, 1.0f},    // T > S (top-left causal), dv != d
    {1, 2, 129, 129, 32, 32, false, true, 25.0f}, // big divisor (BioMedLM's last layers)
    {2, 2, 64, 128, 4, 4, true, true, 2.0f},      // exact tile multiples
    {4, 3, 70, 45, 16, 16, false, true, 1.0f},    // 12 heads: a whole head per task (up to 3 threads)
    {1, 1, 520, 530, 8, 8, false, true, 1.0f},    // over 512 keys: key tiles, and 64-row tiles in backward
};

}  // namespace

TEST_CASE("attention: fused forward matches a plain loop (causal, padding, divisor, T != S, strided)") {
    uint64_t seed = 100;
    for (const Case& c : kCases) {
        CAPTURE(c.T);
        CAPTURE(c.S);
        Tensor q = bthd_view(c.B, c.H, c.T, c.d, seed++);
        Tensor k = bthd_view(c.B, c.H, c.S, c.d, seed++);
        Tensor v = randn_t({c.B, c.H, c.S, c.dv}, seed++);
        Tensor mask = c.padded ? make_mask(c.B, c.S) : Tensor();
        std::vector<float> keep = c.padded ? mask.to_vector() : std::vector<float>();
        std::vector<float> want = plain_attention(q, k, v, c, keep);
        CHECK_CLOSE(scaled_dot_product_attention(q, k, v, c.causal, mask, c.divisor), want, 2e-5, 1e-4);
        CHECK_CLOSE(scaled_dot_product_attention_reference(q, k, v, c.causal, mask, c.divisor), want, 2e-5, 1e-4);
        // The strided [B, T, H, d] view gives the same result as its packed copy.
        Tensor kv = bthd_view(c.B, c.H, c.S, c.d, 999);
        CHECK_CLOSE(scaled_dot_product_attention(q, kv, v, c.causal, mask, c.divisor),
                    scaled_dot_product_attention(q.contiguous(), kv.contiguous(), v, c.causal, mask, c.divisor), 0, 0);
    }
}

TEST_CASE("attention: fused backward matches the materialised reference") {
    uint64_t seed = 200;
    for (const Case& c : kCases) {
        CAPTURE(c.T);
        CAPTURE(c.S);
        Tensor q0 = bthd_view(c.B, c.H, c.T, c.d, seed++), k0 = randn_t({c.B, c.H, c.S, c.d}, seed++, 1.5f);
        Tensor v0 = randn_t({c.B, c.H, c.S, c.dv}, seed++);
        Tensor w = randn_t({c.B, c.H, c.T, c.dv}, seed++);
        Tensor mask = c.padded ? make_mask(c.B, c.S) : Tensor();
        std::vector<Tensor> grads[2];
        for (int path = 0; path < 2; ++path) {
            Tensor q = q0.detach().set_requires_grad(true), k = k0.detach().set_requires_grad(true);
            Tensor v = v0.detach().set_requires_grad(true);
            Tensor out = path == 0 ? scaled_dot_product_attention(q, k, v, c.causal, mask, c.divisor)
                                   : scaled_dot_product_attention_reference(q, k, v, c.causal, mask, c.divisor);
            backward(sum(mul(out, w)));
            grads[path] = {q.grad(), k.grad(), v.grad()};
        }
        for (int i = 0; i < 3; ++i) CHECK_CLOSE(grads[0][size_t(i)], grads[1][size_t(i)], 2e-5, 1e-4);
    }
}

TEST_CASE("attention: gradcheck of both paths") {
    Tensor mask = from_vector({1, 1, 0, 1, 1, 1, 1, 0}, {2, 4});
    for (bool causal : {false, true}) {
        std::vector<Tensor> in = {randn_t({2, 2, 3, 5}, 301).set_requires_grad(true),
                                  randn_t({2, 2, 4, 5}, 302).set_requires_grad(true),
                                  randn_t({2, 2, 4, 3}, 303).set_requires_grad(true)};
        CHECK_GRADCHECK([&](const std::vector<Tensor>& x) {
            return scaled_dot_product_attention(x[0], x[1], x[2], causal, mask, 1.7f);
        }, in);
        CHECK_GRADCHECK([&](const std::vector<Tensor>& x) {
            return scaled_dot_product_attention_reference(x[0], x[1], x[2], causal, mask, 1.7f);
        }, in);
    }
    // More than one tile in both directions (T = S = 70 > 64), causal, no mask.
    std::vector<Tensor> big = {randn_t({1, 1, 70, 3}, 304).set_requires_grad(true),
                               randn_t({1, 1, 70, 3}, 305).set_requires_grad(true),
                               randn_t({1, 1, 70, 2}, 306).set_requires_grad(true)};
    GradcheckOptions opt;
    opt.max_checks_per_input = 60;
    CHECK_GRADCHECK([&](const std::vector<Tensor>& x) {
        return scaled_dot_product_attention(x[0], x[1], x[2], true);
    }, big, opt);
}

TEST_CASE("attention: a row with every key masked gives zeros and zero gradient, never NaN") {
    // Batch 1 masks every key; in batch 0 key 0 is masked, so causal row 0 sees nothing.
    Tensor mask = from_vector({0, 1, 1, 1, 1, 0, 0, 0, 0, 0}, {2, 5});
    for (int path = 0; path < 2; ++path) {
        Tensor q = randn_t({2, 2, 4, 3}, 401).set_requires_grad(true);
        Tensor k = randn_t({2, 2, 5, 3}, 402).set_requires_grad(true);
        Tensor v = randn_t({2, 2, 5, 3}, 403).set_requires_grad(true);
        Tensor out = path == 0 ? scaled_dot_product_attention(q, k, v, true, mask)
                               : scaled_dot_product_attention_reference(q, k, v, true, mask);
        std::vector<float> o = out.to_vector();
        for (float x : o) CHECK(std::isfinite(x));
        for (int64_t h = 0; h < 2; ++h) {
            for (int64_t e = 0; e < 3; ++e) CHECK(o[size_t((h * 4 + 0) * 3 + e)] == 0.0f);  // b 0, row 0
            for (int64_t i = 0; i < 4; ++i)
                for (int64_t e = 0; e < 3; ++e) CHECK(o[size_t(((2 + h) * 4 + i) * 3 + e)] == 0.0f);  // b 1
        }
        // Row 1 of batch 0 sees only key 1: its output is exactly v[key 1].
        CHECK_CLOSE(raw_narrow(raw_narrow(out, 0, 0, 1), 2, 1, 1).contiguous(),
                    raw_narrow(raw_narrow(v, 0, 0, 1), 2, 1, 1).contiguous(), 1e-6, 1e-6);
        backward(sum(mul(out, randn_t(out.shape(), 404))));
        std::vector<float> gq = q.grad().to_vector(), gk = k.grad().to_vector(), gv = v.grad().to_vector();
        for (float x : gq) CHECK(std::isfinite(x));
        for (float x : gk) CHECK(std::isfinite(x));
        for (float x : gv) CHECK(std::isfinite(x));
        for (int64_t h = 0; h < 2; ++h)
            for (int64_t e = 0; e < 3; ++e) CHECK(gq[size_t((h * 4) * 3 + e)] == 0.0f);
        for (size_t i = gq.size() / 2; i < gq.size(); ++i) CHECK(gq[i] == 0.0f);
        for (size_t i = gk.size() / 2; i < gk.size(); ++i) CHECK(gk[i] == 0.0f);
        for (size_t i = gv.size() / 2; i < gv.size(); ++i) CHECK(gv[i] == 0.0f);
    }
}

TEST_CASE("attention: results do not depend on the thread count") {
    // Not causal, the 6 heads are a whole task each with one thread and 64-row
    // tiles with three (query_tile): the tile must not change a bit either.
    Tensor q = randn_t({2, 3, 100, 16}, 501), k = randn_t({2, 3, 90, 16}, 502), v = randn_t({2, 3, 90, 16}, 503);
    Tensor mask = make_mask(2, 90), w = randn_t({2, 3, 100, 16}, 504);
    int saved = omp_get_max_threads();
    for (bool causal : {true, false}) {
        CAPTURE(causal);
        std::vector<std::vector<float>> runs;
        for (int threads : {1, 3}) {
            omp_set_num_threads(threads);
            Tensor qq = q.detach().set_requires_grad(true), kk = k.detach().set_requires_grad(true);
            Tensor out = scaled_dot_product_attention(qq, kk, v, causal, mask, 2.0f);
            backward(sum(mul(out, w)));
            std::vector<float> all = out.to_vector(), gq = qq.grad().to_vector(), gk = kk.grad().to_vector();
            all.insert(all.end(), gq.begin(), gq.end());
            all.insert(all.end(), gk.begin(), gk.end());
            runs.push_back(all);
        }
        CHECK(runs[0] == runs[1]);
    }
    omp_set_num_threads(saved);
}

TEST_CASE("attention: under bf16 matmul precision it stays within bf16 rounding of f32") {
    // The tile products follow the precision switch (tensor/cpu/attention.cpp);
    // the softmax stays f32.  Outputs and gradients must move (bf16 is on)
    // by about the operands' rounding, 2^-9 relative, and no more.
    if (!cpu::gemm_bf16_supported()) return;
    Tensor q = randn_t({2, 3, 70, 16}, 511), k = randn_t({2, 3, 70, 16}, 512), v = randn_t({2, 3, 70, 16}, 513);
    Tensor w = randn_t({2, 3, 70, 16}, 514);
    std::vector<std::vector<float>> runs;
    for (auto p : {cpu::GemmPrecision::fp32, cpu::GemmPrecision::bf16}) {
        cpu::set_gemm_precision(p);
        Tensor qq = q.detach().set_requires_grad(true), kk = k.detach().set_requires_grad(true);
        Tensor out = scaled_dot_product_attention(qq, kk, v, true);
        backward(sum(mul(out, w)));
        std::vector<float> all = out.to_vector(), gq = qq.grad().to_vector(), gk = kk.grad().to_vector();
        all.insert(all.end(), gq.begin(), gq.end());
        all.insert(all.end(), gk.begin(), gk.end());
        runs.push_back(all);
    }
    cpu::set_gemm_precision(cpu::GemmPrecision::fp32);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < runs[0].size(); ++i) {
        worst = std::max(worst, double(std::fabs(runs[0][i] - runs[1][i])));
        scale = std::max(scale, double(std::fabs(runs[0][i])));
    }
    MESSAGE("bf16 attention: largest difference ", worst, " on values up to ", scale);
    CHECK(worst > 1e-3 * scale);  // bf16 products really ran (0.5 % here)
    CHECK(worst < 2e-2 * scale);  // and changed nothing beyond their rounding
}

TEST_CASE("attention: ViT-B/14 length (T = 1374) forward, spot-checked rows") {
    // 1374 tokens as in DINOv2 at 518 px.  The fused kernel holds one 64×256
    // score tile per thread (the 1374² matrix would be 7.5 MB per head), so
    // this also crosses key tiles, the part of the online softmax that rescales.
    const Case c{1, 1, 1374, 1374, 32, 32, false, false, 1.0f};
    Tensor q = randn_t({1, 1, c.T, c.d}, 601), k = randn_t({1, 1, c.S, c.d}, 602), v = randn_t({1, 1, c.S, c.dv}, 603);
    Tensor out = scaled_dot_product_attention(q, k, v);
    REQUIRE(out.shape() == Shape{1, 1, 1374, 32});
    // Check rows 0, 700 and 1373 against the plain loop on one-row queries.
    for (int64_t i : {0, 700, 1373}) {
        Tensor qi = raw_narrow(q, 2, i, 1);
        Case ci = c;
        ci.T = 1;
        CHECK_CLOSE(raw_narrow(out, 2, i, 1).contiguous(), plain_attention(qi, k, v, ci, {}), 2e-5, 1e-4);
    }
}

TEST_CASE("attention: errors name the op and the shapes") {
    Tensor q = zeros({1, 2, 3, 4}), k = zeros({1, 2, 5, 4}), v = zeros({1, 2, 5, 6});
    CHECK_THROWS_CONTAINING(scaled_dot_product_attention(q, zeros({1, 2, 5, 3}), v),
                            "scaled_dot_product_attention: shapes do not fit: q [1, 2, 3, 4], k [1, 2, 5, 3]");
    CHECK_THROWS_CONTAINING(scaled_dot_product_attention(q, k, zeros({1, 2, 4, 6})), "v [1, 2, 4, 6]");
    CHECK_THROWS_CONTAINING(scaled_dot_product_attention(zeros({2, 3, 4}), k, v), "must be [B, H, T, d]");
    CHECK_THROWS_CONTAINING(scaled_dot_product_attention(q, k, v, false, ones({1, 4})),
                            "key_padding_mask has shape [1, 4] but must be [B, S] = [1, 5]");
    CHECK_THROWS_CONTAINING(scaled_dot_product_attention(q, k, v, false, Tensor(), 0.0f), "score_divisor must be positive");
    // dv = 0 is refused up front (the CUDA gemm path could not run its backward).
    CHECK_THROWS_CONTAINING(scaled_dot_product_attention(q, k, zeros({1, 2, 5, 0})),
                            "value head dimension dv must be positive, got v [1, 2, 5, 0]");
    CHECK_THROWS_CONTAINING(scaled_dot_product_attention(q, k, zeros({1, 2, 5, 6}, {DType::i32})),
                            "scaled_dot_product_attention");
    // A valid call with dv != d has the right output shape.
    CHECK(scaled_dot_product_attention(q, k, v).shape() == Shape{1, 2, 3, 6});
}

TEST_CASE("attention: the packed-qkv entry point equals attention on the three views, gradient included") {
    // qkv as the layers make it: [B, T, 3, H, d] permuted to [3, B, H, T, d].
    const int64_t B = 2, T = 9, H = 3, d = 8;
    for (bool causal : {false, true}) {
        INFO("causal " << causal);
        Tensor base = randn_t({B, T, 3, H, d}, 40);
        Tensor mask = from_vector({1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {B, T});
        Tensor w = randn_t({B, H, T, d}, 41);
        auto run = [&](bool packed) {
            Tensor leaf = base.clone().set_requires_grad(true);
            Tensor qkv = permute(leaf, {2, 0, 3, 1, 4});
            Tensor o = packed ? scaled_dot_product_attention_packed(qkv, causal, mask, 2.0f)
                              : scaled_dot_product_attention(select(qkv, 0, 0), select(qkv, 0, 1),
                                                             select(qkv, 0, 2), causal, mask, 2.0f);
            backward(sum(o * w));
            return std::make_pair(o.to_vector(), leaf.grad().to_vector());
        };
        auto [o_packed, g_packed] = run(true);
        auto [o_views, g_views] = run(false);
        // The same kernels on the same views, and gradients that differ only in
        // how they are assembled (adding zeros is exact): bit for bit.
        CHECK(o_packed == o_views);
        CHECK(g_packed == g_views);
    }
    CHECK_THROWS_CONTAINING(scaled_dot_product_attention_packed(zeros({2, 1, 1, 3, 4})), "must be [3, B, H, T, d]");
}

TEST_CASE("attention: dropout in the fused kernel equals dropout on the materialised probabilities") {
    // The packed op with dropout_p draws, from the same generator state, the
    // mask eng::dropout draws for softmax(scores) [B, H, T, S]: outputs and
    // gradients agree to rounding, and both consume the same counters.
    const int64_t B = 2, T = 7, H = 2, d = 4;
    const float divisor = 2.0f, p = 0.3f;
    Tensor base = randn_t({B, T, 3, H, d}, 60);
    Tensor w = randn_t({B, H, T, d}, 61);
    Tensor pad = from_vector({1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1}, {B, T});  // keys 5, 6 of sample 0
    for (bool causal : {false, true}) {
        INFO("causal " << causal);
        std::vector<float> masked(size_t(B * T * T), 0.0f);  // [B, 1, T, T]: 1 where the key is hidden
        for (int64_t b = 0; b < B; ++b)
            for (int64_t i = 0; i < T; ++i)
                for (int64_t j = 0; j < T; ++j)
                    masked[size_t((b * T + i) * T + j)] = (causal && j > i) || pad.to_vector()[size_t(b * T + j)] == 0;
        struct Run {
            std::vector<float> out, grad;
            uint64_t offset;
        };
        auto run = [&](bool fused, float prob) {
            Generator g(7);
            g.reserve(5);  // a generator already in use
            Tensor leaf = base.clone().set_requires_grad(true);
            Tensor qkv = permute(leaf, {2, 0, 3, 1, 4});
            Tensor o;
            if (fused) {
                o = scaled_dot_product_attention_packed(qkv, causal, pad, divisor, prob, &g);
            } else {
                Tensor q = select(qkv, 0, 0), k = select(qkv, 0, 1), v = select(qkv, 0, 2);
                Tensor scores = matmul(q, transpose(k, -1, -2)) * float(1.0 / (std::sqrt(double(d)) * divisor));
                scores = masked_fill(scores, from_vector(masked, {B, 1, T, T}), -1e30f);
                o = matmul(dropout(softmax(scores, -1), prob, true, &g), v);
            }
            backward(sum(o * w));
            return Run{o.contiguous().to_vector(), leaf.grad().to_vector(), g.state().offset};
        };
        auto close = [](const std::vector<float>& a, const std::vector<float>& b) {
            REQUIRE(a.size() == b.size());
            double scale = 0, err = 0;
            for (size_t i = 0; i < a.size(); ++i) {
                scale = std::max(scale, double(std::fabs(b[i])));
                err = std::max(err, double(std::fabs(a[i] - b[i])));
            }
            return err <= 1e-5 * scale;
        };
        Run fused = run(true, p), plain = run(false, p), none = run(true, 0.0f);
        CHECK(close(fused.out, plain.out));
        CHECK(close(fused.grad, plain.grad));
        CHECK(fused.offset == plain.offset);
        CHECK(fused.offset == 5 + uint64_t(B * H * T * T));
        CHECK(none.offset == 5);                 // p = 0 draws nothing
        CHECK_FALSE(close(fused.out, none.out));  // and something was dropped
    }
    CHECK_THROWS_CONTAINING(scaled_dot_product_attention_packed(permute(base, {2, 0, 3, 1, 4}), true, pad, 1.0f, 1.5f),
                            "dropout probability 1.5 is outside [0, 1]");
    // Dropout is a fused-CPU-kernel feature: the reference path refuses it.
    Tensor q = randn_t({1, 1, 3, 4}, 62);
    CHECK_THROWS_CONTAINING(kernels::attention_forward(q, q, q, false, Tensor(), 1.0f, nullptr,
                                                       kernels::AttentionPath::Reference, {0.5f, 1, 0}),
                            "only in the fused CPU kernel");
}

TEST_CASE("attention: CPU results come in the layouts that make the model's reshapes views") {
    // The output [B, H, T, d] is stored as [B, T, H, d]: merging the heads,
    // permute(0, 2, 1, 3) then reshape to [B, T, H·d], copies nothing.  The
    // packed gradient [3, B, H, T, d] is stored as [B, T, 3, H, d], the layout
    // of the fused qkv projection.  Values are checked by the tests above.
    const int64_t B = 2, T = 5, H = 3, d = 4;
    Tensor qkv = raw_permute(randn_t({B, T, 3, H, d}, 50), {2, 0, 3, 1, 4});
    const Tensor q = raw_squeeze(raw_narrow(qkv, 0, 0, 1), 0), k = raw_squeeze(raw_narrow(qkv, 0, 1, 1), 0),
                 v = raw_squeeze(raw_narrow(qkv, 0, 2, 1), 0);
    Tensor lse;
    Tensor out = kernels::attention_forward(q, k, v, false, Tensor(), 1.0f, &lse);
    CHECK(out.shape() == Shape{B, H, T, d});
    CHECK_FALSE(out.is_contiguous());
    CHECK(raw_permute(out, {0, 2, 1, 3}).is_contiguous());
    Tensor g = kernels::attention_backward_packed(bthd_view(B, H, T, d, 51), q, k, v, out, lse, false, Tensor(), 1.0f);
    CHECK(g.shape() == Shape{3, B, H, T, d});
    CHECK(raw_permute(g, {1, 3, 0, 2, 4}).is_contiguous());
    // The same gradients as the three-tensor backward, in its own layout.
    kernels::AttentionGrads r =
        kernels::attention_backward(bthd_view(B, H, T, d, 51), q, k, v, out, lse, false, Tensor(), 1.0f);
    CHECK(g.contiguous().to_vector() == stack({r.dq, r.dk, r.dv}, 0).to_vector());
}
