// test_layers.cpp: every nn layer against a plain reference loop written here
// and against finite differences taken through the module's own forward (the
// gradcheck inputs are put into the module's parameter slots, so the gradient
// checked is the module's).  LoRA and the Module features: test_lora_module.cpp.
#include <cmath>

#include "autograd/ops.h"
#include "nn/layers.h"
#include "tests/testing.h"

using namespace eng;
using namespace eng::nn;

namespace {

using Vec = std::vector<float>;

using testing::ref_affine;

// torch.nn.Linear layout: weight [out, in].
Vec ref_linear(const Vec& x, int64_t rows, const Tensor& weight, const Tensor& bias) {
    Vec W = weight.to_vector();
    int64_t out = weight.size(0), in = weight.size(1);
    return ref_affine(x, rows, in, out, [&](int64_t o, int64_t i) { return double(W[size_t(o * in + i)]); },
                      bias.defined() ? bias.to_vector() : Vec{});
}

double gelu_exact(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh(double x) {
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

Tensor rnd(const Shape& s, Generator& g, float lo = -1.0f, float hi = 1.0f) { return uniform(s, lo, hi, &g); }
Tensor leaf(const Shape& s, Generator& g, float lo = -1.0f, float hi = 1.0f) {
    Tensor t = rnd(s, g, lo, hi);
    t.set_requires_grad(true);
    return t;
}

}  // namespace

// ---- Linear ---------------------------------------------------------------------

TEST_CASE("layers: Linear [out, in] computes x·Wᵀ + b, with and without bias, and its gradients") {
    Generator g(1);
    for (bool with_bias : {true, false}) {
        Linear lin(5, 3, with_bias, &g);
        CHECK(lin.weight.shape() == Shape{3, 5});
        CHECK(lin.bias.defined() == with_bias);
        Tensor x = rnd({2, 4, 5}, g);
        CHECK_CLOSE(lin.forward(x), ref_linear(x.to_vector(), 8, lin.weight, lin.bias), 1e-5, 1e-5);
        // Default init: U(±1/√in) for weight and bias.
        for (float w : lin.weight.to_vector()) CHECK(std::fabs(w) <= 1.0f / std::sqrt(5.0f));
    }
    Linear lin(5, 3, true, &g);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
            lin.weight = in[1];
            lin.bias = in[2];
            return lin.forward(in[0]);
        },
        {leaf({2, 3, 5}, g), lin.weight, lin.bias});
    CHECK_THROWS_CONTAINING(lin.forward(zeros({2, 4})), "Linear: input [2, 4] does not end in 5");
}

TEST_CASE("layers: Linear in the Conv1D layout computes x·W + b with W [in, out]") {
    Generator g(2);
    auto lin = Linear::conv1d(6, 4, &g);
    REQUIRE(lin->weight.shape() == Shape{6, 4});
    CHECK(lin->conv1d_layout());
    CHECK(lin->bias.to_vector() == Vec(4, 0.0f));  // GPT-2 init: zero bias
    lin->bias.detach().copy_(rnd({4}, g));
    Tensor x = rnd({3, 6}, g);
    Vec W = lin->weight.to_vector();
    Vec expected = ref_affine(x.to_vector(), 3, 6, 4, [&](int64_t o, int64_t i) { return double(W[size_t(i * 4 + o)]); },
                              lin->bias.to_vector());
    CHECK_CLOSE(lin->forward(x), expected, 1e-5, 1e-5);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
            lin->weight = in[1];
            lin->bias = in[2];
            return lin->forward(in[0]);
        },
        {leaf({3, 6}, g), lin->weight, lin->bias});
}

// ---- normalisation ----------------------------------------------------------------

TEST_CASE("layers: LayerNorm normalises the last dim (affine and not) and its gradients") {
    Generator g(3);
    for (bool affine : {true, false}) {
        LayerNorm ln(6, 1e-5f, affine);
        CHECK(ln.named_parameters().size() == (affine ? 2u : 0u));
        if (affine) {
            ln.weight.detach().copy_(rnd({6}, g, 0.5f, 1.5f));
            ln.bias.detach().copy_(rnd({6}, g));
        }
        Tensor x = rnd({4, 6}, g, -2, 3);
        Vec X = x.to_vector(), y(X.size());
        Vec w = affine ? ln.weight.to_vector() : Vec(6, 1.0f), b = affine ? ln.bias.to_vector() : Vec(6, 0.0f);
        for (size_t r = 0; r < 4; ++r) {
            double m = 0, v = 0;
            for (size_t c = 0; c < 6; ++c) m += X[r * 6 + c] / 6.0;
            for (size_t c = 0; c < 6; ++c) v += (X[r * 6 + c] - m) * (X[r * 6 + c] - m) / 6.0;
            for (size_t c = 0; c < 6; ++c) y[r * 6 + c] = float((X[r * 6 + c] - m) / std::sqrt(v + 1e-5) * w[c] + b[c]);
        }
        CHECK_CLOSE(ln.forward(x), y, 1e-5, 1e-5);
    }
    LayerNorm ln(6);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
            ln.weight = in[1];
            ln.bias = in[2];
            return ln.forward(in[0]);
        },
        {leaf({3, 6}, g, -2, 2), leaf({6}, g, 0.5f, 1.5f), leaf({6}, g)});
}

TEST_CASE("layers: BatchNorm1d uses batch statistics in training and updates running stats with momentum 0.1") {
    Generator g(4);
    for (bool affine : {true, false}) {
        for (Shape s : {Shape{8, 3}, Shape{4, 3, 5}}) {
            BatchNorm1d bn(3, affine);
            CHECK(bn.momentum == 0.1f);
            CHECK(bn.eps == 1e-5f);
            CHECK(bn.named_parameters().size() == (affine ? 2u : 0u));
            CHECK(bn.named_buffers().size() == 3u);
            CHECK(bn.running_mean.to_vector() == Vec(3, 0.0f));
            CHECK(bn.running_var.to_vector() == Vec(3, 1.0f));
            CHECK(bn.num_batches_tracked.dtype() == DType::i32);
            CHECK(bn.num_batches_tracked.to_ivector() == std::vector<int32_t>{0});
            if (affine) {
                bn.weight.detach().copy_(rnd({3}, g, 0.5f, 1.5f));
                bn.bias.detach().copy_(rnd({3}, g));
            }
            int64_t N = s[0], C = 3, L = s.size() == 3 ? s[2] : 1;
            Vec w = affine ? bn.weight.to_vector() : Vec(3, 1.0f), b = affine ? bn.bias.to_vector() : Vec(3, 0.0f);
            std::vector<double> rm(3, 0.0), rv(3, 1.0);
            for (int step = 1; step <= 2; ++step) {
                Tensor x = rnd(s, g, -2, 3 + float(step));
                Vec X = x.to_vector(), y(X.size());
                for (int64_t c = 0; c < C; ++c) {
                    double m = 0, v = 0, M = double(N * L);
                    for (int64_t n = 0; n < N; ++n)
                        for (int64_t l = 0; l < L; ++l) m += X[size_t((n * C + c) * L + l)] / M;
                    for (int64_t n = 0; n < N; ++n)
                        for (int64_t l = 0; l < L; ++l) {
                            double d = X[size_t((n * C + c) * L + l)] - m;
                            v += d * d / M;
                        }
                    for (int64_t n = 0; n < N; ++n)
                        for (int64_t l = 0; l < L; ++l) {
                            size_t i = size_t((n * C + c) * L + l);
                            y[i] = float((X[i] - m) / std::sqrt(v + 1e-5) * w[size_t(c)] + b[size_t(c)]);
                        }
                    rm[size_t(c)] = 0.9 * rm[size_t(c)] + 0.1 * m;
                    rv[size_t(c)] = 0.9 * rv[size_t(c)] + 0.1 * v * M / (M - 1);  // unbiased
                }
                CHECK_CLOSE(bn.forward(x), y, 1e-5, 1e-4);
                CHECK_CLOSE(bn.running_mean, Vec(rm.begin(), rm.end()), 1e-6, 1e-5);
                CHECK_CLOSE(bn.running_var, Vec(rv.begin(), rv.end()), 1e-6, 1e-5);
                CHECK(bn.num_batches_tracked.to_ivector() == std::vector<int32_t>{step});
            }
            // Eval: the running statistics normalise, and nothing is updated.
            bn.eval();
            Tensor x = rnd(s, g, -2, 3);
            Vec X = x.to_vector(), y(X.size());
            for (int64_t n = 0; n < N; ++n)
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t l = 0; l < L; ++l) {
                        size_t i = size_t((n * C + c) * L + l);
                        y[i] = float((X[i] - rm[size_t(c)]) / std::sqrt(rv[size_t(c)] + 1e-5) * w[size_t(c)] +
                                     b[size_t(c)]);
                    }
            CHECK_CLOSE(bn.forward(x), y, 1e-5, 1e-4);
            CHECK_CLOSE(bn.running_mean, Vec(rm.begin(), rm.end()), 1e-6, 1e-5);
            CHECK(bn.num_batches_tracked.to_ivector() == std::vector<int32_t>{2});
        }
    }
}

TEST_CASE("layers: BatchNorm1d gradients in training and eval mode") {
    Generator g(5);
    BatchNorm1d bn(3);
    for (bool training : {true, false}) {
        bn.train(training);
        bn.running_mean.detach().copy_(rnd({3}, g));
        bn.running_var.detach().copy_(rnd({3}, g, 0.5f, 2.0f));
        CHECK_GRADCHECK(
            [&](const std::vector<Tensor>& in) {
                bn.weight = in[1];
                bn.bias = in[2];
                return bn.forward(in[0]);
            },
            {leaf({6, 3, 2}, g, -2, 2), leaf({3}, g, 0.5f, 1.5f), leaf({3}, g)});
    }
}

// ---- Embedding, Dropout, GELU ----------------------------------------------------------

TEST_CASE("layers: Embedding gathers rows, N(0, std) init, and scatters gradients") {
    Generator g(6);
    Embedding emb(10, 4, &g, 0.02f);
    Vec W = emb.weight.to_vector();
    double ss = 0;
    for (float w : W) ss += double(w) * w;
    CHECK(std::sqrt(ss / 40.0) < 0.04);  // std 0.02 (a loose bound: 40 draws)
    Tensor ids = from_ivector({3, 0, 9, 3, 7, 1}, {2, 3});
    Tensor y = emb.forward(ids);
    REQUIRE(y.shape() == Shape{2, 3, 4});
    Vec expected;
    for (int32_t id : ids.to_ivector())
        for (int d = 0; d < 4; ++d) expected.push_back(W[size_t(id * 4 + d)]);
    CHECK_CLOSE(y, expected, 0, 0);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
            emb.weight = in[0];
            return emb.forward(ids);
        },
        {emb.weight});
    CHECK_THROWS_CONTAINING(emb.forward(from_ivector({10}, {1})), "10");
}

TEST_CASE("layers: Dropout drops and rescales in training only") {
    Generator g(7);
    Dropout drop(0.25f);
    Tensor x = leaf({4000}, g, 0.5f, 1.5f);
    drop.eval();
    CHECK_CLOSE(drop.forward(x), x, 0, 0);
    drop.train();
    Tensor y = drop.forward(x);
    Vec X = x.to_vector(), Y = y.to_vector();
    size_t kept = 0, wrong = 0;
    for (size_t i = 0; i < X.size(); ++i) {
        wrong += !(Y[i] == 0.0f || std::fabs(Y[i] - X[i] / 0.75f) <= 1e-6f * std::fabs(Y[i]));
        kept += Y[i] != 0.0f;
    }
    CHECK(wrong == 0);  // each element is dropped or scaled by 1/(1-p)
    CHECK(kept > 2850);  // expected 3000, sd ≈ 27
    CHECK(kept < 3150);
    // The gradient is the same mask, scaled.
    backward(sum(y));
    Vec G = x.grad().to_vector();
    size_t bad = 0;
    for (size_t i = 0; i < X.size(); ++i) bad += std::fabs(G[i] - (Y[i] != 0.0f ? 1.0f / 0.75f : 0.0f)) > 1e-6f;
    CHECK(bad == 0);
    Dropout none(0.0f);
    CHECK_CLOSE(none.forward(x), x, 0, 0);
}

TEST_CASE("layers: GELU, exact (erf) and tanh forms, values and gradients") {
    Generator g(8);
    Tensor x = rnd({50}, g, -4, 4);
    for (bool approx : {false, true}) {
        GELU act(approx);
        Vec expected;
        for (float v : x.to_vector()) expected.push_back(float(approx ? gelu_tanh(v) : gelu_exact(v)));
        CHECK_CLOSE(act.forward(x), expected, 1e-6, 1e-5);
        CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return act.forward(in[0]); }, {leaf({20}, g, -3, 3)});
    }
    // The two forms differ by 4e-4 at x = 2.5, so a swapped flag would show.
    CHECK(std::fabs(gelu_exact(2.5) - gelu_tanh(2.5)) > 4e-4);
    CHECK(std::fabs(GELU(false).forward(full({1}, 2.5f)).item() - float(gelu_exact(2.5))) < 2e-6);
    CHECK(std::fabs(GELU(true).forward(full({1}, 2.5f)).item() - float(gelu_tanh(2.5))) < 2e-6);
}

TEST_CASE("layers: MLP is fc2(gelu(fc1 x)) with the DINOv2 names") {
    Generator g(9);
    for (bool tanh_gelu : {false, true}) {
        MLP mlp(4, 7, tanh_gelu, 0.0f, &g);
        std::vector<std::string> names;
        for (auto& [n, t] : mlp.named_parameters()) names.push_back(n);
        CHECK(names == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
        Tensor x = rnd({3, 4}, g, -2, 2);
        Vec h = ref_linear(x.to_vector(), 3, mlp.fc1->weight, mlp.fc1->bias);
        for (float& v : h) v = float(tanh_gelu ? gelu_tanh(v) : gelu_exact(v));
        CHECK_CLOSE(mlp.forward(x), ref_linear(h, 3, mlp.fc2->weight, mlp.fc2->bias), 1e-5, 1e-5);
    }
    MLP mlp(4, 6, false, 0.0f, &g);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
            mlp.fc1->weight = in[1];
            mlp.fc1->bias = in[2];
            mlp.fc2->weight = in[3];
            mlp.fc2->bias = in[4];
            return mlp.forward(in[0]);
        },
        {leaf({2, 4}, g), mlp.fc1->weight, mlp.fc1->bias, mlp.fc2->weight, mlp.fc2->bias});
}

// ---- Attention --------------------------------------------------------------------

TEST_CASE("layers: Attention equals per-head softmax(q·kᵀ/√d)·v through qkv and proj (causal, padded)") {
    Generator g(10);
    const int64_t B = 2, T = 5, D = 8, H = 2, hd = D / H;
    Attention attn(D, H, true, &g);
    Tensor x = rnd({B, T, D}, g, -1.5f, 1.5f);
    Vec qkv = ref_linear(x.to_vector(), B * T, attn.qkv->weight, attn.qkv->bias);  // [B·T, 3D]: q | k | v
    Vec keep = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};                                    // batch 1: last 2 keys padded
    for (bool causal : {false, true})
        for (bool padded : {false, true}) {
            Vec o(size_t(B * T * D));
            for (int64_t b = 0; b < B; ++b)
                for (int64_t h = 0; h < H; ++h)
                    for (int64_t i = 0; i < T; ++i) {
                        auto at = [&](int64_t t, int64_t which, int64_t e) {
                            return double(qkv[size_t((b * T + t) * 3 * D + which * D + h * hd + e)]);
                        };
                        std::vector<double> p(size_t(T), 0.0);
                        double mx = -1e300, z = 0;
                        for (int64_t j = 0; j < T; ++j) {
                            if ((causal && j > i) || (padded && keep[size_t(b * T + j)] == 0)) continue;
                            double s = 0;
                            for (int64_t e = 0; e < hd; ++e) s += at(i, 0, e) * at(j, 1, e);
                            p[size_t(j)] = s / std::sqrt(double(hd));
                            mx = std::max(mx, p[size_t(j)]);
                        }
                        for (int64_t j = 0; j < T; ++j) {
                            bool vis = !((causal && j > i) || (padded && keep[size_t(b * T + j)] == 0));
                            p[size_t(j)] = vis ? std::exp(p[size_t(j)] - mx) : 0.0;
                            z += p[size_t(j)];
                        }
                        for (int64_t e = 0; e < hd; ++e) {
                            double acc = 0;
                            for (int64_t j = 0; j < T; ++j) acc += p[size_t(j)] / z * at(j, 2, e);
                            o[size_t((b * T + i) * D + h * hd + e)] = float(acc);
                        }
                    }
            Tensor mask = padded ? from_vector(keep, {B, T}) : Tensor();
            CHECK_CLOSE(attn.forward(x, causal, mask), ref_linear(o, B * T, attn.proj->weight, attn.proj->bias), 1e-5,
                        1e-4);
        }
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
            attn.qkv->weight = in[1];
            attn.qkv->bias = in[2];
            attn.proj->weight = in[3];
            return attn.forward(in[0], true);
        },
        {leaf({1, 4, D}, g), attn.qkv->weight, attn.qkv->bias, attn.proj->weight});
    CHECK_THROWS_CONTAINING(Attention(10, 3), "not divisible by 3 heads");
}

// ---- LayerScale, PatchEmbed ------------------------------------------------------------

TEST_CASE("layers: LayerScale multiplies each channel by gamma") {
    Generator g(11);
    LayerScale ls(5, 1e-5f);
    CHECK(ls.gamma.to_vector() == Vec(5, 1e-5f));
    CHECK(ls.named_parameters().at(0).first == "gamma");
    ls.gamma.detach().copy_(rnd({5}, g));
    Tensor x = rnd({2, 3, 5}, g);
    Vec X = x.to_vector(), G = ls.gamma.to_vector(), y;
    for (size_t i = 0; i < X.size(); ++i) y.push_back(X[i] * G[i % 5]);
    CHECK_CLOSE(ls.forward(x), y, 0, 0);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
            ls.gamma = in[1];
            return ls.forward(in[0]);
        },
        {leaf({2, 5}, g), ls.gamma});
}

TEST_CASE("layers: PatchEmbed equals a stride-p convolution loop; the grayscale path matches on identical channels") {
    Generator g(12);
    const int64_t B = 2, C = 3, Hh = 6, Ww = 9, p = 3, D = 4, gh = Hh / p, gw = Ww / p;
    PatchEmbed pe(C, D, p, &g);
    REQUIRE(pe.proj.weight.shape() == Shape{D, C, p, p});
    CHECK(pe.named_parameters().at(0).first == "proj.weight");
    Tensor x = rnd({B, C, Hh, Ww}, g);
    auto conv = [&](const Vec& X) {
        Vec W = pe.proj.weight.to_vector(), bias = pe.proj.bias.to_vector(), y(size_t(B * gh * gw * D));
        for (int64_t b = 0; b < B; ++b)
            for (int64_t py = 0; py < gh; ++py)
                for (int64_t px = 0; px < gw; ++px)
                    for (int64_t d = 0; d < D; ++d) {
                        double s = bias[size_t(d)];
                        for (int64_t c = 0; c < C; ++c)
                            for (int64_t i = 0; i < p; ++i)
                                for (int64_t j = 0; j < p; ++j)
                                    s += double(W[size_t(((d * C + c) * p + i) * p + j)]) *
                                         X[size_t(((b * C + c) * Hh + py * p + i) * Ww + px * p + j)];
                        y[size_t(((b * gh + py) * gw + px) * D + d)] = float(s);
                    }
        return y;
    };
    Tensor y = pe.forward(x);
    REQUIRE(y.shape() == Shape{B, gh * gw, D});
    CHECK_CLOSE(y, conv(x.to_vector()), 1e-5, 1e-5);
    // Three identical channels.
    Tensor one = rnd({B, 1, Hh, Ww}, g);
    Tensor gray = raw_expand(one, {B, C, Hh, Ww}).contiguous();
    CHECK_CLOSE(pe.forward_grayscale(gray), conv(gray.to_vector()), 1e-5, 1e-5);
    CHECK_CLOSE(pe.forward_grayscale(gray), pe.forward(gray), 1e-5, 1e-5);
    CHECK_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
            pe.proj.weight = in[1];
            pe.proj.bias = in[2];
            return pe.forward(in[0]);
        },
        {leaf({1, C, p, 2 * p}, g), pe.proj.weight, pe.proj.bias});
    CHECK_THROWS_CONTAINING(pe.forward(zeros({1, 1, 6, 6})), "PatchEmbed: input must be [B, 3, H, W]");
}
