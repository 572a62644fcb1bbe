// test_engine.cpp: the backward engine itself: accumulation, shared
// sub-expressions, deep graphs, graph freeing, no-grad mode, checkpointing,
// and a small MLP that must learn.
#include <algorithm>
#include <map>

#include "autograd/ops.h"
#include "nn/optim.h"
#include "tests/testing.h"

using namespace eng;

TEST_CASE("engine: a shared sub-expression receives the sum of both paths") {
    // y = s·s + 3s with s = x·w  =>  dy/dx = (2s + 3)·w
    Tensor x = from_vector({2.0f}, {1}).set_requires_grad(true);
    Tensor w = from_vector({-1.5f}, {1}).set_requires_grad(true);
    Tensor s = x * w;
    Tensor y = sum(s * s + s * 3.0f);
    backward(y);
    float sv = 2.0f * -1.5f;
    CHECK(x.grad().item() == doctest::Approx((2 * sv + 3) * -1.5f));
    CHECK(w.grad().item() == doctest::Approx((2 * sv + 3) * 2.0f));
}

TEST_CASE("engine: gradients accumulate across backward calls until reset") {
    Tensor x = from_vector({1, 2, 3}, {3}).set_requires_grad(true);
    backward(sum(x * 2.0f));
    backward(sum(x * x));
    CHECK(x.grad().to_vector() == std::vector<float>{2 + 2, 2 + 4, 2 + 6});
    x.set_grad(Tensor());
    backward(sum(x));
    CHECK(x.grad().to_vector() == std::vector<float>{1, 1, 1});
}

TEST_CASE("engine: a leaf's first gradient is kept without a copy only when nothing else holds it") {
    // A one-input node whose backward returns a fresh tensor: the leaf adopts it.
    const float* fresh_data = nullptr;
    Tensor kept;  // the second node's returned gradient, also held here
    auto node = [&](const Tensor& x, bool keep) {
        return autograd::record("test_node", x.detach() * 1.0f, {x}, [&, keep](const Tensor& g) -> std::vector<Tensor> {
            Tensor out = g.clone();
            if (keep) kept = out;
            else fresh_data = out.data<float>();
            return {out};
        });
    };
    Tensor a = from_vector({1, 2}, {2}).set_requires_grad(true);
    backward(sum(node(a, false)));
    CHECK(a.grad().data<float>() == fresh_data);  // adopted
    Tensor b = from_vector({1, 2}, {2}).set_requires_grad(true);
    backward(sum(node(b, true)));
    CHECK(b.grad().data<float>() != kept.data<float>());  // copied: `kept` still refers to the original
    backward(sum(b * 3.0f));  // in-place accumulation into b's .grad must leave `kept` alone
    CHECK(kept.to_vector() == std::vector<float>{1, 1});
    CHECK(b.grad().to_vector() == std::vector<float>{4, 4});
    // The same tensor returned for two inputs: each leaf gets its own copy.
    Tensor c = from_vector({1}, {1}).set_requires_grad(true), d = from_vector({2}, {1}).set_requires_grad(true);
    backward(sum(c + d));
    CHECK(c.grad().data<float>() != d.grad().data<float>());
    backward(sum(c * 5.0f));
    CHECK(c.grad().item() == 6.0f);
    CHECK(d.grad().item() == 1.0f);
}

TEST_CASE("engine: a chain of 10,000 ops neither overflows the stack nor loses precision") {
    Tensor x = from_vector({0.5f}, {1}).set_requires_grad(true);
    Tensor y = x;
    for (int i = 0; i < 10000; ++i) y = y + 0.001f;
    backward(sum(y));
    CHECK(x.grad().item() == 1.0f);
    // And dropping a long graph without running backward is safe too.
    Tensor z = x;
    for (int i = 0; i < 10000; ++i) z = z * 1.0f;
    z = Tensor();
}

TEST_CASE("engine: the graph is freed after backward unless retained") {
    Tensor x = from_vector({1, 2}, {2}).set_requires_grad(true);
    Tensor y = sum(exp(x));
    backward(y, Tensor(), true);
    backward(y);  // allowed: the first call kept the graph
    std::vector<float> g = x.grad().to_vector();
    CHECK(g[0] == doctest::Approx(2 * std::exp(1.0f)));
    CHECK_THROWS_CONTAINING(backward(y), "already freed");
}

TEST_CASE("engine: ops keep alive only the tensors their backward reads") {
    Generator gen(5);
    const int N = 4, I = 8, O = 6;
    Tensor x = randn({N, I}, &gen).set_requires_grad(true);
    Tensor frozen = randn({O, I}, &gen);  // no gradient wanted (LoRA's base layers)
    Tensor trained = randn({O, I}, &gen).set_requires_grad(true);
    auto storage_of = [](const Tensor& t) { return std::weak_ptr<Storage>(t.storage()); };
    SUBCASE("a frozen weight: dX = G·W does not need the input, which is freed") {
        Tensor h = mul(x, 2.0f);
        auto kept = storage_of(h);
        Tensor y = linear(h, frozen, Tensor());
        h = Tensor();
        CHECK(kept.expired());
        backward(sum(y));
        // dL/dx[n][i] = 2 Σ_o W[o][i]
        std::vector<float> w = frozen.to_vector(), gx = x.grad().to_vector();
        for (int n = 0; n < N; ++n)
            for (int i = 0; i < I; ++i) {
                double s = 0;
                for (int o = 0; o < O; ++o) s += 2.0 * w[size_t(o * I + i)];
                CHECK(gx[size_t(n * I + i)] == doctest::Approx(s).epsilon(1e-5));
            }
    }
    SUBCASE("a trained weight: dW = Gᵀ·X keeps the input") {
        Tensor h = mul(x, 2.0f);
        auto kept = storage_of(h);
        Tensor y = linear(h, trained, Tensor());
        h = Tensor();
        CHECK_FALSE(kept.expired());
    }
    SUBCASE("a LayerScale product and a residual sum: neither output is kept") {
        Tensor gamma = randn({I}, &gen).set_requires_grad(true);
        Tensor scaled = mul(mul(x, 2.0f), gamma);  // keeps its inputs (each one's gradient reads the other)
        auto scaled_kept = storage_of(scaled);
        Tensor residual = add(x, scaled);  // keeps nothing but shapes
        auto residual_kept = storage_of(residual);
        Tensor pooled = mean(residual, {0});  // likewise
        scaled = Tensor();
        residual = Tensor();
        CHECK(scaled_kept.expired());
        CHECK(residual_kept.expired());
        backward(sum(pooled));
        // d/dgamma[i] of Σ_i mean_n(x + 2 x γ)[i] = mean_n 2 x[n][i]
        std::vector<float> xv = x.to_vector(), gg = gamma.grad().to_vector();
        for (int i = 0; i < I; ++i) {
            double s = 0;
            for (int n = 0; n < N; ++n) s += 2.0 * xv[size_t(n * I + i)] / N;
            CHECK(gg[size_t(i)] == doctest::Approx(s).epsilon(1e-5));
        }
    }
    SUBCASE("a product with a frozen matrix keeps only the frozen one") {
        Tensor h = mul(x, 2.0f);
        auto kept = storage_of(h);
        Tensor y = matmul(h, raw_transpose(frozen, 0, 1));
        h = Tensor();
        CHECK(kept.expired());
    }
    SUBCASE("GELU is differentiated through its input: its output is not kept") {
        Tensor e = gelu(mul(x, 2.0f));
        auto kept = storage_of(e);
        Tensor s = sum(e);
        e = Tensor();
        CHECK(kept.expired());
    }
    SUBCASE("exp is differentiated through its output: its input is not kept") {
        Tensor h = mul(x, 2.0f);
        auto kept = storage_of(h);
        Tensor s = sum(exp(h));
        h = Tensor();
        CHECK(kept.expired());
        backward(s);
        std::vector<float> xv = x.to_vector(), gx = x.grad().to_vector();
        for (size_t i = 0; i < xv.size(); ++i) CHECK(gx[i] == doctest::Approx(2 * std::exp(2.0 * xv[i])).epsilon(1e-5));
    }
}

TEST_CASE("engine: no-grad mode and detach record nothing") {
    Tensor x = from_vector({1, 2}, {2}).set_requires_grad(true);
    {
        NoGradGuard guard;
        Tensor y = x * 2.0f;
        CHECK(!y.requires_grad());
        CHECK(y.grad_fn() == nullptr);
    }
    Tensor d = x.detach();
    CHECK(!d.requires_grad());
    CHECK(d.storage() == x.storage());
    Tensor y = x * d;  // d is a constant: dy/dx = d
    backward(sum(y));
    CHECK(x.grad().to_vector() == std::vector<float>{1, 2});
    CHECK_THROWS_CONTAINING(backward(sum(d * 2.0f)), "does not require grad");
    CHECK_THROWS_CONTAINING(backward(x * 2.0f), "implicit gradient of 1 needs a single element");
}

TEST_CASE("engine: a gradient of the wrong shape is reported with the node's name") {
    Tensor x = from_vector({1, 2}, {2}).set_requires_grad(true);
    Tensor y = autograd::record("broken_op", x.detach().clone(), {x},
                                [](const Tensor&) -> std::vector<Tensor> { return {zeros({3})}; });
    CHECK_THROWS_CONTAINING(backward(sum(y)), "backward of broken_op: gradient for input 0 has shape [3]");
}

TEST_CASE("checkpoint: recomputed and plain computation give identical gradients") {
    Generator g(7);
    Tensor w1 = randn({6, 8}, &g).set_requires_grad(true), w2 = randn({8, 3}, &g).set_requires_grad(true);
    Tensor x = randn({4, 6}, &g).set_requires_grad(true);
    auto block = [&](const std::vector<Tensor>& in) { return gelu(matmul(tanh(matmul(in[0], w1)), w2)); };
    backward(sum(block({x}) * 1.5f));
    std::vector<float> gx = x.grad().to_vector(), g1 = w1.grad().to_vector(), g2 = w2.grad().to_vector();
    x.set_grad(Tensor());
    w1.set_grad(Tensor());
    w2.set_grad(Tensor());
    Tensor out = checkpoint(block, {x});
    CHECK(out.grad_fn() != nullptr);
    backward(sum(out * 1.5f));
    CHECK(x.grad().to_vector() == gx);
    CHECK(w1.grad().to_vector() == g1);
    CHECK(w2.grad().to_vector() == g2);
}

TEST_CASE("checkpoint: random draws inside the segment are replayed identically") {
    Tensor x = ones({1000}).set_requires_grad(true);
    auto noisy = [](const std::vector<Tensor>& in) { return in[0] * rand({1000}); };
    manual_seed(3);
    Tensor y = checkpoint(noisy, {x});
    std::vector<float> mask = y.to_vector();  // x = 1, so y is the random draw itself
    backward(sum(y));
    CHECK(x.grad().to_vector() == mask);  // dy/dx is the same draw
}

TEST_CASE("engine: a two-layer MLP trained with SGD fits a synthetic classification problem") {
    // Three Gaussian blobs in 2-D; hidden width 16; plain SGD, lr 0.5, full batch.
    Generator g(11);
    const int n = 96, classes = 3;
    std::vector<float> xs, onehot(size_t(n * classes), 0.0f);
    float centers[3][2] = {{2, 0}, {-1, 1.7f}, {-1, -1.7f}};
    for (int i = 0; i < n; ++i) {
        int c = i % classes;
        xs.push_back(centers[c][0] + 0.4f * float(g.normal()));
        xs.push_back(centers[c][1] + 0.4f * float(g.normal()));
        onehot[size_t(i * classes + c)] = 1.0f;
    }
    Tensor X = from_vector(xs, {n, 2}), Y = from_vector(onehot, {n, classes});
    Tensor w1 = mul(randn({2, 16}, &g), 0.5f).set_requires_grad(true), b1 = zeros({16}).set_requires_grad(true);
    Tensor w2 = mul(randn({16, classes}, &g), 0.5f).set_requires_grad(true), b2 = zeros({classes}).set_requires_grad(true);
    std::vector<Tensor*> params = {&w1, &b1, &w2, &b2};
    float first = 0, last = 0;
    for (int step = 0; step < 300; ++step) {
        Tensor logits = matmul(relu(matmul(X, w1) + b1), w2) + b2;
        // cross-entropy = mean(logsumexp(z) - z[y])
        Tensor loss = mean(logsumexp(logits, {1}) - sum(logits * Y, {1}));
        if (step == 0) first = loss.item();
        last = loss.item();
        backward(loss);
        NoGradGuard ng;
        for (Tensor* p : params) {
            Tensor updated = *p - p->grad() * 0.5f;
            p->copy_(updated);
            p->set_grad(Tensor());
        }
    }
    CHECK(first > 0.5f);
    CHECK(last < 0.02f);
}

TEST_CASE("engine: the gradient-ready hook reports each leaf once, after its last contribution (checkpointing too)") {
    Generator g(21);
    Tensor x = randn({4, 3}, &g);
    Tensor w_twice = mul(randn({3, 3}, &g), 0.5f).set_requires_grad(true);   // two uses in the outer graph
    Tensor w_inside = mul(randn({3, 3}, &g), 0.5f).set_requires_grad(true);  // inside both checkpoint segments
    Tensor w_head = randn({3, 2}, &g).set_requires_grad(true);               // used once, at the end
    Tensor w_unused = randn({2}, &g).set_requires_grad(true);
    std::map<TensorImpl*, std::string> name = {{w_twice.impl(), "twice"}, {w_inside.impl(), "inside"},
                                               {w_head.impl(), "head"}, {w_unused.impl(), "unused"}};
    std::vector<std::string> order;
    std::map<std::string, std::vector<float>> at_report;
    auto segment = [&](const std::vector<Tensor>& in) { return tanh(matmul(in[0], w_inside)); };
    {
        autograd::LeafGradHook hook([&](TensorImpl* leaf) {
            if (!name.count(leaf)) return;
            order.push_back(name[leaf]);
            at_report[name[leaf]] = Tensor(leaf->grad).to_vector();
        });
        Tensor h = matmul(x, w_twice) + tanh(matmul(x, w_twice));
        h = checkpoint(segment, {h});
        h = checkpoint(segment, {h});
        backward(sum(matmul(h, w_head)));
    }
    // Every used leaf once; the checkpointed one only after both segments ran; the head first.
    REQUIRE(order.size() == 3);
    CHECK(order[0] == "head");
    CHECK(std::count(order.begin(), order.end(), "twice") == 1);
    CHECK(std::count(order.begin(), order.end(), "inside") == 1);
    // What was there when reported is the final gradient.
    CHECK(at_report["twice"] == w_twice.grad().to_vector());
    CHECK(at_report["inside"] == w_inside.grad().to_vector());
    CHECK(at_report["head"] == w_head.grad().to_vector());
    CHECK_FALSE(w_unused.grad().defined());
    // No hook installed: backward reports nothing (and works as before).
    order.clear();
    w_head.set_grad(Tensor());
    backward(sum(matmul(x, matmul(w_twice, w_head))));
    CHECK(order.empty());
}

TEST_CASE("gradcheck: the finite difference divides by the step actually taken") {
    // f(x) = x - 100 near 100: its outputs are exact, and so is the numeric
    // derivative 1 when divided by float(x + ε) - float(x - ε); divided by
    // 2ε it read up to 0.8 % off (the float spacing there is 7.6e-6).
    GradcheckOptions o;
    o.atol = 0;
    o.rtol = 1e-6;
    Tensor x = from_vector({100.3f, 99.7f, 100.01f, 101.9f}, {4}).set_requires_grad(true);
    GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return in[0] - 100.0f; }, {x}, o);
    CHECK_MESSAGE(r.ok, r.report);
}

TEST_CASE("engine: a tensor saved for backward and then written in place is an error, not a wrong gradient") {
    // y = x·w saves both; changing w before backward would differentiate at the new w.
    Tensor w = from_vector({1.0f, 2.0f}, {2}).set_requires_grad(true);
    Tensor x = from_vector({3.0f, 4.0f}, {2}).set_requires_grad(true);
    Tensor y = sum(mul(x, w));
    w.detach().copy_(from_vector({5.0f, 6.0f}, {2}));  // as an optimiser step would
    CHECK_THROWS_CONTAINING(backward(y), "backward of mul: backward: a tensor saved for the gradient was modified");
    // The same through an optimiser step, with a linear layer's saved weight.
    Tensor w2 = randn({3, 4}).set_requires_grad(true), x2 = randn({2, 4}).set_requires_grad(true);
    backward(sum(linear(x2, w2, Tensor())));  // a first gradient, so that the step changes w2
    Tensor loss = sum(linear(x2, w2, Tensor()));
    nn::AdamW opt({nn::ParamGroup{{&w2}, 0.1f, 0.0f}});
    opt.step();
    CHECK_THROWS_CONTAINING(backward(loss), "backward of linear");
    // A checkpointed segment's input written before the recompute.
    Tensor cw = randn({4}).set_requires_grad(true), cx = randn({4}).set_requires_grad(true);
    Tensor h = mul(cx, 2.0f);  // a non-leaf input to the segment
    Tensor seg = checkpoint([&](const std::vector<Tensor>& in) { return sum(mul(in[0], cw)); }, {h});
    h.detach().fill_(0.0f);
    CHECK_THROWS_CONTAINING(backward(seg), "modified in place");
    // Writing a tensor no backward saved, or after the backward, is fine.
    Tensor a = randn({3}).set_requires_grad(true), b = randn({3});
    Tensor z = sum(add(a, b));  // add saves nothing
    a.detach().fill_(1.0f);
    backward(z);
    CHECK(a.grad().to_vector() == std::vector<float>(3, 1.0f));
    Tensor c = randn({3}).set_requires_grad(true);
    Tensor q = sum(mul(c, c));
    backward(q);
    c.detach().fill_(0.0f);
    CHECK(c.grad().defined());
}
