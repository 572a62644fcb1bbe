// bench_op.h: `bench op NAME|list|all`: one differentiable op, forward and
// backward, at the shape it has in the bench-cpu MaMA step (header-only,
// included by tools/bench.cpp).
//
// Forward is timed with gradients enabled (the graph is recorded, as in
// training); backward is timed alone: each repetition builds the graph untimed,
// clears the leaves' gradients (so no accumulation add is timed), then times
// backward(y, dy).  Times are medians over repetitions after a warm-up; the
// rates use the fastest wall time and, separately, the CPU time.
// Memory-bound ops report GB/s of their MINIMUM traffic (each input read once,
// each output written once, in f32), compute-bound ones GFLOP/s of their
// products; so a rate far below the machine's bandwidth or FMA peak marks a
// kernel worth optimising.
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "mama/objectives.h"
#include "nn/optim.h"
#include "tools/bench_common.h"
#include "tools/bench_flops.h"

namespace bench {

struct OpCase {
    std::string shape;            // human-readable shapes
    bool flops = false;           // work counted in FLOPs (else bytes)
    double fwd_work = 0, bwd_work = 0;
    std::vector<eng::Tensor> leaves;      // inputs that require a gradient
    std::function<eng::Tensor()> forward; // builds the graph, returns the output
    std::function<void()> update;         // instead of forward/backward: one timed call (optimisers)
};

struct OpEntry {
    const char* name;
    const char* what;
    std::function<OpCase(int64_t batch)> make;  // batch = B of the step (8 in bench-cpu)
};

namespace op_detail {

inline eng::Tensor leaf(eng::Tensor t) {
    t.set_requires_grad(true);
    return t;
}
inline eng::Tensor rnd(const eng::Shape& s, uint64_t seed) {
    eng::Generator g(seed);
    return eng::randn(s, &g);
}
inline eng::Tensor unit_rows(const eng::Shape& s, uint64_t seed) {
    eng::NoGradGuard ng;
    return eng::l2_normalize(rnd(s, seed)).contiguous();
}
inline std::string dims(const eng::Shape& s) { return eng::shape_str(s); }
constexpr double F4 = 4.0;  // bytes per f32

// Elementwise/normalisation op on one input: traffic (reads + writes) in units of n.
inline OpCase unary(const eng::Shape& s, double fwd_n, double bwd_n, std::function<eng::Tensor(const eng::Tensor&)> f) {
    OpCase c;
    eng::Tensor x = leaf(rnd(s, 1));
    const double n = double(eng::shape_numel(s));
    c.shape = dims(s);
    c.fwd_work = fwd_n * n * F4, c.bwd_work = bwd_n * n * F4;
    c.leaves = {x};
    c.forward = [x, f] { return f(x); };
    return c;
}

// Attention FLOPs: Q·Kᵀ and P·V, 2·T·S·d each per head; causal: only the
// T(T+1)/2 visible pairs.  Backward: dQ, dK, dV and dP, twice the forward.
inline OpCase attention(int64_t B, int64_t H, int64_t T, int64_t d, bool causal) {
    OpCase c;
    eng::Tensor q = leaf(rnd({B, H, T, d}, 1)), k = leaf(rnd({B, H, T, d}, 2)), v = leaf(rnd({B, H, T, d}, 3));
    eng::Tensor mask;
    if (causal) {  // captions of varied length, pads on the right
        std::vector<float> m(size_t(B * T), 1.0f);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t t = T - 4 * (b % 4); t < T; ++t) m[size_t(b * T + t)] = 0.0f;
        mask = eng::from_vector(m, {B, T});
    }
    const double pairs = causal ? double(T) * double(T + 1) / 2.0 : double(T) * double(T);
    c.flops = true;
    c.shape = dims({B, H, T, d}) + (causal ? " causal, padding mask" : "");
    c.fwd_work = 4.0 * double(B * H) * pairs * double(d);
    c.bwd_work = 2.0 * c.fwd_work;
    c.leaves = {q, k, v};
    c.forward = [q, k, v, mask, causal] { return eng::scaled_dot_product_attention(q, k, v, causal, mask); };
    return c;
}

// 40 parameters of 512 × 1024 (20.97M) with random gradients, as the
// optimiser-side ops see a model; the pointers stay valid while the set lives.
struct ParamSet {
    std::vector<eng::Tensor> params;
    std::vector<eng::Tensor*> ptrs;
};
inline std::shared_ptr<ParamSet> param_set() {
    auto s = std::make_shared<ParamSet>();
    for (int i = 0; i < 40; ++i) {
        s->params.push_back(leaf(rnd({512, 1024}, uint64_t(i))));
        s->params.back().set_grad(rnd({512, 1024}, uint64_t(100 + i)));
    }
    for (auto& t : s->params) s->ptrs.push_back(&t);
    return s;
}
}  // namespace op_detail

// The ops and their bench-cpu shapes: B samples, 261 ViT tokens (CLS, 4
// registers, 16×16 patches) of width 384 (MLP 1536), 128 text tokens, 6 heads
// of 64, joint width 512, local hidden 1024, vocabulary 8192.
inline const std::vector<OpEntry>& op_registry() {
    using namespace op_detail;
    using eng::Tensor;
    static const std::vector<OpEntry> ops = {
        {"add", "residual x + y, ViT tokens", [](int64_t B) {
             OpCase c = unary({B, 261, 384}, 3, 3, nullptr);
             Tensor y = leaf(rnd({B, 261, 384}, 2)), x = c.leaves[0];
             c.leaves.push_back(y);
             c.forward = [x, y] { return eng::add(x, y); };
             return c;
         }},
        {"mul", "x * y, ViT tokens", [](int64_t B) {
             OpCase c = unary({B, 261, 384}, 3, 5, nullptr);
             Tensor y = leaf(rnd({B, 261, 384}, 2)), x = c.leaves[0];
             c.leaves.push_back(y);
             c.forward = [x, y] { return eng::mul(x, y); };
             return c;
         }},
        {"gelu", "exact GELU, ViT MLP hidden", [](int64_t B) {
             return unary({B, 261, 1536}, 2, 3, [](const Tensor& x) { return eng::gelu(x); });
         }},
        {"gelu_tanh", "tanh GELU (gelu_new), GPT-2 MLP hidden", [](int64_t B) {
             return unary({B, 128, 1536}, 2, 3, [](const Tensor& x) { return eng::gelu(x, true); });
         }},
        {"softmax", "last dim, GPT-2 attention scores", [](int64_t B) {
             return unary({B, 6, 128, 128}, 2, 3, [](const Tensor& x) { return eng::softmax(x, -1); });
         }},
        {"log_softmax", "last dim, LM logits (vocab 8192)", [](int64_t B) {
             return unary({B * 128, 8192}, 2, 3, [](const Tensor& x) { return eng::log_softmax(x, -1); });
         }},
        {"layer_norm", "with weight and bias, ViT tokens", [](int64_t B) {
             OpCase c = unary({B, 261, 384}, 2, 3, nullptr);
             Tensor x = c.leaves[0], w = leaf(eng::ones({384})), b = leaf(eng::zeros({384}));
             c.leaves.push_back(w), c.leaves.push_back(b);
             c.forward = [x, w, b] { return eng::layer_norm(x, w, b, 1e-6f); };
             return c;
         }},
        {"batch_norm", "training statistics, φ_v hidden (B·256 tokens × 1024)", [](int64_t B) {
             OpCase c = unary({B * 256, 1024}, 2, 3, nullptr);
             Tensor x = c.leaves[0], w = leaf(eng::ones({1024})), b = leaf(eng::zeros({1024}));
             Tensor rm = eng::zeros({1024}), rv = eng::ones({1024});
             c.leaves.push_back(w), c.leaves.push_back(b);
             c.forward = [x, w, b, rm, rv] { return eng::batch_norm(x, rm, rv, w, b, true); };
             return c;
         }},
        {"cross_entropy", "mean CE, LM logits (vocab 8192)", [](int64_t B) {
             OpCase c = unary({B * 128, 8192}, 1, 2, nullptr);
             eng::Generator g(7);
             Tensor x = c.leaves[0], t = eng::randint(0, 8192, {B * 128}, &g);
             c.forward = [x, t] { return eng::cross_entropy(x, t); };
             return c;
         }},
        {"attention_vit", "fused attention, ViT-S (261 tokens)", [](int64_t B) { return attention(B, 6, 261, 64, false); }},
        {"attention_text", "fused causal attention, text (128 tokens)", [](int64_t B) { return attention(B, 6, 128, 64, true); }},
        {"matmul", "x·W, ViT fc1 (B·261 × 384 × 1536)", [](int64_t B) {
             OpCase c;
             const int64_t M = B * 261, K = 384, N = 1536;
             Tensor x = leaf(rnd({M, K}, 1)), w = leaf(rnd({K, N}, 2));
             c.flops = true;
             c.shape = dims({M, K}) + " x " + dims({K, N});
             c.fwd_work = gemm_flops(M, N, K);
             c.bwd_work = 2.0 * c.fwd_work;
             c.leaves = {x, w};
             c.forward = [x, w] { return eng::matmul(x, w); };
             return c;
         }},
        {"embedding", "token lookup, wte 8192 × 384 (dense table gradient)", [](int64_t B) {
             OpCase c;
             eng::Generator g(3);
             Tensor w = leaf(rnd({8192, 384}, 1)), ids = eng::randint(0, 8192, {B, 128}, &g);
             const double out = double(B * 128 * 384);
             c.shape = dims({8192, 384}) + " [" + std::to_string(B) + ", 128]";
             c.fwd_work = 2.0 * out * F4;
             c.bwd_work = (2.0 * out + 8192.0 * 384.0) * F4;
             c.leaves = {w};
             c.forward = [w, ids] { return eng::embedding(w, ids); };
             return c;
         }},
        {"sum", "all elements, ViT tokens", [](int64_t B) {
             return unary({B, 261, 384}, 1, 1, [](const Tensor& x) { return eng::sum(x); });
         }},
        {"mean_tokens", "mean over tokens (pooling), ViT tokens", [](int64_t B) {
             return unary({B, 261, 384}, 1, 1, [](const Tensor& x) { return eng::mean(x, {1}); });
         }},
        {"max", "max over tokens (dim 1) with arg-max gradient", [](int64_t B) {
             return unary({B, 261, 384}, 1, 1, [](const Tensor& x) { return eng::max(x, 1).values; });
         }},
        {"l2_normalize", "rows, φ_v output (B·256 × 512)", [](int64_t B) {
             return unary({B * 256, 512}, 2, 3, [](const Tensor& x) { return eng::l2_normalize(x); });
         }},
        {"clip_loss", "CLIP loss, B × 512 embeddings", [](int64_t B) {
             OpCase c;
             Tensor v = leaf(unit_rows({B, 512}, 1)), u = leaf(unit_rows({B, 512}, 2));
             Tensor s = leaf(eng::full({}, std::log(1.0f / 0.07f)));
             c.flops = true;
             c.shape = dims({B, 512}) + " x2";
             c.fwd_work = gemm_flops(B, B, 512);
             c.bwd_work = 2.0 * c.fwd_work;
             c.leaves = {v, u, s};
             c.forward = [v, u, s] { return mama::clip_loss(v, u, s); };
             return c;
         }},
        {"nt_xent_loss", "multi-view NT-Xent, B × 512, tau 0.5", [](int64_t B) {
             OpCase c;
             Tensor a = leaf(rnd({B, 512}, 1)), b = leaf(rnd({B, 512}, 2));
             c.flops = true;
             c.shape = dims({B, 512}) + " x2";
             c.fwd_work = gemm_flops(2 * B, 2 * B, 512);
             c.bwd_work = 2.0 * c.fwd_work;
             c.leaves = {a, b};
             c.forward = [a, b] { return mama::nt_xent_loss(a, b, 0.5f); };
             return c;
         }},
        {"sla_loss", "symmetric local alignment, 256 patches, 8 sentences per caption", [](int64_t B) {
             OpCase c;
             const int64_t N = 256, J = 8, E = 512, S = B * J;
             Tensor p = leaf(unit_rows({B, N, E}, 1)), s = leaf(unit_rows({S, E}, 2));
             Tensor scale = leaf(eng::full({}, std::log(1.0f / 0.07f)));
             std::vector<int64_t> counts(size_t(B), J);
             c.flops = true;
             c.shape = dims({B, N, E}) + " " + dims({S, E});
             c.fwd_work = gemm_flops(B * N, S, E);
             c.bwd_work = 4.0 * double(E) * double(B * S + B * B * N);  // gradient to the arg-max elements
             c.leaves = {p, s, scale};
             c.forward = [p, s, scale, counts] { return mama::sla_loss(p, s, counts, scale, true); };
             return c;
         }},
        {"adamw", "AdamW update of 20.97M parameters (40 × 512Ki), weight decay 0.1", [](int64_t) {
             OpCase c;
             auto set = param_set();
             auto opt = std::make_shared<eng::nn::AdamW>(std::vector<eng::nn::ParamGroup>{{set->ptrs, 1e-4f, 0.1f}});
             c.shape = "40 x " + dims({512, 1024});
             c.fwd_work = 7.0 * 40 * 512 * 1024 * F4;  // read p, g, m, v; write p, m, v
             c.update = [set, opt] { opt->step(); };
             return c;
         }},
        {"grad_norm", "joint L2 norm of 20.97M gradients (clipping, NaN guard)", [](int64_t) {
             OpCase c;
             auto set = param_set();
             c.shape = "40 x " + dims({512, 1024});
             c.fwd_work = 40.0 * 512 * 1024 * F4;  // read each gradient once
             c.update = [set] { (void)eng::nn::grad_norm(set->ptrs); };
             return c;
         }},
    };
    return ops;
}

// Runs one op and prints its row of the table: per direction the median wall
// time, the median CPU time (all threads), the rate from the minimum wall time
// (the run least disturbed by other processes) and the rate per CPU-second
// (work / CPU time: per core, and what to read on a loaded machine).
inline void run_op_entry(const OpEntry& e, int64_t batch, int reps) {
    OpCase c = e.make(batch);
    auto cols = [&](const Samples& s, double work) {
        const double cpu = median_of(s.cpu);
        std::printf(" | %8.3f %8.3f %8.1f %8.1f", 1e3 * median_of(s.wall), 1e3 * cpu, work / min_of(s.wall) * 1e-9,
                    work / std::max(cpu, 1e-9) * 1e-9);
    };
    std::printf("%-15s %-38s %-7s", e.name, c.shape.c_str(), c.flops ? "GFLOP/s" : "GB/s");
    if (c.update) {
        cols(time_runs(c.update, reps), c.fwd_work);
        std::printf(" | %8s\n", "-");
        return;
    }
    cols(time_runs([&] { eng::Tensor y = c.forward(); }, reps), c.fwd_work);
    // Backward: build the graph untimed, clear the leaves' gradients, time backward alone.
    eng::Tensor y, dy;
    auto build = [&] {
        y = c.forward();
        if (y.numel() > 1 && !dy.defined()) dy = op_detail::rnd(y.shape(), 99);
        for (auto& l : c.leaves) l.set_grad(eng::Tensor());
    };
    cols(time_runs([&] { eng::backward(y, y.numel() > 1 ? dy : eng::Tensor()); }, reps, build), c.bwd_work);
    std::printf("\n");
}

inline void print_op_header() {
    std::printf("%-15s %-38s %-7s | %8s %8s %8s %8s | %8s %8s %8s %8s\n", "op", "shape", "unit", "fwd ms", "cpu ms",
                "rate", "rate/cpu", "bwd ms", "cpu ms", "rate", "rate/cpu");
}

}  // namespace bench
