// test_elementwise.cpp: elementwise ops against reference loops and finite differences.
#include <functional>

#include "autograd/ops.h"
#include "tests/testing.h"

using namespace eng;

namespace {

// Reference: applies f to every element of a (broadcast) pair, by explicit index arithmetic.
std::vector<float> reference_binary(const Tensor& a, const Tensor& b, const std::function<float(float, float)>& f) {
    Shape out = broadcast_shapes(a.shape(), b.shape(), "ref");
    std::vector<float> va = a.to_vector(), vb = b.to_vector(), r(size_t(shape_numel(out)));
    auto index_into = [&](const Shape& s, int64_t flat) {
        // Map an output flat index to the flat index of an input of shape s (right-aligned, size-1 dims pinned).
        int64_t idx = 0, stride = 1;
        for (int64_t d = int64_t(out.size()) - 1, rem = flat; d >= 0; --d) {
            int64_t coord = rem % out[size_t(d)];
            rem /= out[size_t(d)];
            int64_t sd = d - int64_t(out.size() - s.size());
            if (sd < 0) continue;
            int64_t size = s[size_t(sd)];
            idx += (size == 1 ? 0 : coord) * stride;
            stride *= size;
        }
        return idx;
    };
    for (int64_t i = 0; i < int64_t(r.size()); ++i)
        r[size_t(i)] = f(va[size_t(index_into(a.shape(), i))], vb[size_t(index_into(b.shape(), i))]);
    return r;
}

Tensor leaf(const Shape& s, Generator& g, float lo = -2.0f, float hi = 2.0f) {
    return uniform(s, lo, hi, &g).set_requires_grad(true);
}

}  // namespace

TEST_CASE("elementwise: binary ops broadcast like NumPy (forward)") {
    Generator g(1);
    std::vector<std::pair<Shape, Shape>> shapes = {{{3, 4}, {3, 4}}, {{2, 3, 4}, {4}}, {{3, 1}, {1, 5}},
                                                   {{2, 1, 4}, {3, 1}}, {{}, {2, 2}}};
    for (auto& [sa, sb] : shapes) {
        Tensor a = uniform(sa, 0.5f, 2.0f, &g), b = uniform(sb, 0.5f, 2.0f, &g);
        CHECK_CLOSE(add(a, b), reference_binary(a, b, [](float x, float y) { return x + y; }));
        CHECK_CLOSE(sub(a, b), reference_binary(a, b, [](float x, float y) { return x - y; }));
        CHECK_CLOSE(mul(a, b), reference_binary(a, b, [](float x, float y) { return x * y; }));
        CHECK_CLOSE(div(a, b), reference_binary(a, b, [](float x, float y) { return x / y; }));
        CHECK_CLOSE(pow(a, b), reference_binary(a, b, [](float x, float y) { return std::pow(x, y); }));
    }
}

TEST_CASE("elementwise: non-contiguous inputs give the same results as packed ones") {
    Generator g(2);
    Tensor a = uniform({4, 5}, -1, 1, &g), b = uniform({5, 4}, -1, 1, &g);
    Tensor bt = transpose(b, 0, 1);  // a strided view
    CHECK(!bt.is_contiguous());
    CHECK_CLOSE(mul(a, bt), mul(a, bt.contiguous()), 0, 0);
    CHECK_CLOSE(exp(bt), exp(bt.contiguous()), 0, 0);
}

TEST_CASE("elementwise: unary ops against reference formulas") {
    Generator g(3);
    Tensor x = uniform({64}, 0.1f, 3.0f, &g);
    std::vector<float> v = x.to_vector();
    auto ref = [&](const std::function<float(float)>& f) {
        std::vector<float> r;
        for (float e : v) r.push_back(f(e));
        return r;
    };
    CHECK_CLOSE(exp(x), ref([](float e) { return std::exp(e); }));
    CHECK_CLOSE(log(x), ref([](float e) { return std::log(e); }));
    CHECK_CLOSE(sqrt(x), ref([](float e) { return std::sqrt(e); }));
    CHECK_CLOSE(rsqrt(x), ref([](float e) { return 1.0f / std::sqrt(e); }));
    CHECK_CLOSE(pow(x, 2.5f), ref([](float e) { return std::pow(e, 2.5f); }));
    Tensor y = uniform({64}, -3.0f, 3.0f, &g);
    std::vector<float> w = y.to_vector();
    auto refy = [&](const std::function<float(float)>& f) {
        std::vector<float> r;
        for (float e : w) r.push_back(f(e));
        return r;
    };
    CHECK_CLOSE(neg(y), refy([](float e) { return -e; }));
    CHECK_CLOSE(abs(y), refy([](float e) { return std::fabs(e); }));
    CHECK_CLOSE(tanh(y), refy([](float e) { return std::tanh(e); }));
    CHECK_CLOSE(sigmoid(y), refy([](float e) { return 1.0f / (1.0f + std::exp(-e)); }));
    CHECK_CLOSE(relu(y), refy([](float e) { return e > 0 ? e : 0.0f; }));
    CHECK_CLOSE(clamp(y, -1.0f, 0.5f), refy([](float e) { return std::min(std::max(e, -1.0f), 0.5f); }));
    // GELU, exact: x·Φ(x); tanh form: GPT-2's gelu_new.
    CHECK_CLOSE(gelu(y), refy([](float e) { return 0.5f * e * (1.0f + std::erf(e / std::sqrt(2.0f))); }), 1e-6, 1e-5);
    CHECK_CLOSE(gelu(y, true), refy([](float e) {
                    return 0.5f * e * (1.0f + std::tanh(std::sqrt(2.0f / float(M_PI)) * (e + 0.044715f * e * e * e)));
                }), 1e-6, 1e-5);
    // Spot values: gelu(1) = 0.8413447, gelu_tanh(1) = 0.8411920.
    CHECK(std::fabs(gelu(scalar_tensor(1.0f)).item() - 0.8413447f) < 1e-6f);
    CHECK(std::fabs(gelu(scalar_tensor(1.0f), true).item() - 0.8411920f) < 1e-6f);
}

TEST_CASE("elementwise: gradients match finite differences") {
    Generator g(4);
    auto check_binary = [&](const std::function<Tensor(const Tensor&, const Tensor&)>& f, Shape sa, Shape sb,
                            float lo) {
        Tensor a = leaf(sa, g, lo, 2.0f), b = leaf(sb, g, lo, 2.0f);
        CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return f(in[0], in[1]); }, {a, b});
    };
    for (auto shapes : std::vector<std::pair<Shape, Shape>>{{{3, 4}, {3, 4}}, {{2, 3, 4}, {3, 1}}, {{4}, {2, 1, 4}}}) {
        check_binary([](const Tensor& a, const Tensor& b) { return add(a, b); }, shapes.first, shapes.second, -2);
        check_binary([](const Tensor& a, const Tensor& b) { return sub(a, b); }, shapes.first, shapes.second, -2);
        check_binary([](const Tensor& a, const Tensor& b) { return mul(a, b); }, shapes.first, shapes.second, -2);
        check_binary([](const Tensor& a, const Tensor& b) { return div(a, b); }, shapes.first, shapes.second, 0.5f);
        check_binary([](const Tensor& a, const Tensor& b) { return pow(a, b); }, shapes.first, shapes.second, 0.5f);
    }
    using U = std::function<Tensor(const Tensor&)>;
    std::vector<std::pair<U, float>> unaries = {
        {[](const Tensor& x) { return exp(x); }, -2.0f},     {[](const Tensor& x) { return log(x); }, 0.3f},
        {[](const Tensor& x) { return sqrt(x); }, 0.3f},     {[](const Tensor& x) { return rsqrt(x); }, 0.3f},
        {[](const Tensor& x) { return tanh(x); }, -2.0f},    {[](const Tensor& x) { return sigmoid(x); }, -2.0f},
        {[](const Tensor& x) { return gelu(x); }, -2.0f},    {[](const Tensor& x) { return gelu(x, true); }, -2.0f},
        {[](const Tensor& x) { return pow(x, 3.0f); }, -2.0f}, {[](const Tensor& x) { return neg(x); }, -2.0f},
        {[](const Tensor& x) { return x * 3.0f - 1.0f; }, -2.0f}, {[](const Tensor& x) { return 2.0f - x / 4.0f; }, -2.0f},
    };
    for (auto& [f, lo] : unaries) {
        Tensor x = leaf({5, 6}, g, lo, 2.0f);
        CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return f(in[0]); }, {x});
    }
    // relu, abs, clamp: keep inputs away from the kinks.
    Tensor away = from_vector({-1.5f, -0.7f, -0.2f, 0.3f, 0.8f, 1.6f}, {6}).set_requires_grad(true);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return relu(in[0]); }, {away});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return abs(in[0]); }, {away});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return clamp(in[0], -1.0f, 1.0f); }, {away});
}

TEST_CASE("elementwise: where and masked_fill route gradients by the condition") {
    Tensor cond = from_vector({1, 0, 0, 1}, {2, 2});
    Tensor a = from_vector({1, 2, 3, 4}, {2, 2}).set_requires_grad(true);
    Tensor b = from_vector({10, 20}, {2}).set_requires_grad(true);  // broadcast over rows
    Tensor y = where(cond, a, b);
    CHECK(y.to_vector() == std::vector<float>{1, 20, 10, 4});
    backward(sum(y * from_vector({1, 2, 3, 4}, {2, 2})));
    CHECK(a.grad().to_vector() == std::vector<float>{1, 0, 0, 4});
    CHECK(b.grad().to_vector() == std::vector<float>{3, 2});
    Tensor m = masked_fill(a, from_vector({0, 1, 0, 0}, {2, 2}), -5.0f);
    CHECK(m.to_vector() == std::vector<float>{1, -5, 3, 4});
    Generator g(9);
    Tensor x = leaf({3, 4}, g);
    Tensor mask = bernoulli({3, 4}, 0.5f, &g);
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return masked_fill(in[0], mask, 0.25f); }, {x});
}

TEST_CASE("elementwise: errors name the op and both shapes") {
    Tensor a = zeros({2, 3}), b = zeros({4});
    CHECK_THROWS_CONTAINING(add(a, b), "add: shapes [2, 3] and [4] cannot be broadcast");
    CHECK_THROWS_CONTAINING(mul(a, from_ivector({1, 2, 3}, {3})), "mul: second input must be f32 but is i32");
    CHECK_THROWS_CONTAINING(clamp(a, 1.0f, 0.0f), "clamp: min 1 is greater than max 0");
}

TEST_CASE("elementwise: pow's gradients at a zero base are PyTorch's, not NaN or -inf") {
    // a = [0, 0, 2], b = [0, 2, 3]: da = b·a^(b-1) reads 0·0⁻¹ at (0, 0); db = a^b·ln a reads ln 0.
    Tensor a = from_vector({0.0f, 0.0f, 2.0f}, {3}).set_requires_grad(true);
    Tensor b = from_vector({0.0f, 2.0f, 3.0f}, {3}).set_requires_grad(true);
    backward(sum(pow(a, b)));
    std::vector<float> da = a.grad().to_vector(), db = b.grad().to_vector();
    CHECK(da[0] == 0.0f);                                              // a⁰ is constant
    CHECK(da[1] == 0.0f);                                              // 2·0¹
    CHECK(da[2] == doctest::Approx(3.0 * 4.0));                        // 3·2²
    CHECK(db[0] == 0.0f);                                              // 0ᵇ near b = 0: torch's 0
    CHECK(db[1] == 0.0f);                                              // 0ᵇ is constant for b > 0
    CHECK(db[2] == doctest::Approx(8.0 * std::log(2.0)).epsilon(1e-6));  // 2³·ln 2
    // Only b needing a gradient (a not saved as b): still fine.
    Tensor b2 = from_vector({1.0f, 2.0f}, {2}).set_requires_grad(true);
    backward(sum(pow(from_vector({0.0f, 3.0f}, {2}), b2)));
    CHECK(b2.grad().to_vector()[0] == 0.0f);
    CHECK(b2.grad().to_vector()[1] == doctest::Approx(9.0 * std::log(3.0)).epsilon(1e-6));
    // A negative exponent at a zero base keeps PyTorch's -inf for db (0⁻¹ is infinite there).
    Tensor b3 = from_vector({-1.0f}, {1}).set_requires_grad(true);
    backward(sum(pow(from_vector({0.0f}, {1}), b3)));
    CHECK(std::isinf(b3.grad().to_vector()[0]));
    CHECK(b3.grad().to_vector()[0] < 0);
}
