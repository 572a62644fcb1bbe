// test_l2_normalize.cpp: x / max(||x||, eps) along any dim against a reference
// loop and finite differences (in both the n > eps and n <= eps regimes).
#include <cmath>

#include "autograd/elementwise.h"
#include "autograd/nn_ops.h"
#include "autograd/node.h"
#include "autograd/views.h"
#include "tests/testing.h"

using namespace eng;

namespace {

// Reference along dim d of a packed tensor of shape s.
std::vector<float> ref_normalize(const std::vector<float>& x, const Shape& s, int64_t d, double eps) {
    int64_t outer = 1, inner = 1, C = s[size_t(d)];
    for (int64_t i = 0; i < d; ++i) outer *= s[size_t(i)];
    for (size_t i = size_t(d) + 1; i < s.size(); ++i) inner *= s[i];
    std::vector<float> y(x.size());
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t in = 0; in < inner; ++in) {
            double ss = 0;
            for (int64_t k = 0; k < C; ++k) ss += double(x[size_t((o * C + k) * inner + in)]) * x[size_t((o * C + k) * inner + in)];
            double den = std::max(std::sqrt(ss), eps);
            for (int64_t k = 0; k < C; ++k) {
                size_t i = size_t((o * C + k) * inner + in);
                y[i] = float(x[i] / den);
            }
        }
    return y;
}

}  // namespace

TEST_CASE("l2_normalize: forward matches a reference along every dim") {
    Generator g(71);
    Shape s{3, 4, 5};
    Tensor x = uniform(s, -2, 2, &g);
    for (int64_t d : {0, 1, 2}) CHECK_CLOSE(l2_normalize(x, d), ref_normalize(x.to_vector(), s, d, 1e-12), 1e-6, 1e-5);
    CHECK_CLOSE(l2_normalize(x), ref_normalize(x.to_vector(), s, 2, 1e-12), 1e-6, 1e-5);  // dim -1
    Tensor big = uniform({64, 512}, -1, 1, &g);
    CHECK_CLOSE(l2_normalize(big), ref_normalize(big.to_vector(), {64, 512}, 1, 1e-12), 1e-6, 1e-5);
    // non-contiguous input
    Tensor xt = transpose(uniform({6, 4}, -2, 2, &g), 0, 1);  // [4, 6]
    REQUIRE(!xt.is_contiguous());
    CHECK_CLOSE(l2_normalize(xt), ref_normalize(xt.contiguous().to_vector(), {4, 6}, 1, 1e-12), 1e-6, 1e-5);
}

TEST_CASE("l2_normalize: a zero row stays zero; a row shorter than eps is divided by eps") {
    Tensor x = from_vector({0, 0, 0, 3, 4, 0, 0.03f, 0.04f, 0}, {3, 3});
    CHECK_CLOSE(l2_normalize(x, -1, 0.1f), {0, 0, 0, 0.6f, 0.8f, 0, 0.3f, 0.4f, 0}, 1e-7, 1e-6);
    for (float v : l2_normalize(x).to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("l2_normalize: gradients match finite differences") {
    Generator g(72);
    Tensor x = uniform({3, 4, 5}, -2, 2, &g);
    x.set_requires_grad(true);
    for (int64_t d : {0, 1, -1})
        CHECK_GRADCHECK([d](const std::vector<Tensor>& in) { return l2_normalize(in[0], d); }, {x});
    // some rows below eps (linear branch), others above it
    Tensor y = from_vector({0.1f, -0.2f, 0.05f, 1.5f, -0.7f, 0.9f}, {2, 3});
    y.set_requires_grad(true);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return l2_normalize(in[0], -1, 0.5f); }, {y},
                    GradcheckOptions{1e-3, 2e-3, 1e-2, 5, 400});
}

TEST_CASE("l2_normalize: errors name the op") {
    CHECK_THROWS_CONTAINING(l2_normalize(zeros({2, 3}), 2), "l2_normalize");
    CHECK_THROWS_CONTAINING(l2_normalize(scalar_tensor(1.0f)), "l2_normalize: needs at least one dimension");
    CHECK_THROWS_CONTAINING(l2_normalize(zeros({2}), 0, 0.0f), "l2_normalize: eps must be positive");
}
