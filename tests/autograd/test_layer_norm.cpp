// test_layer_norm.cpp: layer_norm against a reference loop (outputs and the
// saved mean/rstd), finite differences for x, weight and bias, and errors.
#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/nn_ops.h"
#include "autograd/node.h"
#include "autograd/views.h"
#include "tensor/nn_kernels.h"
#include "tests/testing.h"

using namespace eng;

namespace {

struct RefLN {
    std::vector<float> y, mean, rstd;
};

// Reference: per row of C values, biased variance, optional weight/bias (empty = absent).
RefLN ref_layer_norm(const std::vector<float>& x, int64_t C, const std::vector<float>& w,
                     const std::vector<float>& b, double eps) {
    RefLN r;
    r.y.resize(x.size());
    for (size_t row = 0; row < x.size() / size_t(C); ++row) {
        const float* v = &x[row * size_t(C)];
        double m = 0, var = 0;
        for (int64_t j = 0; j < C; ++j) m += v[j];
        m /= double(C);
        for (int64_t j = 0; j < C; ++j) var += (v[j] - m) * (v[j] - m);
        var /= double(C);
        double s = 1.0 / std::sqrt(var + eps);
        for (int64_t j = 0; j < C; ++j)
            r.y[row * size_t(C) + size_t(j)] =
                float((v[j] - m) * s * (w.empty() ? 1.0 : w[size_t(j)]) + (b.empty() ? 0.0 : b[size_t(j)]));
        r.mean.push_back(float(m));
        r.rstd.push_back(float(s));
    }
    return r;
}

Tensor leaf(const Shape& s, Generator& g, float lo, float hi) {
    Tensor t = uniform(s, lo, hi, &g);
    t.set_requires_grad(true);
    return t;
}

}  // namespace

TEST_CASE("layer_norm: forward and saved statistics match a reference loop") {
    Generator g(31);
    for (Shape s : {Shape{4, 8}, Shape{2, 3, 16}, Shape{5}, Shape{40, 500}}) {
        int64_t C = s.back();
        Tensor x = uniform(s, -2, 3, &g), w = uniform({C}, 0.5f, 1.5f, &g), b = uniform({C}, -1, 1, &g);
        RefLN r = ref_layer_norm(x.to_vector(), C, w.to_vector(), b.to_vector(), 1e-5);
        CHECK_CLOSE(layer_norm(x, w, b), r.y, 1e-5, 1e-4);
        kernels::NormResult k = kernels::layer_norm(x, w, b, 1e-5f);
        CHECK_CLOSE(k.mean, r.mean, 1e-6, 1e-5);
        CHECK_CLOSE(k.rstd, r.rstd, 1e-6, 1e-5);
        // without weight and/or bias
        CHECK_CLOSE(layer_norm(x, Tensor(), Tensor()), ref_layer_norm(x.to_vector(), C, {}, {}, 1e-5).y, 1e-5, 1e-4);
        CHECK_CLOSE(layer_norm(x, Tensor(), b, 0.1f), ref_layer_norm(x.to_vector(), C, {}, b.to_vector(), 0.1).y,
                    1e-5, 1e-4);
    }
}

TEST_CASE("layer_norm: non-contiguous input") {
    Generator g(32);
    Tensor base = uniform({6, 5}, -2, 2, &g);
    Tensor xt = transpose(base, 0, 1);  // [5, 6]
    REQUIRE(!xt.is_contiguous());
    Tensor w = uniform({6}, 0.5f, 1.5f, &g), b = uniform({6}, -1, 1, &g);
    CHECK_CLOSE(layer_norm(xt, w, b), ref_layer_norm(xt.contiguous().to_vector(), 6, w.to_vector(), b.to_vector(), 1e-5).y,
                1e-5, 1e-4);
}

TEST_CASE("layer_norm: gradients for x, weight and bias match finite differences") {
    Generator g(33);
    for (Shape s : {Shape{3, 5}, Shape{2, 2, 7}, Shape{70, 9}}) {
        int64_t C = s.back();
        Tensor x = leaf(s, g, -2, 2), w = leaf({C}, g, 0.5f, 1.5f), b = leaf({C}, g, -1, 1);
        CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); }, {x, w, b});
    }
    Tensor x = leaf({4, 6}, g, -2, 2), b = leaf({6}, g, -1, 1);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return layer_norm(in[0], Tensor(), Tensor()); }, {x});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return layer_norm(in[0], Tensor(), in[1], 0.5f); }, {x, b});
    // only the parameters require grad (x fixed)
    Tensor xf = uniform({4, 6}, -2, 2, &g), w = leaf({6}, g, 0.5f, 1.5f);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); }, {xf, w, b});
}

TEST_CASE("layer_norm: errors name the op and the shapes") {
    Tensor x = zeros({2, 8});
    CHECK_THROWS_CONTAINING(layer_norm(x, zeros({7}), Tensor()), "layer_norm: weight must have shape [8] for input [2, 8], got [7]");
    CHECK_THROWS_CONTAINING(layer_norm(x, Tensor(), zeros({2, 8})), "layer_norm: bias must have shape [8]");
    CHECK_THROWS_CONTAINING(layer_norm(scalar_tensor(1.0f), Tensor(), Tensor()), "layer_norm: input must be [..., C]");
}
