// test_reduce_matmul.cpp: reductions, matmul and views against reference loops and finite differences.
#include <numeric>

#include "autograd/ops.h"
#include "tests/testing.h"

using namespace eng;

namespace {

// Reference reduction of a [A, B, C] tensor over dim 1 by explicit loops.
std::vector<float> ref_reduce_dim1(const std::vector<float>& x, int A, int B, int C, const std::string& op) {
    std::vector<float> r;
    for (int a = 0; a < A; ++a)
        for (int c = 0; c < C; ++c) {
            std::vector<double> vals;
            for (int b = 0; b < B; ++b) vals.push_back(x[size_t((a * B + b) * C + c)]);
            double s = 0, m = vals[0], mn = vals[0];
            for (double v : vals) s += v, m = std::max(m, v), mn = std::min(mn, v);
            double mean = s / B, ss = 0, lse = 0;
            for (double v : vals) ss += (v - mean) * (v - mean), lse += std::exp(v - m);
            if (op == "sum") r.push_back(float(s));
            if (op == "mean") r.push_back(float(mean));
            if (op == "max") r.push_back(float(m));
            if (op == "min") r.push_back(float(mn));
            if (op == "var") r.push_back(float(ss / (B - 1)));
            if (op == "lse") r.push_back(float(m + std::log(lse)));
        }
    return r;
}

}  // namespace

TEST_CASE("reduce: forward against loops over a middle dim, keepdim shapes") {
    Generator g(1);
    Tensor x = uniform({3, 5, 4}, -2, 2, &g);
    std::vector<float> v = x.to_vector();
    CHECK_CLOSE(sum(x, {1}), ref_reduce_dim1(v, 3, 5, 4, "sum"));
    CHECK_CLOSE(mean(x, {1}), ref_reduce_dim1(v, 3, 5, 4, "mean"));
    CHECK_CLOSE(max(x, 1).values, ref_reduce_dim1(v, 3, 5, 4, "max"));
    CHECK_CLOSE(min(x, 1).values, ref_reduce_dim1(v, 3, 5, 4, "min"));
    CHECK_CLOSE(var(x, {1}), ref_reduce_dim1(v, 3, 5, 4, "var"));
    CHECK_CLOSE(logsumexp(x, {1}), ref_reduce_dim1(v, 3, 5, 4, "lse"));
    CHECK(sum(x, {1}, true).shape() == Shape{3, 1, 4});
    CHECK(sum(x, {0, 2}).shape() == Shape{5});
    CHECK(sum(x).shape() == Shape{});
    CHECK(std::fabs(sum(x).item() - std::accumulate(v.begin(), v.end(), 0.0f)) < 1e-4f);
    CHECK(sum(x, {-1}).shape() == Shape{3, 5});
    CHECK_THROWS_CONTAINING(sum(x, {3}), "sum: dimension 3 is out of range");
    CHECK_THROWS_CONTAINING(sum(x, {1, -2}), "repeated");
}

TEST_CASE("reduce: max/min indices pick the first of ties, gradient goes to the arg-max only") {
    Tensor x = from_vector({1, 5, 5, 2, 7, 7, 7, 0}, {2, 4}).set_requires_grad(true);
    ValuesIndices m = max(x, 1);
    CHECK(m.values.to_vector() == std::vector<float>{5, 7});
    CHECK(m.indices.to_ivector() == std::vector<int32_t>{1, 0});
    CHECK(min(x, 1).indices.to_ivector() == std::vector<int32_t>{0, 3});
    backward(sum(m.values * from_vector({2, 3}, {2})));
    CHECK(x.grad().to_vector() == std::vector<float>{0, 2, 0, 0, 3, 0, 0, 0});
    CHECK(max(x).item() == 7.0f);
    CHECK(max(x, 0, true).values.shape() == Shape{1, 4});
}

TEST_CASE("reduce: gradients match finite differences") {
    Generator g(2);
    for (std::vector<int64_t> dims : std::vector<std::vector<int64_t>>{{0}, {1}, {2}, {0, 2}, {}}) {
        Tensor x = uniform({3, 4, 5}, -1, 1, &g).set_requires_grad(true);
        CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return sum(in[0], dims); }, {x});
        CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return mean(in[0], dims, true); }, {x});
        if (!dims.empty()) {
            CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return logsumexp(in[0], dims); }, {x});
            CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return var(in[0], dims); }, {x});
            CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return var(in[0], dims, 0, true); }, {x});
        }
    }
    // Distinct values so the arg-max is stable under the finite-difference step.
    Tensor d = mul(randperm(24, &g).to(DType::f32), 0.1f).view({4, 6}).set_requires_grad(true);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return max(in[0], 1).values; }, {d});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return min(in[0], 0).values; }, {d});
}

TEST_CASE("matmul: forward against a triple loop, batch broadcasting and 1-D operands") {
    Generator g(3);
    auto ref = [](const Tensor& a, const Tensor& b) {  // 2-D reference
        int64_t M = a.size(0), K = a.size(1), N = b.size(1);
        std::vector<float> va = a.to_vector(), vb = b.to_vector(), r(size_t(M * N));
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
                double s = 0;
                for (int64_t k = 0; k < K; ++k) s += double(va[size_t(i * K + k)]) * vb[size_t(k * N + j)];
                r[size_t(i * N + j)] = float(s);
            }
        return r;
    };
    Tensor a = randn({7, 5}, &g), b = randn({5, 3}, &g);
    CHECK_CLOSE(matmul(a, b), ref(a, b), 1e-5, 1e-5);
    // Transposed views as operands.
    Tensor at = randn({5, 7}, &g), bt = randn({3, 5}, &g);
    CHECK_CLOSE(matmul(transpose(at, 0, 1), transpose(bt, 0, 1)),
                ref(transpose(at, 0, 1).contiguous(), transpose(bt, 0, 1).contiguous()), 1e-5, 1e-5);
    // Batched with broadcasting: [2, 1, 4, 5] x [3, 5, 2] -> [2, 3, 4, 2].
    Tensor ba = randn({2, 1, 4, 5}, &g), bb = randn({3, 5, 2}, &g);
    Tensor c = matmul(ba, bb);
    CHECK(c.shape() == Shape{2, 3, 4, 2});
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            CHECK_CLOSE(select(select(c, 0, i), 0, j), ref(select(select(ba, 0, i), 0, 0).contiguous(), select(bb, 0, j).contiguous()), 1e-5, 1e-5);
    // 1-D operands.
    Tensor v = randn({5}, &g);
    CHECK(matmul(a, v).shape() == Shape{7});
    CHECK(matmul(v, b).shape() == Shape{3});
    CHECK(matmul(v, v).shape() == Shape{});
    CHECK_CLOSE(matmul(a, v), ref(a, v.view({5, 1})), 1e-5, 1e-5);
    CHECK_THROWS_CONTAINING(matmul(a, a), "matmul: shapes [7, 5] and [7, 5] cannot be multiplied");
    // Broadcast rows and columns (stride 0) are not matrices a GEMM can read
    // with a leading dimension: they are packed first, never read past the storage.
    Tensor row = randn({1, 5}, &g), col = randn({5, 1}, &g), one = randn({1, 1}, &g);
    CHECK_CLOSE(matmul(expand(row, {7, 5}), b), ref(expand(row, {7, 5}).contiguous(), b), 1e-5, 1e-5);
    CHECK_CLOSE(matmul(a, expand(col, {5, 3})), ref(a, expand(col, {5, 3}).contiguous()), 1e-5, 1e-5);
    Tensor r3 = randn({1, 3}, &g);
    CHECK_CLOSE(matmul(expand(one, {7, 1}), r3), ref(expand(one, {7, 1}).contiguous(), r3), 1e-5, 1e-5);
    CHECK_CLOSE(matmul(transpose(expand(row, {3, 5}), 0, 1), transpose(r3, 0, 1).contiguous()),
                ref(transpose(expand(row, {3, 5}), 0, 1).contiguous(), transpose(r3, 0, 1).contiguous()), 1e-5, 1e-5);
}

TEST_CASE("matmul: gradients match finite differences, including broadcast batches") {
    Generator g(4);
    std::vector<std::pair<Shape, Shape>> cases = {{{4, 3}, {3, 5}}, {{2, 4, 3}, {3, 2}}, {{2, 1, 3, 4}, {3, 4, 2}},
                                                  {{3}, {3, 4}},     {{4, 3}, {3}},     {{5}, {5}}};
    for (auto& [sa, sb] : cases) {
        Tensor a = randn(sa, &g).set_requires_grad(true), b = randn(sb, &g).set_requires_grad(true);
        CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {a, b});
    }
    Tensor a = randn({3, 4}, &g).set_requires_grad(true), b = randn({5, 4}, &g).set_requires_grad(true);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], transpose(in[1], 0, 1)); }, {a, b});
}

TEST_CASE("views: gradients flow back through reshape, permute, narrow, expand, select") {
    Generator g(5);
    Tensor x = randn({2, 3, 4}, &g).set_requires_grad(true);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return reshape(in[0], {4, -1}); }, {x});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return permute(in[0], {2, 0, 1}) * 2.0f; }, {x});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return narrow(in[0], 2, 1, 2); }, {x});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return slice(in[0], 1, -2, 10); }, {x});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return select(in[0], 1, -1); }, {x});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return flatten(transpose(in[0], 0, 2), 1); }, {x});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return squeeze(unsqueeze(in[0], 1), 1) * in[0]; }, {x});
    Tensor s = randn({3, 1}, &g).set_requires_grad(true);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return expand(in[0], {2, 3, 5}); }, {s});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return contiguous(transpose(in[0], 0, 1)); }, {s});
}

TEST_CASE("reduce/matmul: a scalar has no dim 0; an empty tensor is contiguous, and empty products work") {
    // Dim 0 of a 0-d tensor used to be accepted and then read an empty shape
    // (a crash); it is an error naming the op, like dim -1 was.
    Tensor s = full({}, 3.0f);
    CHECK_THROWS_CONTAINING(sum(s, {0}), "a scalar has none");
    CHECK_THROWS_CONTAINING(max(s, 0), "out of range");
    CHECK_THROWS_CONTAINING(transpose(s, 0, 0), "out of range");
    CHECK_THROWS_CONTAINING(select(s, 0, 0), "out of range");
    CHECK_THROWS_CONTAINING(s.size(0), "out of range");
    CHECK(sum(s).item() == 3.0f);  // over all elements: fine
    // A [3, 0] tensor holds nothing, so any layout is contiguous.
    CHECK(empty({3, 0}).is_contiguous());
    CHECK(empty({0, 4, 2}).is_contiguous());
    Tensor y = matmul(randn({3, 4}), randn({4, 0}));
    CHECK(y.shape() == Shape{3, 0});
    // K = 0: the product is all zeros, and so are the (empty-input) gradients' shapes.
    Tensor a = empty({3, 0}).set_requires_grad(true), b = empty({0, 4}).set_requires_grad(true);
    Tensor z = matmul(a, b);
    REQUIRE(z.shape() == Shape{3, 4});
    for (float v : z.to_vector()) CHECK(v == 0.0f);
    backward(sum(z));
    CHECK(a.grad().shape() == Shape{3, 0});
    CHECK(b.grad().shape() == Shape{0, 4});
}
