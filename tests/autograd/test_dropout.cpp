// test_dropout.cpp: dropout's keep fraction, seeding, exact scaling, and a
// backward that reuses the forward's mask.
#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/nn_ops.h"
#include "autograd/node.h"
#include "autograd/views.h"
#include "tests/testing.h"

using namespace eng;

TEST_CASE("dropout: keeps about 1 - p of the elements, scaled exactly by 1/(1-p)") {
    Generator g(61);
    const float p = 0.3f;
    Tensor x = uniform({100000}, 1, 2, &g);  // never zero, so a zero output means dropped
    Tensor y = dropout(x, p, true, &g);
    std::vector<float> xv = x.to_vector(), yv = y.to_vector();
    const float scale = 1.0f / (1.0f - p);
    size_t kept = 0, bad = 0;
    for (size_t i = 0; i < xv.size(); ++i) {
        if (yv[i] == 0.0f) continue;
        ++kept;
        bad += yv[i] != xv[i] * scale;  // exact, no tolerance
    }
    CHECK(bad == 0);
    // Binomial: std of the fraction is sqrt(0.21/1e5) ≈ 0.0015; 0.008 is over 5 sigma.
    CHECK(std::fabs(double(kept) / double(xv.size()) - 0.7) < 0.008);
}

TEST_CASE("dropout: the same seed gives the same mask; the mask is the generator's bernoulli draw") {
    Tensor x = ones({8, 50});
    Generator g1(7), g2(7), g3(8), gb(7);
    Tensor a = dropout(x, 0.5f, true, &g1), b = dropout(x, 0.5f, true, &g2), c = dropout(x, 0.5f, true, &g3);
    CHECK_CLOSE(a, b, 0, 0);
    CHECK(!testing::compare(a, c, 0, 0).empty());  // another seed, another mask
    // the same draw as eng::bernoulli(1 - p) on a generator in the same state
    Tensor keep = bernoulli({8, 50}, 0.5f, &gb);
    CHECK_CLOSE(a, mul(keep, 2.0f), 0, 0);
    // the generator advanced: a second call gives a fresh mask
    CHECK(!testing::compare(dropout(x, 0.5f, true, &g1), a, 0, 0).empty());
    // a strided view is masked in its logical (row-major) order
    Generator g4(9), g5(9);
    Tensor base = uniform({6, 5}, 1, 2, &g4);
    Tensor xt = transpose(base, 0, 1);
    Generator h1(3), h2(3);
    CHECK_CLOSE(dropout(xt, 0.4f, true, &h1), dropout(xt.contiguous(), 0.4f, true, &h2), 0, 0);
}

TEST_CASE("dropout: backward applies the forward's mask") {
    Generator g(62);
    const float p = 0.25f;
    Tensor x = uniform({40, 30}, 1, 2, &g);
    x.set_requires_grad(true);
    Tensor y = dropout(x, p, true, &g);
    Tensor up = uniform({40, 30}, -1, 1, &g);
    backward(y, up);
    std::vector<float> yv = y.to_vector(), uv = up.to_vector(), gx = x.grad().to_vector();
    const float scale = 1.0f / (1.0f - p);
    size_t bad = 0;
    for (size_t i = 0; i < yv.size(); ++i) bad += gx[i] != (yv[i] == 0.0f ? 0.0f : uv[i] * scale);
    CHECK(bad == 0);
    // finite differences with a generator re-seeded on every call (the same mask each time)
    Tensor x2 = uniform({5, 7}, -1, 1, &g);
    x2.set_requires_grad(true);
    CHECK_GRADCHECK(
        [](const std::vector<Tensor>& in) {
            Generator fixed(99);
            return dropout(in[0], 0.4f, true, &fixed);
        },
        {x2});
}

TEST_CASE("dropout: p == 0 and eval return the input; p == 1 gives zeros") {
    Generator g(63);
    Tensor x = uniform({3, 4}, -1, 1, &g);
    x.set_requires_grad(true);
    CHECK(dropout(x, 0.0f, true, &g).impl() == x.impl());
    CHECK(dropout(x, 0.5f, false, &g).impl() == x.impl());
    Tensor y = dropout(x, 1.0f, true, &g);
    CHECK_CLOSE(y, std::vector<float>(12, 0.0f), 0, 0);
    backward(y, ones({3, 4}));
    CHECK_CLOSE(x.grad(), std::vector<float>(12, 0.0f), 0, 0);
}

TEST_CASE("dropout: errors name the op") {
    CHECK_THROWS_CONTAINING(dropout(ones({2}), 1.5f, true), "dropout: probability p = 1.5 is outside [0, 1]");
    CHECK_THROWS_CONTAINING(dropout(ones({2}), -0.1f, false), "dropout: probability p = -0.1");
    CHECK_THROWS_CONTAINING(dropout(from_ivector({1, 2}, {2}), 0.5f, true), "dropout: input must be f32");
}
