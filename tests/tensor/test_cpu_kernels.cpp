// test_cpu_kernels.cpp: the vectorised and threaded CPU kernels against plain
// reference loops (std:: maths, double sums), at sizes around the vector width
// and the chunk boundaries; layouts (packed, strided, broadcast) that must give
// identical results; results that must not depend on the thread count or on
// the AVX2 / AVX-512 choice.
#include <omp.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "autograd/ops.h"
#include "tensor/cpu/optim.h"
#include "tensor/optim_bf16_true.h"
#include "tensor/cpu/vecmath.h"
#include "tensor/kernels.h"
#include "tensor/nn_kernels.h"
#include "tensor/random.h"
#include "tests/testing.h"

using namespace eng;
using kernels::Binary;
using kernels::Reduce;
using kernels::Unary;

namespace {

const int64_t kSizes[] = {1, 15, 16, 17, 1023, 1025, 100003};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Runs f with 1 thread and with 2 threads, and on the AVX2 path when the CPU
// has AVX-512, and checks all results are bit-identical to the first (except
// across vector widths where `widths_equal` is false).
void check_thread_independent(const std::function<std::vector<float>()>& f, bool widths_equal) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    std::vector<float> one = f();
    omp_set_num_threads(2);
    std::vector<float> two = f();
    cpu::g_avx512_override = 0;
    std::vector<float> narrow1 = f();
    omp_set_num_threads(1);
    std::vector<float> narrow2 = f();
    cpu::g_avx512_override = -1;
    omp_set_num_threads(saved);
    CHECK_MESSAGE(same_bits(one, two), "1 vs 2 threads differ");
    CHECK_MESSAGE(same_bits(narrow1, narrow2), "1 vs 2 threads differ (AVX2 path)");
    if (widths_equal) CHECK_MESSAGE(same_bits(one, narrow1), "AVX-512 and AVX2 paths differ");
}

double ref_unary(Unary op, double x, double a, double b) {
    switch (op) {
        case Unary::Neg: return -x;
        case Unary::Exp: return std::exp(x);
        case Unary::Log: return std::log(x);
        case Unary::Sqrt: return std::sqrt(x);
        case Unary::Rsqrt: return 1.0 / std::sqrt(x);
        case Unary::Abs: return std::fabs(x);
        case Unary::Tanh: return std::tanh(x);
        case Unary::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
        case Unary::Relu: return x > 0 ? x : 0;
        case Unary::GeluErf: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
        case Unary::GeluTanh: return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        case Unary::PowScalar: return std::pow(x, a);
        case Unary::Clamp: return std::min(std::max(x, a), b);
    }
    return 0;
}

}  // namespace

TEST_CASE("cpu kernels: vectorisable exp, tanh and normal CDF match the std functions") {
    double worst_exp = 0, worst_tanh = 0, worst_cdf = 0, worst_pdf = 0;
    for (int i = -200000; i <= 200000; ++i) {
        float x = float(i) * 4.4e-4f;  // [-88, 88]
        double e = std::exp(double(x));
        if (x > -87.3f) worst_exp = std::max(worst_exp, std::fabs(cpu::vm::exp_f(x) - e) / e);
        worst_tanh = std::max(worst_tanh, std::fabs(cpu::vm::tanh_f(x) - std::tanh(double(x))) /
                                              std::max(std::fabs(std::tanh(double(x))), 1e-30));
        float pdf;
        float cdf = cpu::vm::normal_cdf(x * 0.1f, &pdf);
        double xd = double(x * 0.1f);
        worst_cdf = std::max(worst_cdf, std::fabs(cdf - 0.5 * std::erfc(-xd / std::sqrt(2.0))));
        double pref = std::exp(-0.5 * xd * xd) / std::sqrt(2 * M_PI);
        worst_pdf = std::max(worst_pdf, std::fabs(pdf - pref) / (pref + 1e-12));
    }
    CHECK(worst_exp < 3e-7);   // about 2.5 ulp
    CHECK(worst_tanh < 5e-7);  // a few ulp, relative, also near 0
    CHECK(worst_cdf < 3.5e-7);  // A&S 7.1.26: 1.5e-7 on erfc, halved, plus float rounding
    CHECK(worst_pdf < 1e-5);    // exp(-x²/2) with x² rounded to float
    CHECK(cpu::vm::exp_f(0.0f) == 1.0f);
    CHECK(cpu::vm::exp_f(-std::numeric_limits<float>::infinity()) == 0.0f);
    CHECK(cpu::vm::exp_f(-100.0f) == 0.0f);
    CHECK(std::isinf(cpu::vm::exp_f(89.0f)));
    CHECK(std::isnan(cpu::vm::exp_f(std::nanf(""))));
    CHECK(std::fabs(cpu::vm::exp_f(88.7f) - std::exp(double(88.7f))) / std::exp(double(88.7f)) < 3e-7);
    CHECK(std::fabs(cpu::vm::exp_f(-87.0f) - std::exp(-87.0)) / std::exp(-87.0) < 3e-7);
    // The ends of the range, where adding n to the exponent field would leave
    // it: the float nearest ln(FLT_MAX) is above it (exp overflows), the one
    // nearest ln(FLT_MIN) below it (0 by the contract); their neighbours inside
    // are accurate and normal.
    const float top = 88.7228391f, bottom = -87.3365447f;
    CHECK(double(top) > std::log(double(std::numeric_limits<float>::max())));
    CHECK(double(bottom) < std::log(double(std::numeric_limits<float>::min())));
    CHECK(std::isinf(cpu::vm::exp_f(top)));
    CHECK(cpu::vm::exp_f(bottom) == 0.0f);
    for (float x : {std::nextafter(top, 0.0f), std::nextafter(bottom, 0.0f)}) {
        INFO("x = ", x);
        const float e = cpu::vm::exp_f(x);
        CHECK(std::isnormal(e));
        CHECK(std::fabs(e - std::exp(double(x))) / std::exp(double(x)) < 3e-7);
    }
    CHECK(cpu::vm::tanh_f(20.0f) == 1.0f);
    CHECK(cpu::vm::tanh_f(-20.0f) == -1.0f);
}

TEST_CASE("cpu kernels: unary ops match reference loops at vector and chunk boundaries") {
    Generator g(11);
    for (int64_t n : kSizes) {
        Tensor x = randn({n}, &g);
        Tensor xp = uniform({n}, 0.1f, 3.0f, &g);  // for log, sqrt, rsqrt, pow
        for (int o = 0; o <= int(Unary::Clamp); ++o) {
            Unary op = Unary(o);
            bool pos = op == Unary::Log || op == Unary::Sqrt || op == Unary::Rsqrt || op == Unary::PowScalar;
            float a = op == Unary::PowScalar ? 1.7f : -0.5f, b = 0.7f;
            const Tensor& in = pos ? xp : x;
            std::vector<float> xv = in.to_vector(), expected(static_cast<size_t>(n));
            for (size_t i = 0; i < xv.size(); ++i) expected[i] = float(ref_unary(op, xv[i], a, b));
            INFO(kernels::unary_name(op), " n=", n);
            Tensor y = kernels::unary(op, in, a, b);
            CHECK_CLOSE(y, expected, 1e-6, 2e-6);
            // A strided view of the same values gives the same bits.
            Tensor wide = empty({n, 2});
            raw_narrow(wide, 1, 0, 1).copy_(raw_reshape(in, {n, 1}));
            Tensor view = raw_reshape(raw_narrow(wide, 1, 0, 1), {n});
            CHECK(same_bits(kernels::unary(op, view, a, b).to_vector(), y.to_vector()));
            // backward: dy · f'(x) against central differences of the reference
            Tensor dy = randn({n}, &g);
            std::vector<float> dyv = dy.to_vector(), dexp(static_cast<size_t>(n));
            for (size_t i = 0; i < xv.size(); ++i) {
                double h = 1e-3 * std::max(1.0, std::fabs(double(xv[i])));
                double d = (ref_unary(op, xv[i] + h, a, b) - ref_unary(op, xv[i] - h, a, b)) / (2 * h);
                if ((op == Unary::Relu || op == Unary::Abs) && std::fabs(xv[i]) < h) d = xv[i] > 0 ? 1 : (op == Unary::Abs && xv[i] < 0 ? -1 : 0);
                if (op == Unary::Clamp && (std::fabs(xv[i] - a) < h || std::fabs(xv[i] - b) < h)) d = (xv[i] >= a && xv[i] <= b) ? 1 : 0;
                dexp[i] = float(dyv[i] * d);
            }
            Tensor dx = kernels::unary_backward(op, in, y, dy, a, b);
            CHECK_CLOSE(dx, dexp, 1e-4, 1e-3);
            // Only what unary_backward_reads names is read (autograd saves
            // just that): NaN in the other, or leaving it out, changes nothing.
            const kernels::UnaryReads reads = kernels::unary_backward_reads(op);
            Tensor nan = full({n}, std::nanf(""));
            CHECK(same_bits(kernels::unary_backward(op, reads.x ? in : nan, reads.y ? y : nan, dy, a, b).to_vector(),
                            dx.to_vector()));
            CHECK(same_bits(
                kernels::unary_backward(op, reads.x ? in : Tensor(), reads.y ? y : Tensor(), dy, a, b).to_vector(),
                dx.to_vector()));
        }
    }
}

TEST_CASE("cpu kernels: unary results do not depend on threads or vector width") {
    Generator g(12);
    Tensor x = randn({100003}, &g), dy = randn({100003}, &g);
    for (Unary op : {Unary::Exp, Unary::Tanh, Unary::Sigmoid, Unary::GeluErf, Unary::GeluTanh, Unary::Relu}) {
        INFO(kernels::unary_name(op));
        check_thread_independent([&] { return kernels::unary(op, x).to_vector(); }, true);
        Tensor y = kernels::unary(op, x);
        check_thread_independent([&] { return kernels::unary_backward(op, x, y, dy).to_vector(); }, true);
    }
}

TEST_CASE("cpu kernels: binary ops give identical results for packed, strided and broadcast operands") {
    Generator g(13);
    for (int64_t C : {1, 15, 16, 17, 1025}) {
        const int64_t N = 37;
        Tensor a = randn({N, C}, &g), b = randn({C}, &g);
        Tensor bfull = raw_expand(b, {N, C}).contiguous();
        Tensor at = raw_transpose(randn({C, N}, &g), 0, 1);  // a strided [N, C] view
        std::vector<float> av = a.to_vector(), bv = b.to_vector(), atv = at.to_vector();
        for (Binary op : {Binary::Add, Binary::Sub, Binary::Mul, Binary::Div}) {
            INFO(kernels::binary_name(op), " C=", C);
            auto f = [op](float x, float y) {
                switch (op) {
                    case Binary::Add: return x + y;
                    case Binary::Sub: return x - y;
                    case Binary::Mul: return x * y;
                    default: return x / y;
                }
            };
            std::vector<float> expected(static_cast<size_t>(N * C)), expected_t(static_cast<size_t>(N * C));
            for (int64_t i = 0; i < N; ++i)
                for (int64_t j = 0; j < C; ++j) {
                    expected[size_t(i * C + j)] = f(av[size_t(i * C + j)], bv[size_t(j)]);
                    expected_t[size_t(i * C + j)] = f(atv[size_t(i * C + j)], bv[size_t(j)]);
                }
            CHECK(same_bits(kernels::binary(op, a, b).to_vector(), expected));      // broadcast
            CHECK(same_bits(kernels::binary(op, a, bfull).to_vector(), expected));  // packed
            CHECK(same_bits(kernels::binary(op, at, b).to_vector(), expected_t));   // strided
            // scalar operand on either side
            Tensor s = scalar_tensor(0.75f);
            std::vector<float> es(av.size()), es2(av.size());
            for (size_t i = 0; i < av.size(); ++i) es[i] = f(av[i], 0.75f), es2[i] = f(0.75f, av[i]);
            CHECK(same_bits(kernels::binary(op, a, s).to_vector(), es));
            CHECK(same_bits(kernels::binary(op, s, a).to_vector(), es2));
        }
    }
    Tensor big = randn({100003}, &g), big2 = randn({100003}, &g);
    check_thread_independent([&] { return kernels::binary(Binary::Mul, big, big2).to_vector(); }, true);
}

TEST_CASE("cpu kernels: reductions match double sums and do not depend on the thread count") {
    Generator g(14);
    for (int64_t n : kSizes) {
        Tensor x = randn({n}, &g);
        std::vector<float> xv = x.to_vector();
        double s = 0, mx = -1e30, mn = 1e30;
        for (float v : xv) s += v, mx = std::max(mx, double(v)), mn = std::min(mn, double(v));
        double mean = s / double(n), ss = 0, se = 0;
        for (float v : xv) ss += (v - mean) * (v - mean), se += std::exp(double(v) - mx);
        INFO("n=", n);
        CHECK(std::fabs(kernels::reduce(Reduce::Sum, x, {}, false).item() - s) <= 1e-6 * (1 + std::fabs(s)));
        CHECK(std::fabs(kernels::reduce(Reduce::Mean, x, {}, false).item() - mean) <= 1e-6);
        if (n > 1) CHECK(std::fabs(kernels::reduce(Reduce::Var, x, {}, false).item() - ss / double(n - 1)) <= 1e-5);
        CHECK(std::fabs(kernels::reduce(Reduce::LogSumExp, x, {}, false).item() - (mx + std::log(se))) <= 1e-5);
        Tensor idx;
        CHECK(kernels::reduce(Reduce::Max, x, {}, false, &idx).item() == float(mx));
        CHECK(xv[size_t(idx.to_ivector()[0])] == float(mx));
        CHECK(kernels::reduce(Reduce::Min, x, {}, false, &idx).item() == float(mn));
        CHECK(xv[size_t(idx.to_ivector()[0])] == float(mn));
    }
    Tensor x = randn({1 << 20}, &g), rows = randn({300, 1025}, &g);
    for (Reduce op : {Reduce::Sum, Reduce::Mean, Reduce::Var, Reduce::LogSumExp, Reduce::Max}) {
        INFO(kernels::reduce_name(op));
        check_thread_independent([&] { return kernels::reduce(op, x, {}, false).to_vector(); }, false);
        check_thread_independent([&] { return kernels::reduce(op, rows, {1}, false).to_vector(); }, false);
    }
}

TEST_CASE("cpu kernels: l2_norm matches a double loop, for any thread count, and keeps inf and NaN") {
    Generator g(15);
    for (int64_t n : kSizes) {
        Tensor x = randn({n}, &g);
        double sq = 0;
        for (float v : x.to_vector()) sq += double(v) * v;
        INFO("n=", n);
        const Tensor norm = kernels::l2_norm(x);
        CHECK(norm.dim() == 0);
        CHECK(norm.item() == float(std::sqrt(sq)));  // double sums agree to far below a float's rounding
    }
    // A strided view and a bf16 tensor give the norm of their values.
    Tensor m = randn({40, 300}, &g), mt = transpose(m, 0, 1);
    CHECK(kernels::l2_norm(mt).item() == kernels::l2_norm(m).item());
    Tensor b = m.to(DType::bf16);
    double sqb = 0;
    for (float v : b.to_vector()) sqb += double(v) * v;
    CHECK(kernels::l2_norm(b).item() == float(std::sqrt(sqb)));
    // Finite values whose squares overflow float still have a finite norm.
    CHECK(kernels::l2_norm(full({1000}, 1e30f)).item() == doctest::Approx(1e30 * std::sqrt(1000.0)).epsilon(1e-6));
    Tensor big = randn({1 << 20}, &g);
    check_thread_independent([&] { return kernels::l2_norm(big).to_vector(); }, false);
    for (float bad : {INFINITY, -INFINITY, NAN}) {
        std::vector<float> v = big.to_vector();
        v[777777] = bad;
        const float norm = kernels::l2_norm(from_vector(v, {int64_t(v.size())})).item();
        CHECK(!std::isfinite(norm));
        CHECK(std::isnan(norm) == std::isnan(bad));
    }
}

TEST_CASE("cpu kernels: max/min take the first extreme, NaN wins") {
    float nan = std::nanf("");
    Tensor x = from_vector({1, 5, 2, 5, -3, -3}, {6});
    Tensor idx;
    CHECK(kernels::reduce(Reduce::Max, x, {}, false, &idx).item() == 5.0f);
    CHECK(idx.to_ivector()[0] == 1);
    CHECK(kernels::reduce(Reduce::Min, x, {}, false, &idx).item() == -3.0f);
    CHECK(idx.to_ivector()[0] == 4);
    std::vector<float> v(40, 1.0f);
    v[17] = nan;
    v[30] = nan;
    v[3] = 9.0f;
    CHECK(std::isnan(kernels::reduce(Reduce::Max, from_vector(v, {40}), {}, false, &idx).item()));
    CHECK(idx.to_ivector()[0] == 17);
    CHECK(std::isnan(kernels::reduce(Reduce::Min, from_vector(v, {40}), {}, false, &idx).item()));
    CHECK(idx.to_ivector()[0] == 17);
}

TEST_CASE("cpu kernels: sums over leading dims (bias gradients) match the transposed path") {
    Generator g(15);
    for (int64_t C : {1, 17, 300}) {
        Tensor x = randn({3, 700, C}, &g);
        std::vector<float> xv = x.to_vector();
        std::vector<double> ref(size_t(C), 0.0);
        for (int64_t i = 0; i < 2100; ++i)
            for (int64_t j = 0; j < C; ++j) ref[size_t(j)] += xv[size_t(i * C + j)];
        std::vector<float> expected(ref.begin(), ref.end()), emean(static_cast<size_t>(C));
        for (int64_t j = 0; j < C; ++j) emean[size_t(j)] = float(ref[size_t(j)] / 2100.0);
        INFO("C=", C);
        CHECK_CLOSE(kernels::reduce(Reduce::Sum, x, {0, 1}, false), expected, 1e-4, 1e-6);
        CHECK_CLOSE(kernels::reduce(Reduce::Mean, x, {0, 1}, true), emean, 1e-7, 1e-6);
        CHECK_CLOSE(kernels::sum_to(x, {1, C}), expected, 1e-4, 1e-6);
        check_thread_independent([&] { return kernels::sum_to(x, {C}).to_vector(); }, true);
    }
}

TEST_CASE("cpu kernels: mul_sum_to sums g·a over the broadcast dims without forming the products") {
    Generator gen(19);
    for (int64_t C : {1, 17, 300}) {
        Tensor g = randn({3, 700, C}, &gen), a = randn({3, 700, C}, &gen);
        const std::vector<float> gv = g.to_vector(), av = a.to_vector();
        // Reference loops in double: over all 2100 rows, over the 700 rows of each
        // of the 3 slabs' positions (shape [700, C]), and over the 700 middle
        // rows only (shape [3, 1, C], not a trailing block: the general path).
        std::vector<double> all(size_t(C), 0.0), per_row(size_t(700 * C), 0.0), per_slab(size_t(3 * C), 0.0);
        for (int64_t s = 0; s < 3; ++s)
            for (int64_t i = 0; i < 700; ++i)
                for (int64_t j = 0; j < C; ++j) {
                    const size_t e = size_t((s * 700 + i) * C + j);
                    const double p = double(gv[e]) * double(av[e]);
                    all[size_t(j)] += p;
                    per_row[size_t(i * C + j)] += p;
                    per_slab[size_t(s * C + j)] += p;
                }
        auto as_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
        INFO("C=", C);
        CHECK(kernels::mul_sum_to(g, a, {C}).shape() == Shape{C});
        CHECK_CLOSE(kernels::mul_sum_to(g, a, {C}), as_float(all), 1e-4, 1e-5);
        CHECK(kernels::mul_sum_to(g, a, {1, 1, C}).shape() == Shape{1, 1, C});
        CHECK_CLOSE(kernels::mul_sum_to(g, a, {1, 1, C}), as_float(all), 1e-4, 1e-5);
        CHECK_CLOSE(kernels::mul_sum_to(g, a, {700, C}), as_float(per_row), 1e-5, 1e-5);
        CHECK_CLOSE(kernels::mul_sum_to(g, a, {3, 1, C}), as_float(per_slab), 1e-4, 1e-5);
        std::vector<float> products(gv.size());  // nothing to sum: the float products themselves
        for (size_t e = 0; e < gv.size(); ++e) products[e] = gv[e] * av[e];
        CHECK(kernels::mul_sum_to(g, a, {3, 700, C}).to_vector() == products);
        check_thread_independent([&] { return kernels::mul_sum_to(g, a, {C}).to_vector(); }, true);
    }
    CHECK_THROWS_CONTAINING(kernels::mul_sum_to(zeros({2, 3}), zeros({3, 2}), {3}), "mul_sum_to: shapes [2, 3] and [3, 2] differ");
}

TEST_CASE("cpu kernels: softmax, log_softmax and cross-entropy match reference loops") {
    Generator g(16);
    for (int64_t C : {1, 15, 16, 17, 1025}) {
        const int64_t N = 40;
        Tensor x = randn({N, C}, &g) * 3.0f, gy = randn({N, C}, &g);
        std::vector<float> xv = x.to_vector(), gv = gy.to_vector();
        std::vector<float> sm(static_cast<size_t>(N * C)), lsm(static_cast<size_t>(N * C)), dsm(static_cast<size_t>(N * C)), dlsm(static_cast<size_t>(N * C));
        std::vector<float> lse(static_cast<size_t>(N));
        for (int64_t i = 0; i < N; ++i) {
            double m = -1e30, s = 0, dot = 0, gs = 0;
            for (int64_t j = 0; j < C; ++j) m = std::max(m, double(xv[size_t(i * C + j)]));
            for (int64_t j = 0; j < C; ++j) s += std::exp(xv[size_t(i * C + j)] - m);
            lse[size_t(i)] = float(m + std::log(s));
            for (int64_t j = 0; j < C; ++j) {
                size_t k = size_t(i * C + j);
                sm[k] = float(std::exp(xv[k] - m) / s);
                lsm[k] = float(xv[k] - m - std::log(s));
                dot += double(gv[k]) * sm[k];
                gs += gv[k];
            }
            for (int64_t j = 0; j < C; ++j) {
                size_t k = size_t(i * C + j);
                dsm[k] = float(sm[k] * (gv[k] - dot));
                dlsm[k] = float(gv[k] - sm[k] * gs);
            }
        }
        INFO("C=", C);
        Tensor y = kernels::softmax(x), ly = kernels::log_softmax(x);
        CHECK_CLOSE(y, sm, 1e-7, 2e-6);
        CHECK_CLOSE(ly, lsm, 2e-6, 1e-6);
        CHECK_CLOSE(kernels::softmax_backward(y, gy), dsm, 1e-6, 1e-5);
        CHECK_CLOSE(kernels::log_softmax_backward(ly, gy), dlsm, 1e-5, 1e-5);
        // cross-entropy with one ignored row
        std::vector<int32_t> t(static_cast<size_t>(N));
        for (int64_t i = 0; i < N; ++i) t[size_t(i)] = int32_t((i * 7) % C);
        t[3] = -100;
        Tensor tt = from_ivector(t, {N});
        auto ce = kernels::cross_entropy(x, tt, -100);
        double loss = 0;
        for (int64_t i = 0; i < N; ++i)
            if (i != 3) loss += lse[size_t(i)] - xv[size_t(i * C + t[size_t(i)])];
        CHECK(std::fabs(ce.loss.item() - loss / double(N - 1)) <= 1e-5 * (1 + std::fabs(loss / double(N - 1))));
        CHECK_CLOSE(ce.lse, lse, 1e-5, 1e-6);
        std::vector<float> dce(size_t(N * C), 0.0f);
        for (int64_t i = 0; i < N; ++i) {
            if (i == 3) continue;
            for (int64_t j = 0; j < C; ++j) dce[size_t(i * C + j)] = float((sm[size_t(i * C + j)] - (j == t[size_t(i)])) / double(N - 1));
        }
        CHECK_CLOSE(kernels::cross_entropy_backward(scalar_tensor(1.0f), x, ce.lse, tt, -100, ce.count), dce, 1e-7, 1e-5);
    }
    // masked (-inf) entries get exactly zero probability
    float inf = std::numeric_limits<float>::infinity();
    std::vector<float> masked = kernels::softmax(from_vector({0.5f, -inf, 1.0f, -inf}, {1, 4})).to_vector();
    CHECK(masked[1] == 0.0f);
    CHECK(masked[3] == 0.0f);
    Tensor big = randn({64, 1025}, &g), gb = randn({64, 1025}, &g);
    check_thread_independent([&] { return kernels::softmax(big).to_vector(); }, false);
    check_thread_independent([&] { return kernels::log_softmax(big).to_vector(); }, false);
    Tensor yb = kernels::softmax(big);
    check_thread_independent([&] { return kernels::softmax_backward(yb, gb).to_vector(); }, false);
}

TEST_CASE("cpu kernels: layer norm forward/backward match reference loops, weight sums thread independent") {
    Generator g(17);
    for (int64_t C : {1, 15, 16, 17, 1025}) {
        const int64_t N = 45;
        Tensor x = randn({N, C}, &g) * 2.0f + 1.0f, w = randn({C}, &g), b = randn({C}, &g), gy = randn({N, C}, &g);
        std::vector<float> xv = x.to_vector(), wv = w.to_vector(), bv = b.to_vector(), gv = gy.to_vector();
        std::vector<float> y(static_cast<size_t>(N * C)), dx(static_cast<size_t>(N * C)), dw(static_cast<size_t>(C)), db(static_cast<size_t>(C));
        std::vector<double> dwd(size_t(C), 0.0), dbd(size_t(C), 0.0);
        for (int64_t i = 0; i < N; ++i) {
            double m = 0, v = 0, a = 0, bb = 0;
            for (int64_t j = 0; j < C; ++j) m += xv[size_t(i * C + j)];
            m /= double(C);
            for (int64_t j = 0; j < C; ++j) v += (xv[size_t(i * C + j)] - m) * (xv[size_t(i * C + j)] - m);
            double rs = 1.0 / std::sqrt(v / double(C) + 1e-5);
            for (int64_t j = 0; j < C; ++j) {
                size_t k = size_t(i * C + j);
                double xh = (xv[k] - m) * rs;
                y[k] = float(xh * wv[size_t(j)] + bv[size_t(j)]);
                a += gv[k] * wv[size_t(j)];
                bb += gv[k] * wv[size_t(j)] * xh;
                dwd[size_t(j)] += gv[k] * xh;
                dbd[size_t(j)] += gv[k];
            }
            for (int64_t j = 0; j < C; ++j) {
                size_t k = size_t(i * C + j);
                double xh = (xv[k] - m) * rs;
                dx[k] = float(rs * (gv[k] * wv[size_t(j)] - a / double(C) - xh * bb / double(C)));
            }
        }
        for (int64_t j = 0; j < C; ++j) dw[size_t(j)] = float(dwd[size_t(j)]), db[size_t(j)] = float(dbd[size_t(j)]);
        INFO("C=", C);
        auto r = kernels::layer_norm(x, w, b, 1e-5f);
        CHECK_CLOSE(r.out, y, 1e-5, 1e-5);
        auto gr = kernels::layer_norm_backward(gy, x, w, r.mean, r.rstd, true, true, true);
        CHECK_CLOSE(gr.dx, dx, 1e-4, 1e-4);
        CHECK_CLOSE(gr.dweight, dw, 1e-4, 1e-5);
        CHECK_CLOSE(gr.dbias, db, 1e-4, 1e-5);
    }
    Tensor x = randn({3000, 17}, &g), w = randn({17}, &g), gy = randn({3000, 17}, &g);
    auto r = kernels::layer_norm(x, w, Tensor(), 1e-5f);
    check_thread_independent([&] { return kernels::layer_norm(x, w, Tensor(), 1e-5f).out.to_vector(); }, false);
    check_thread_independent(
        [&] { return kernels::layer_norm_backward(gy, x, w, r.mean, r.rstd, false, true, true).dweight.to_vector(); },
        false);
}

TEST_CASE("cpu kernels: AdamW matches the formula in double at vector and chunk boundaries") {
    Generator g(18);
    for (int64_t n : kSizes) {
        std::vector<float> p = randn({n}, &g).to_vector(), gr = randn({n}, &g).to_vector();
        std::vector<float> m = randn({n}, &g).to_vector(), v = rand({n}, &g).to_vector();
        std::vector<float> p0 = p, m0 = m, v0 = v;
        const int64_t step = 3;
        cpu::adamw_update(p.data(), m.data(), v.data(), gr.data(), n, 1e-2f, 0.9, 0.999, 1e-8f, 0.1f, step);
        std::vector<float> pe(static_cast<size_t>(n)), me(static_cast<size_t>(n)), ve(static_cast<size_t>(n));
        for (size_t i = 0; i < size_t(n); ++i) {
            // the constants as the kernel sees them: β and 1 - β rounded to float from double
            const double b1 = float(0.9), c1 = float(1 - 0.9), b2 = float(0.999), c2 = float(1 - 0.999);
            double mi = b1 * m0[i] + c1 * gr[i], vi = b2 * v0[i] + c2 * double(gr[i]) * gr[i];
            double mh = mi / (1 - std::pow(0.9, step)), vh = vi / (1 - std::pow(0.999, step));
            pe[i] = float(p0[i] * double(1.0f - 1e-2f * 0.1f) - double(1e-2f) * mh / (std::sqrt(vh) + double(1e-8f)));
            me[i] = float(mi), ve[i] = float(vi);
        }
        INFO("n=", n);
        CHECK_CLOSE(m, me, 1e-7, 1e-6);
        CHECK_CLOSE(v, ve, 1e-7, 1e-6);
        CHECK_CLOSE(p, pe, 1e-6, 1e-6);
    }
    std::vector<float> p = randn({100003}, &g).to_vector(), gr = randn({100003}, &g).to_vector();
    check_thread_independent(
        [&] {
            std::vector<float> q = p, m(q.size(), 0.1f), v(q.size(), 0.2f);
            cpu::adamw_update(q.data(), m.data(), v.data(), gr.data(), int64_t(q.size()), 1e-3f, 0.9, 0.95, 1e-8f,
                              0.01f, 5);
            q.insert(q.end(), m.begin(), m.end());
            return q;
        },
        true);
}

TEST_CASE("cpu kernels: add_ sums a packed or a strided source into the destination, element by element") {
    Generator g(23);
    for (int64_t rows : {1, 3, 700}) {  // 700 x 131 = 91700 elements: the threaded loop
        CAPTURE(rows);
        const Tensor base = randn({rows, 131}, &g), packed = randn({rows, 131}, &g);
        const Tensor strided = raw_transpose(randn({131, rows}, &g), 0, 1);  // a [rows, 131] view, column-major
        for (const Tensor* src : {&packed, &strided}) {
            const std::vector<float> b = base.to_vector(), x = src->to_vector();
            std::vector<float> want(b.size());
            for (size_t i = 0; i < b.size(); ++i) want[i] = b[i] + x[i];
            check_thread_independent(
                [&] {
                    Tensor d = base.clone();
                    kernels::add_(d, *src);
                    return d.to_vector();
                },
                true);
            Tensor d = base.clone();
            kernels::add_(d, *src);
            CHECK(same_bits(d.to_vector(), want));
        }
    }
}

TEST_CASE("cpu kernels: AdamW's 1 - β comes from the double β, as PyTorch's Python scalars") {
    // From zero moments, m = (1 - β1)·g and v = (1 - β2)·g·g, with 1 - β as
    // PyTorch passes it: computed in double, rounded to float once.  The float
    // β's own 1.0f - 0.999f is 0.00099998713, 1.3e-5 off 0.001 relatively: v's
    // increment was that much too small on every step, and in bf16-true a weight in a thousand now and
    // then by one bf16 step.
    const float c1 = float(1 - 0.9), c2 = float(1 - 0.999);
    REQUIRE(c2 != 1.0f - 0.999f);
    for (int64_t n : {1, 37}) {  // the scalar tail and the vector body
        std::vector<float> p(size_t(n), 1.0f), m(size_t(n), 0.0f), v(size_t(n), 0.0f), g(size_t(n), 0.0f);
        for (size_t i = 0; i < g.size(); ++i) g[i] = 0.37f + 0.113f * float(i);
        cpu::adamw_update(p.data(), m.data(), v.data(), g.data(), n, 1e-3f, 0.9, 0.999, 1e-8f, 0.0f, 1);
        for (size_t i = 0; i < g.size(); ++i) {
            CHECK(eng::f32_bits(m[i]) == eng::f32_bits(c1 * g[i]));
            CHECK(eng::f32_bits(v[i]) == eng::f32_bits(c2 * g[i] * g[i]));
        }
    }
    const bf16_true::AdamWConstants k = bf16_true::adamw_constants(1e-3f, 0.9, 0.999, 1e-8f, 0.1f, 1);
    CHECK(k.one_minus_b1 == c1);
    CHECK(k.one_minus_b2 == c2);
}

TEST_CASE("cpu kernels: AdamW's decay 1 - lr·wd is rounded once (the GPU's value)") {
    // With m = g = 0 the update is p·decay alone.  At lr = 0.0016433, wd =
    // 0.05 the product and the difference rounded separately land one ulp
    // away from the singly rounded value (the double expression, whose
    // product of two floats is exact); cuda/optim.cu computes the latter.
    // (g++ at -O3 -march=x86-64-v3 contracted the old expression into one FMA
    // already; the case pins the value so that no build can drift from the GPU's.)
    const float lr = 0.0016433f, wd = 0.05f;
    const float once = float(1.0 - double(lr) * double(wd));
    volatile float product = lr * wd;  // volatile: no contraction into an FMA
    const float twice = 1.0f - product;
    REQUIRE(once != twice);  // the case really tells the two apart
    for (int64_t n : {1, 37}) {  // the scalar tail and the vector body
        std::vector<float> p(size_t(n), 1.0f), m(size_t(n), 0.0f), v(size_t(n), 0.0f), g(size_t(n), 0.0f);
        cpu::adamw_update(p.data(), m.data(), v.data(), g.data(), n, lr, 0.9, 0.999, 1e-8f, wd, 1);
        for (float x : p) CHECK(eng::f32_bits(x) == eng::f32_bits(once));
    }
}

TEST_CASE("cpu kernels: dropout masks follow the counter formula for any threads and vector width") {
    Generator g(19);
    Tensor x = randn({100003}, &g);
    std::vector<float> xv = x.to_vector();
    Generator d(77);
    Tensor mask;
    Tensor y = kernels::dropout(x, 0.25f, &d, &mask);
    std::vector<float> mv = mask.to_vector(), yv = y.to_vector();
    int64_t bad = 0;
    for (size_t i = 0; i < xv.size(); ++i) {
        float keep = word_to_uniform(random_word(77, i)) < 0.75f ? 1.0f / 0.75f : 0.0f;
        bad += mv[i] != keep || yv[i] != xv[i] * keep;
    }
    CHECK(bad == 0);
    check_thread_independent(
        [&] {
            Generator d2(77);
            Tensor mk;
            return kernels::dropout(x, 0.25f, &d2, &mk).to_vector();
        },
        true);
}
