// test_batch_norm.cpp: batch_norm in training and eval mode against reference
// loops, the running-statistics update against hand computation, finite
// differences for x, weight and bias, and errors.
#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/nn_ops.h"
#include "autograd/node.h"
#include "autograd/views.h"
#include "tests/testing.h"

using namespace eng;

namespace {

// Per-channel mean and biased variance of x [N, C, L] (row-major values).
void ref_stats(const std::vector<float>& x, int64_t N, int64_t C, int64_t L, std::vector<double>& mean,
               std::vector<double>& var) {
    mean.assign(size_t(C), 0.0);
    var.assign(size_t(C), 0.0);
    for (int64_t c = 0; c < C; ++c) {
        for (int64_t n = 0; n < N; ++n)
            for (int64_t l = 0; l < L; ++l) mean[size_t(c)] += x[size_t((n * C + c) * L + l)];
        mean[size_t(c)] /= double(N * L);
        for (int64_t n = 0; n < N; ++n)
            for (int64_t l = 0; l < L; ++l) {
                double d = x[size_t((n * C + c) * L + l)] - mean[size_t(c)];
                var[size_t(c)] += d * d;
            }
        var[size_t(c)] /= double(N * L);
    }
}

std::vector<float> ref_apply(const std::vector<float>& x, int64_t N, int64_t C, int64_t L,
                             const std::vector<double>& mean, const std::vector<double>& var,
                             const std::vector<float>& w, const std::vector<float>& b, double eps) {
    std::vector<float> y(x.size());
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t l = 0; l < L; ++l) {
                size_t i = size_t((n * C + c) * L + l);
                double xhat = (x[i] - mean[size_t(c)]) / std::sqrt(var[size_t(c)] + eps);
                y[i] = float(xhat * (w.empty() ? 1.0 : w[size_t(c)]) + (b.empty() ? 0.0 : b[size_t(c)]));
            }
    return y;
}

Tensor leaf(const Shape& s, Generator& g, float lo, float hi) {
    Tensor t = uniform(s, lo, hi, &g);
    t.set_requires_grad(true);
    return t;
}

}  // namespace

TEST_CASE("batch_norm: training forward and running-stat update match a reference") {
    Generator g(41);
    for (Shape s : {Shape{8, 3}, Shape{4, 3, 5}, Shape{16, 32, 40}}) {
        int64_t N = s[0], C = s[1], L = s.size() == 3 ? s[2] : 1;
        Tensor x = uniform(s, -2, 3, &g), w = uniform({C}, 0.5f, 1.5f, &g), b = uniform({C}, -1, 1, &g);
        Tensor rm = uniform({C}, -1, 1, &g), rv = uniform({C}, 0.5f, 2, &g);
        std::vector<float> rm0 = rm.to_vector(), rv0 = rv.to_vector();
        std::vector<double> mean, var;
        ref_stats(x.to_vector(), N, C, L, mean, var);
        Tensor y = batch_norm(x, rm, rv, w, b, true, 0.2f, 1e-5f);
        CHECK_CLOSE(y, ref_apply(x.to_vector(), N, C, L, mean, var, w.to_vector(), b.to_vector(), 1e-5), 1e-5, 1e-4);
        std::vector<float> erm(static_cast<size_t>(C)), erv(static_cast<size_t>(C));
        double M = double(N * L);
        for (size_t c = 0; c < size_t(C); ++c) {
            erm[c] = float(0.8 * rm0[c] + 0.2 * mean[c]);
            erv[c] = float(0.8 * rv0[c] + 0.2 * var[c] * M / (M - 1));  // unbiased
        }
        CHECK_CLOSE(rm, erm, 1e-6, 1e-5);
        CHECK_CLOSE(rv, erv, 1e-6, 1e-5);
    }
}

TEST_CASE("batch_norm: a hand-computed case") {
    // One channel, values 1 and 3: mean 2, biased var 1, unbiased var 2.
    Tensor x = from_vector({1, 3}, {2, 1});
    Tensor rm = zeros({1}), rv = ones({1});
    Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true);  // momentum 0.1, eps 1e-5
    float s = float(1.0 / std::sqrt(1.0 + 1e-5));
    CHECK_CLOSE(y, {-s, s}, 1e-7, 1e-6);
    CHECK_CLOSE(rm, {0.2f}, 1e-7, 1e-6);  // 0.9·0 + 0.1·2
    CHECK_CLOSE(rv, {1.1f}, 1e-7, 1e-6);  // 0.9·1 + 0.1·2
}

TEST_CASE("batch_norm: eval mode uses and keeps the running statistics") {
    Generator g(42);
    Tensor x = uniform({5, 4, 3}, -2, 2, &g), w = uniform({4}, 0.5f, 1.5f, &g), b = uniform({4}, -1, 1, &g);
    Tensor rm = uniform({4}, -1, 1, &g), rv = uniform({4}, 0.5f, 2, &g);
    std::vector<float> rm0 = rm.to_vector(), rv0 = rv.to_vector();
    std::vector<double> mean(rm0.begin(), rm0.end()), var(rv0.begin(), rv0.end());
    Tensor y = batch_norm(x, rm, rv, w, b, false);
    CHECK_CLOSE(y, ref_apply(x.to_vector(), 5, 4, 3, mean, var, w.to_vector(), b.to_vector(), 1e-5), 1e-5, 1e-4);
    CHECK_CLOSE(rm, rm0, 0, 0);
    CHECK_CLOSE(rv, rv0, 0, 0);
    // non-contiguous input, affine off
    Tensor base = uniform({4, 6}, -2, 2, &g);
    Tensor xt = transpose(base, 0, 1);  // [6, 4]
    REQUIRE(!xt.is_contiguous());
    CHECK_CLOSE(batch_norm(xt, rm, rv, Tensor(), Tensor(), false),
                ref_apply(xt.contiguous().to_vector(), 6, 4, 1, mean, var, {}, {}, 1e-5), 1e-5, 1e-4);
    // training without running buffers: batch statistics, nothing to update
    std::vector<double> bm, bv;
    ref_stats(xt.contiguous().to_vector(), 6, 4, 1, bm, bv);
    CHECK_CLOSE(batch_norm(xt, Tensor(), Tensor(), Tensor(), Tensor(), true),
                ref_apply(xt.contiguous().to_vector(), 6, 4, 1, bm, bv, {}, {}, 1e-5), 1e-5, 1e-4);
}

TEST_CASE("batch_norm: training-mode gradients (through the batch statistics) match finite differences") {
    Generator g(43);
    for (Shape s : {Shape{6, 3}, Shape{4, 3, 5}}) {
        int64_t C = s[1];
        Tensor x = leaf(s, g, -2, 2), w = leaf({C}, g, 0.5f, 1.5f), b = leaf({C}, g, -1, 1);
        CHECK_GRADCHECK(
            [](const std::vector<Tensor>& in) { return batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); },
            {x, w, b});
        CHECK_GRADCHECK(
            [](const std::vector<Tensor>& in) { return batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
            {x});
    }
    // with running buffers being updated on every call (does not affect the training output)
    Tensor x = leaf({5, 2, 3}, g, -2, 2);
    Tensor rm = zeros({2}), rv = ones({2});
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, Tensor(), Tensor(), true); },
                    {x});
}

TEST_CASE("batch_norm: eval-mode gradients match finite differences") {
    Generator g(44);
    Tensor x = leaf({4, 3, 2}, g, -2, 2), w = leaf({3}, g, 0.5f, 1.5f), b = leaf({3}, g, -1, 1);
    Tensor rm = uniform({3}, -1, 1, &g), rv = uniform({3}, 0.5f, 2, &g);
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, in[1], in[2], false); },
                    {x, w, b});
}

TEST_CASE("batch_norm: errors name the op and the shapes") {
    Tensor x = zeros({4, 3});
    CHECK_THROWS_CONTAINING(batch_norm(zeros({2, 3, 4, 5}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                            "batch_norm: input must be [N, C] or [N, C, L], got [2, 3, 4, 5]");
    CHECK_THROWS_CONTAINING(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false),
                            "batch_norm: evaluation mode needs running_mean and running_var");
    CHECK_THROWS_CONTAINING(batch_norm(zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                            "expected more than 1 value per channel when training, got input [1, 3]");
    CHECK_THROWS_CONTAINING(batch_norm(x, zeros({4}), ones({4}), Tensor(), Tensor(), true),
                            "batch_norm: running_mean must have shape [3]");
    CHECK_THROWS_CONTAINING(batch_norm(x, zeros({3}), Tensor(), Tensor(), Tensor(), true), "both be given");
    CHECK_THROWS_CONTAINING(batch_norm(x, Tensor(), Tensor(), ones({2}), Tensor(), true),
                            "batch_norm: weight must have shape [3]");
}
