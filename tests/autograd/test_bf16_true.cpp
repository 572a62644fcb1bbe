// test_bf16_true.cpp: bf16-true training's rounding in the engine
// (tensor/precision.h): op outputs, gradients and their sums become bf16
// numbers; views, integer outputs and the caller's inputs are left alone; and
// with the switch off nothing is rounded; activations kept for backward as
// bf16 where that is exact (bf16-true, and bf16 products in bf16 mode).
#include <cmath>
#include <cstring>

#include "autograd/ops.h"
#include "autograd/saved.h"
#include "nn/layers.h"
#include "nn/linear.h"
#include "tensor/cpu/gemm.h"
#include "tensor/kernels.h"
#include "tensor/precision.h"
#include "tests/testing.h"

using namespace eng;

namespace {

// The nearest bf16 number, found here without the engine's bit trick: the
// two bf16 neighbours of x (truncation and the next one up) and the nearer of
// them in double precision, the even one on a tie.
float nearest_bf16(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    uint32_t lo_bits = u & 0xffff0000u, hi_bits = lo_bits + 0x10000u;
    float lo, hi;
    std::memcpy(&lo, &lo_bits, 4);
    std::memcpy(&hi, &hi_bits, 4);
    double dlo = std::fabs(double(x) - lo), dhi = std::fabs(double(hi) - x);
    if (dlo != dhi) return dlo < dhi ? lo : hi;
    return (lo_bits & 0x10000u) ? hi : lo;
}

std::vector<float> nearest_bf16(std::vector<float> v) {
    for (float& x : v) x = nearest_bf16(x);
    return v;
}

bool all_bf16(const Tensor& t) {
    for (float x : t.to_vector()) {
        uint32_t u;
        std::memcpy(&u, &x, 4);
        if (u & 0xffffu) return false;
    }
    return true;
}

// Values that are not bf16 numbers (24 significant bits in general).
std::vector<float> awkward(int n, float scale) {
    std::vector<float> v;
    for (int i = 0; i < n; ++i) v.push_back(scale * std::sin(1.7f * float(i) + 0.3f) + 0.01f * float(i) / 3.0f);
    return v;
}

}  // namespace

TEST_CASE("bf16-true: the reference rounding of this test agrees with the engine's on edge cases") {
    // Ties go to even, and the quiet-NaN rule; checks the test's own helper too.
    for (float x : {1.0f + 1.0f / 256.0f, 1.0f + 3.0f / 256.0f, -2.5f, 3.0e-39f, 65504.0f, 3.3895314e38f})
        CHECK_MESSAGE(round_to_bf16(x) == nearest_bf16(x), x);
    CHECK(round_to_bf16(1.0f + 1.0f / 256.0f) == 1.0f);                 // tie, down to even
    CHECK(round_to_bf16(1.0f + 3.0f / 256.0f) == 1.0f + 4.0f / 256.0f);  // tie, up to even
    CHECK(std::isnan(round_to_bf16(std::nanf(""))));
    CHECK(std::isinf(round_to_bf16(INFINITY)));
}

TEST_CASE("bf16-true: op outputs are rounded to bf16; with the switch off they are not") {
    std::vector<float> a = awkward(37, 1.3f), b = awkward(37, -0.7f);
    Tensor x = from_vector(a, {37}), y = from_vector(b, {37});
    std::vector<float> product(37);
    for (size_t i = 0; i < 37; ++i) product[i] = a[i] * b[i];
    {
        Bf16TrueGuard pure;
        CHECK_CLOSE(x * y, nearest_bf16(product), 0.0, 0.0);
        Tensor e = exp(x);
        CHECK(all_bf16(e));
        std::vector<float> ev(37);
        for (size_t i = 0; i < 37; ++i) ev[i] = nearest_bf16(std::exp(a[i]));
        CHECK_CLOSE(e, ev, 0.0, 0.0);
        CHECK(all_bf16(matmul(reshape(x, {1, 37}), reshape(y, {37, 1}))));
        CHECK(all_bf16(softmax(reshape(x, {1, 37}), -1)));
    }
    Tensor plain = x * y;
    CHECK_CLOSE(plain, product, 0.0, 0.0);
    CHECK_FALSE(all_bf16(plain));
}

TEST_CASE("bf16-true: views and the caller's inputs are never rounded in place; indices stay exact") {
    std::vector<float> a = awkward(400, 2.0f);
    a[301] = 50.0f;  // the arg-max, at an index no bf16 number can hold exactly
    Tensor x = from_vector(a, {2, 200});
    Bf16TrueGuard pure;
    Tensor r = reshape(x, {400});
    Tensor t = transpose(x, 0, 1);
    CHECK(x.to_vector() == a);  // the input keeps all its bits
    CHECK(r.to_vector() == a);
    auto [values, indices] = max(reshape(x, {1, 400}), 1);
    CHECK(values.item() == 50.0f);
    CHECK(indices.to_ivector() == std::vector<int32_t>{301});
    CHECK(t.to_vector().size() == 400);
    CHECK(x.to_vector() == a);
}

TEST_CASE("bf16-true: gradients are rounded as a node returns them and again when they are summed") {
    // L = Σ a·c1 + Σ a·c2 with a leaf a and constants c1, c2 (not bf16 numbers):
    // dL/da = R(R(c1) + R(c2)), the leaf's two contributions rounded and their sum rounded.
    std::vector<float> c1 = awkward(24, 0.9f), c2 = awkward(24, 0.011f);
    Tensor a = from_vector(nearest_bf16(awkward(24, 1.0f)), {24}).set_requires_grad(true);
    Tensor k1 = from_vector(c1, {24}), k2 = from_vector(c2, {24});
    std::vector<float> expect_leaf(24), expect_inner(24);
    for (size_t i = 0; i < 24; ++i) {
        expect_leaf[i] = nearest_bf16(nearest_bf16(c1[i]) + nearest_bf16(c2[i]));
        // b = a·3 (an op), used twice: its pending sum is rounded, then
        // dL/da = R(3 · R(R(c1) + R(c2))).
        expect_inner[i] = nearest_bf16(3.0f * expect_leaf[i]);
    }
    Bf16TrueGuard pure;
    backward(sum(a * k1) + sum(a * k2));
    CHECK(all_bf16(a.grad()));
    CHECK_CLOSE(a.grad(), expect_leaf, 0.0, 0.0);
    a.set_grad(Tensor());
    Tensor b = a * 3.0f;
    backward(sum(b * k1) + sum(b * k2));
    CHECK_CLOSE(a.grad(), expect_inner, 0.0, 0.0);
    // Off, the same gradient is the f32 sum.
    a.set_grad(Tensor());
    set_bf16_true(false);
    backward(sum(a * k1) + sum(a * k2));
    std::vector<float> f32_sum(24);
    for (size_t i = 0; i < 24; ++i) f32_sum[i] = c1[i] + c2[i];
    CHECK_CLOSE(a.grad(), f32_sum, 0.0, 0.0);
}

TEST_CASE("bf16-true: a module's parameters and buffers round in place; BatchNorm keeps bf16 statistics") {
    Generator g(3);
    nn::BatchNorm1d bn(5);
    nn::Linear lin(7, 5, true, &g);
    lin.round_to_bf16();
    CHECK(all_bf16(lin.weight));
    CHECK(all_bf16(lin.bias));
    Tensor x = from_vector(awkward(4 * 7, 1.1f), {4, 7});
    Bf16TrueGuard pure;
    bn.train();
    Tensor y = bn.forward(lin.forward(x));
    CHECK(all_bf16(y));
    CHECK(all_bf16(bn.running_mean));
    CHECK(all_bf16(bn.running_var));
    CHECK_FALSE(bn.running_mean.to_vector() == std::vector<float>(5, 0.0f));  // they did update
}

TEST_CASE("bf16-true: the precision name switches it on and any other name off") {
    CHECK_FALSE(bf16_true());
    CHECK(set_matmul_precision(Device::CPU, "bf16-true") == "bf16-true");
    CHECK(bf16_true());
    CHECK(matmul_precision_available(Device::CPU, "bf16-true"));
    CHECK(set_matmul_precision(Device::CPU, "fp32") == "fp32");
    CHECK_FALSE(bf16_true());
    CHECK_THROWS_CONTAINING(check_matmul_precision_name("bf16-false"), "bf16-true");
}

namespace {

// A small graph through every op that keeps an activation for its backward:
// linear, layer_norm, GELU, exp, mul, div, matmul, softmax, log_softmax,
// attention (separate and packed q, k, v), logsumexp, l2_normalize and
// cross-entropy.  Returns the gradients of its leaves.
std::vector<std::vector<float>> grads_of_small_graph() {
    Generator g(11);
    Tensor x = from_vector(nearest_bf16(awkward(4 * 6 * 8, 0.8f)), {4, 6, 8});
    Tensor w = mul(randn({24, 8}, &g), 0.3f).detach().set_requires_grad(true);
    Tensor gamma = ones({24}).set_requires_grad(true), beta = zeros({24}).set_requires_grad(true);
    Tensor w2 = mul(randn({8, 8}, &g), 0.3f).detach().set_requires_grad(true);
    kernels::round_to_bf16_(w);
    kernels::round_to_bf16_(w2);
    Tensor h = gelu(layer_norm(linear(x, w, Tensor()), gamma, beta, 1e-5f));  // [4, 6, 24]
    Tensor qkv = permute(reshape(h, {4, 6, 3, 1, 8}), {2, 0, 3, 1, 4});           // [3, 4, 1, 6, 8]
    Tensor a = scaled_dot_product_attention_packed(qkv, true, Tensor(), 1.0f, 0.0f, nullptr);
    Tensor q = select(qkv, 0, 0), k = select(qkv, 0, 1), v = select(qkv, 0, 2);
    Tensor b = scaled_dot_product_attention(q, k, exp(mul(v, 0.5f)), false, Tensor(), 2.0f);
    Tensor m = matmul(reshape(add(a, b), {4, 6, 8}), w2);                           // [4, 6, 8]
    Tensor s = softmax(div(m, add(exp(m), 1.0f)), -1);
    Tensor lse = logsumexp(mul(s, m), {-1});
    Tensor e = l2_normalize(reshape(m, {24, 8}), -1);
    Tensor logits = log_softmax(e, -1);
    std::vector<int32_t> t(24);
    for (int i = 0; i < 24; ++i) t[size_t(i)] = i % 8;
    Tensor loss = add(cross_entropy(logits, from_ivector(t, {24}), -100), mean(lse));
    backward(loss);
    return {w.grad().to_vector(), gamma.grad().to_vector(), beta.grad().to_vector(), w2.grad().to_vector()};
}

}  // namespace

TEST_CASE("bf16-true: activations kept as bf16 for backward give the same gradients, bit for bit") {
    Bf16TrueGuard pure;
    autograd::set_bf16_saved_activations(false);
    const auto f32_kept = grads_of_small_graph();
    autograd::set_bf16_saved_activations(true);
    const auto bf16_kept = grads_of_small_graph();
    REQUIRE(f32_kept.size() == bf16_kept.size());
    for (size_t i = 0; i < f32_kept.size(); ++i) {
        CHECK_MESSAGE(f32_kept[i] == bf16_kept[i], "leaf " << i);
        CHECK(all_bf16(from_vector(bf16_kept[i], {int64_t(bf16_kept[i].size())})));
    }
}

TEST_CASE("bf16-true: a kept activation's f32 storage is freed after the forward; its bf16 copy is kept") {
    // y = exp(h) with h = x·w: exp keeps its output and linear keeps x, but h
    // itself is needed by nobody once exp has run.  Keep y's f32 storage
    // observable: under bf16-true only its bf16 copy stays.
    Tensor x = from_vector(nearest_bf16(awkward(64, 0.5f)), {8, 8}).set_requires_grad(true);
    Tensor w = from_vector(nearest_bf16(awkward(64, 0.3f)), {8, 8}).set_requires_grad(true);
    auto forward = [&](std::weak_ptr<Storage>& y_storage) {
        Tensor y = exp(matmul(x, w));
        y_storage = y.storage();
        return sum(y);  // y's handle dies here; only exp's saved copy may remain
    };
    std::weak_ptr<Storage> kept;
    {
        Bf16TrueGuard pure;
        Tensor loss = forward(kept);
        CHECK(kept.expired());  // exp kept a bf16 copy of y, not y
        backward(loss);
    }
    Tensor loss = forward(kept);
    CHECK_FALSE(kept.expired());  // in f32 the backward keeps y itself
    backward(loss);
}

TEST_CASE("bf16 mode: operands kept for bf16 products are kept as bf16, with the same gradients bit for bit") {
    if (!cpu::gemm_bf16_supported()) {
        MESSAGE("skipped: this CPU has no AVX512-BF16 (bf16 products)");
        return;
    }
    struct Fp32After {
        ~Fp32After() {
            set_matmul_precision(Device::CPU, "fp32");
            autograd::set_bf16_saved_activations(true);
        }
    } restore;
    set_matmul_precision(Device::CPU, "bf16");
    autograd::set_bf16_saved_activations(false);
    const auto f32_kept = grads_of_small_graph();
    autograd::set_bf16_saved_activations(true);
    const auto bf16_kept = grads_of_small_graph();
    for (size_t i = 0; i < f32_kept.size(); ++i) CHECK_MESSAGE(f32_kept[i] == bf16_kept[i], "leaf " << i);
    // And the memory: linear's input, needed only by the dW product, is kept
    // as bf16, so its f32 storage goes once the forward has moved on.
    Tensor x = from_vector(awkward(64, 0.5f), {8, 8});
    Tensor w1 = from_vector(awkward(64, 0.3f), {8, 8}).set_requires_grad(true);
    Tensor w2 = from_vector(awkward(64, 0.2f), {8, 8}).set_requires_grad(true);
    std::weak_ptr<Storage> hidden;
    Tensor loss;
    {
        Tensor h = linear(x, w1, Tensor());  // an activation: linear below keeps it for dW2
        hidden = h.storage();
        loss = sum(linear(h, w2, Tensor()));
    }
    CHECK(hidden.expired());
    backward(loss);
    CHECK(w2.grad().defined());
}
