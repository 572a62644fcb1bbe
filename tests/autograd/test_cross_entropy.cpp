// test_cross_entropy.cpp: fused cross-entropy against reference loops, finite
// differences, the (softmax - onehot)/count gradient, ignore_index and errors.
#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/nn_ops.h"
#include "autograd/node.h"
#include "autograd/views.h"
#include "tests/testing.h"

using namespace eng;

namespace {

// Reference mean loss over rows whose target is not `ignore` (NaN when none).
double ref_ce(const Tensor& logits, const std::vector<int32_t>& t, int64_t ignore) {
    std::vector<float> x = logits.contiguous().to_vector();
    int64_t C = logits.size(1);
    double total = 0;
    int count = 0;
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == ignore) continue;
        const float* row = &x[i * size_t(C)];
        double s = 0;
        for (int64_t j = 0; j < C; ++j) s += std::exp(double(row[j]));
        total += std::log(s) - row[t[i]];
        ++count;
    }
    return count ? total / count : std::nan("");
}

// Reference gradient of the mean loss: (softmax - onehot) / count on kept rows.
std::vector<float> ref_grad(const Tensor& logits, const std::vector<int32_t>& t, int64_t ignore) {
    std::vector<float> x = logits.contiguous().to_vector();
    int64_t C = logits.size(1);
    int count = 0;
    for (int32_t v : t) count += v != ignore;
    std::vector<float> gr(x.size(), 0.0f);
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == ignore) continue;
        double s = 0;
        for (int64_t j = 0; j < C; ++j) s += std::exp(double(x[i * size_t(C) + size_t(j)]));
        for (int64_t j = 0; j < C; ++j)
            gr[i * size_t(C) + size_t(j)] = float((std::exp(x[i * size_t(C) + size_t(j)]) / s - (j == t[i])) / count);
    }
    return gr;
}

}  // namespace

TEST_CASE("cross_entropy: forward matches a reference loop") {
    Generator g(21);
    for (auto [N, C] : {std::pair<int64_t, int64_t>{1, 2}, {5, 3}, {16, 10}}) {
        Tensor x = uniform({N, C}, -3, 3, &g);
        std::vector<int32_t> t = randint(0, C, {N}, &g).to_ivector();
        Tensor loss = cross_entropy(x, from_ivector(t, {N}));
        CHECK(loss.dim() == 0);
        CHECK(loss.item() == doctest::Approx(ref_ce(x, t, -100)).epsilon(1e-5));
    }
    // non-contiguous logits
    Tensor base = uniform({4, 6}, -2, 2, &g);
    Tensor xt = transpose(base, 0, 1);  // [6, 4]
    std::vector<int32_t> t = {0, 3, 1, 2, 2, 0};
    CHECK(cross_entropy(xt, from_ivector(t, {6})).item() == doctest::Approx(ref_ce(xt, t, -100)).epsilon(1e-5));
}

TEST_CASE("cross_entropy: backward is (softmax - onehot) / count, also with ignored rows") {
    Generator g(22);
    Tensor x = uniform({7, 5}, -2, 2, &g);
    x.set_requires_grad(true);
    std::vector<int32_t> t = {1, -100, 4, 0, -100, 2, 3};
    Tensor loss = cross_entropy(x, from_ivector(t, {7}));
    CHECK(loss.item() == doctest::Approx(ref_ce(x, t, -100)).epsilon(1e-5));
    backward(loss);
    CHECK_CLOSE(x.grad(), ref_grad(x, t, -100), 1e-6, 1e-5);
    // ignored rows get exactly zero gradient
    std::vector<float> gx = x.grad().to_vector();
    for (int j = 0; j < 5; ++j) CHECK(gx[size_t(5 + j)] == 0.0f);
}

TEST_CASE("cross_entropy: a custom ignore_index that is also a valid class") {
    Generator g(23);
    Tensor x = uniform({6, 4}, -2, 2, &g);
    x.set_requires_grad(true);
    std::vector<int32_t> t = {2, 0, 2, 3, 1, 2};
    Tensor loss = cross_entropy(x, from_ivector(t, {6}), 2);
    CHECK(loss.item() == doctest::Approx(ref_ce(x, t, 2)).epsilon(1e-5));
    backward(loss);
    CHECK_CLOSE(x.grad(), ref_grad(x, t, 2), 1e-6, 1e-5);
}

TEST_CASE("cross_entropy: gradients match finite differences") {
    Generator g(24);
    Tensor x = uniform({5, 6}, -2, 2, &g);
    x.set_requires_grad(true);
    Tensor t = from_ivector({0, 5, -100, 3, 3}, {5});
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t); }, {x});
    // through a scale, so the upstream gradient is not 1
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return mul(cross_entropy(in[0], t), 3.5f); }, {x});
}

TEST_CASE("cross_entropy: every row ignored gives NaN loss and zero gradient (as PyTorch)") {
    Tensor x = ones({2, 3});
    x.set_requires_grad(true);
    Tensor loss = cross_entropy(x, from_ivector({-100, -100}, {2}));
    CHECK(std::isnan(loss.item()));
    backward(loss);
    CHECK_CLOSE(x.grad(), std::vector<float>(6, 0.0f), 0, 0);
}

TEST_CASE("cross_entropy: errors name the op, the index and C") {
    Tensor x = zeros({3, 5});
    CHECK_THROWS_CONTAINING(cross_entropy(x, from_ivector({0, 7, 1}, {3})),
                            "cross_entropy: target 7 at row 1 is out of range for 5 classes (C = 5");
    CHECK_THROWS_CONTAINING(cross_entropy(x, from_ivector({0, -1, 1}, {3})), "target -1 at row 1");
    CHECK_THROWS_CONTAINING(cross_entropy(zeros({2, 3, 5}), from_ivector({0, 1}, {2})),
                            "cross_entropy: logits must be [N, C], got [2, 3, 5]");
    CHECK_THROWS_CONTAINING(cross_entropy(x, from_ivector({0, 1}, {2})), "targets must be [N] = [3]");
    CHECK_THROWS_CONTAINING(cross_entropy(x, zeros({3})), "cross_entropy: targets must be i32");
}

TEST_CASE("cross_entropy / log_softmax: rows with a large common offset keep their precision") {
    // Logits 10⁴ + [0, -1, -2, -10]: m + log Σ exp(x - m) rounded as one float
    // loses the low bits of the log term (the result was off by 4e-4); the
    // exact values depend only on the differences.
    const std::vector<float> d = {0.0f, -1.0f, -2.0f, -10.0f};
    double s = 0;
    for (float v : d) s += std::exp(double(v));
    std::vector<float> row;
    for (float v : d) row.push_back(10000.0f + v);
    Tensor logits = from_vector(row, {1, 4}).set_requires_grad(true);
    Tensor ls = log_softmax(logits, 1);
    for (int j = 0; j < 4; ++j) CHECK(ls.to_vector()[size_t(j)] == doctest::Approx(d[size_t(j)] - std::log(s)).epsilon(1e-6));
    Tensor loss = cross_entropy(logits, from_ivector({0}, {1}));
    CHECK(loss.item() == doctest::Approx(std::log(s) - d[0]).epsilon(1e-6));
    backward(loss);
    std::vector<float> g = logits.grad().to_vector();
    for (int j = 0; j < 4; ++j) {
        const double want = std::exp(double(d[size_t(j)])) / s - (j == 0 ? 1.0 : 0.0);
        CHECK(std::fabs(g[size_t(j)] - want) <= 1e-6);
    }
}
