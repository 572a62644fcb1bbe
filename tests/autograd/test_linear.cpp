// test_linear.cpp: the fused linear layer against plain loops (values and all
// three gradients, both weight layouts) and central differences.
#include "autograd/ops.h"
#include "tests/testing.h"

using namespace eng;

namespace {

struct LinearRef {
    std::vector<float> y, dx, dw, db;
};

// y = x·Wᵀ + b and, for L = Σ y ⊙ R, the gradients, by explicit loops in
// double.  x [N, I]; w [O, I] or, with in_out, [I, O].
LinearRef reference(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                    const std::vector<float>& R, int N, int I, int O, bool in_out) {
    auto W = [&](int o, int i) { return double(in_out ? w[size_t(i * O + o)] : w[size_t(o * I + i)]); };
    LinearRef r;
    r.y.assign(size_t(N * O), 0), r.dx.assign(size_t(N * I), 0), r.dw.assign(w.size(), 0), r.db.assign(size_t(O), 0);
    for (int n = 0; n < N; ++n)
        for (int o = 0; o < O; ++o) {
            double s = b.empty() ? 0.0 : b[size_t(o)];
            for (int i = 0; i < I; ++i) s += double(x[size_t(n * I + i)]) * W(o, i);
            r.y[size_t(n * O + o)] = float(s);
        }
    for (int n = 0; n < N; ++n)
        for (int i = 0; i < I; ++i) {
            double s = 0;
            for (int o = 0; o < O; ++o) s += double(R[size_t(n * O + o)]) * W(o, i);
            r.dx[size_t(n * I + i)] = float(s);
        }
    for (int o = 0; o < O; ++o)
        for (int i = 0; i < I; ++i) {
            double s = 0;
            for (int n = 0; n < N; ++n) s += double(R[size_t(n * O + o)]) * x[size_t(n * I + i)];
            r.dw[size_t(in_out ? i * O + o : o * I + i)] = float(s);
        }
    for (int o = 0; o < O; ++o) {
        double s = 0;
        for (int n = 0; n < N; ++n) s += R[size_t(n * O + o)];
        r.db[size_t(o)] = float(s);
    }
    return r;
}

void check_case(int B, int T, int I, int O, bool in_out, bool with_bias, uint64_t seed) {
    CAPTURE(B);
    CAPTURE(T);
    CAPTURE(I);
    CAPTURE(O);
    CAPTURE(in_out);
    CAPTURE(with_bias);
    Generator g(seed);
    int N = B * T;
    Tensor x = randn({B, T, I}, &g).set_requires_grad(true);
    Tensor w = randn(in_out ? Shape{I, O} : Shape{O, I}, &g).set_requires_grad(true);
    Tensor b = with_bias ? randn({O}, &g).set_requires_grad(true) : Tensor();
    Tensor R = randn({B, T, O}, &g);
    Tensor y = linear(x, w, b, in_out);
    CHECK(y.shape() == Shape{B, T, O});
    backward(sum(mul(y, R)));
    LinearRef ref = reference(x.to_vector(), w.to_vector(), with_bias ? b.to_vector() : std::vector<float>{},
                              R.to_vector(), N, I, O, in_out);
    double tol = 1e-5 * I;  // f32 sums of I (or N) products of N(0,1) values
    CHECK_CLOSE(y.to_vector(), ref.y, tol, 1e-5);
    CHECK_CLOSE(x.grad().to_vector(), ref.dx, 1e-5 * O, 1e-5);
    CHECK_CLOSE(w.grad().to_vector(), ref.dw, 1e-5 * N, 1e-5);
    if (with_bias) CHECK_CLOSE(b.grad().to_vector(), ref.db, 1e-5 * N, 1e-5);
}

}  // namespace

TEST_CASE("linear: values and gradients match plain loops, both weight layouts") {
    for (bool in_out : {false, true})
        for (bool with_bias : {true, false}) check_case(2, 7, 5, 3, in_out, with_bias, 11);
    // Large enough for the threaded bias and GEMM paths, odd sizes for the edges.
    check_case(3, 101, 67, 301, false, true, 12);
    check_case(3, 101, 67, 301, true, true, 13);
}

TEST_CASE("linear: non-contiguous input and frozen weight") {
    Generator g(5);
    Tensor base = randn({6, 4}, &g);
    Tensor x = transpose(base, 0, 1).detach().set_requires_grad(true);  // [4, 6], column-major view
    Tensor w = randn({3, 6}, &g);                                        // frozen: no gradient asked
    Tensor b = randn({3}, &g).set_requires_grad(true);
    Tensor y = linear(x, w, b);
    CHECK_CLOSE(y, add(matmul(x.contiguous(), transpose(w, 0, 1)), b), 1e-5, 1e-5);
    backward(sum(y));
    CHECK(!w.grad().defined());
    CHECK(x.grad().defined());
    CHECK_CLOSE(b.grad(), std::vector<float>(3, 4.0f));
}

TEST_CASE("linear: gradcheck") {
    Generator g(9);
    Tensor x = randn({2, 3, 4}, &g).set_requires_grad(true);
    Tensor w = randn({5, 4}, &g).set_requires_grad(true);
    Tensor wc = randn({4, 5}, &g).set_requires_grad(true);
    Tensor b = randn({5}, &g).set_requires_grad(true);
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); }, {x, w, b});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2], true); }, {x, wc, b});
}

TEST_CASE("linear: shape errors name the shapes") {
    Tensor x = zeros({2, 4}), w = zeros({5, 3});
    CHECK_THROWS_CONTAINING(linear(x, w, Tensor()), "does not match weight");
    CHECK_THROWS_CONTAINING(linear(x, zeros({5, 4}), zeros({4})), "bias");
}
