// test_softmax.cpp: softmax and log_softmax against reference loops and finite differences.
#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/nn_ops.h"
#include "autograd/node.h"
#include "autograd/views.h"
#include "tests/testing.h"

using namespace eng;

namespace {

// Reference softmax (or log-softmax) of each row of the [rows, C] row-major values.
std::vector<float> ref_softmax(const std::vector<float>& x, int64_t C, bool log) {
    std::vector<float> y(x.size());
    for (size_t r = 0; r < x.size() / size_t(C); ++r) {
        const float* row = &x[r * size_t(C)];
        double m = row[0];
        for (int64_t j = 1; j < C; ++j) m = std::max(m, double(row[j]));
        double s = 0;
        for (int64_t j = 0; j < C; ++j) s += std::exp(row[j] - m);
        for (int64_t j = 0; j < C; ++j)
            y[r * size_t(C) + size_t(j)] = float(log ? row[j] - m - std::log(s) : std::exp(row[j] - m) / s);
    }
    return y;
}

Tensor leaf(const Shape& s, Generator& g, float lo = -3.0f, float hi = 3.0f) {
    Tensor t = uniform(s, lo, hi, &g);
    t.set_requires_grad(true);
    return t;
}

}  // namespace

TEST_CASE("softmax: forward matches a reference loop (several shapes)") {
    Generator g(11);
    for (Shape s : {Shape{5}, Shape{3, 7}, Shape{2, 3, 4}, Shape{64, 300}}) {
        Tensor x = uniform(s, -4, 4, &g);
        CHECK_CLOSE(softmax(x), ref_softmax(x.to_vector(), s.back(), false), 1e-6, 1e-5);
        CHECK_CLOSE(log_softmax(x), ref_softmax(x.to_vector(), s.back(), true), 1e-5, 1e-5);
    }
}

TEST_CASE("softmax: non-contiguous input and a non-last dim") {
    Generator g(12);
    Tensor base = uniform({6, 4}, -2, 2, &g);
    Tensor xt = transpose(base, 0, 1);  // [4, 6] strided view
    REQUIRE(!xt.is_contiguous());
    std::vector<float> packed = xt.contiguous().to_vector();
    CHECK_CLOSE(softmax(xt), ref_softmax(packed, 6, false), 1e-6, 1e-5);
    CHECK_CLOSE(log_softmax(xt), ref_softmax(packed, 6, true), 1e-5, 1e-5);
    // softmax over dim 0 of base == transpose of the row softmax of base^T
    std::vector<float> r = ref_softmax(packed, 6, false), expect(24);
    for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 4; ++j) expect[size_t(i * 4 + j)] = r[size_t(j * 6 + i)];
    Tensor y0 = softmax(base, 0);
    CHECK(y0.shape() == Shape{6, 4});
    CHECK_CLOSE(y0.contiguous(), expect, 1e-6, 1e-5);
}

TEST_CASE("softmax: stable for large logits") {
    Tensor x = from_vector({1000.0f, 1001.0f, 1002.0f, -1000.0f}, {1, 4});
    std::vector<float> y = softmax(x).to_vector(), ly = log_softmax(x).to_vector();
    double s = std::exp(-2.0) + std::exp(-1.0) + 1.0;
    CHECK(y[2] == doctest::Approx(1.0 / s).epsilon(1e-6));
    CHECK(y[3] == 0.0f);
    CHECK(ly[2] == doctest::Approx(-std::log(s)).epsilon(1e-5));
    CHECK(ly[3] == doctest::Approx(-2002.0 - std::log(s)).epsilon(1e-6));
    for (float v : y) CHECK(std::isfinite(v));
}

TEST_CASE("softmax: gradients match finite differences") {
    Generator g(13);
    for (Shape s : {Shape{6}, Shape{3, 5}, Shape{2, 3, 4}}) {
        Tensor x = leaf(s, g);
        CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return softmax(in[0]); }, {x});
        CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return log_softmax(in[0]); }, {x});
    }
    Tensor x = leaf({4, 3}, g);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return softmax(in[0], 0); }, {x});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return log_softmax(transpose(in[0], 0, 1)); }, {x});
}

TEST_CASE("softmax: errors name the op") {
    CHECK_THROWS_CONTAINING(softmax(scalar_tensor(1.0f)), "softmax: needs at least one dimension");
    CHECK_THROWS_CONTAINING(log_softmax(zeros({2, 3}), 2), "log_softmax");
    CHECK_THROWS_CONTAINING(softmax(from_ivector({1, 2}, {2})), "softmax: input must be f32");
}
