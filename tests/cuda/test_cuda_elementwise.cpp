// test_cuda_elementwise.cpp: CUDA against CPU for copies, dtype conversion,
// fills, the unary ops (every one of kernels::Unary), broadcasting binary ops
// on strided views, where, in-place add and sum_to; forward and backward.
// f32 tolerance: 1e-5 relative (the CUDA maths functions are within 1-4 ulp).
// Skipped without a GPU.
#include <cmath>

#include "tests/cuda/cuda_testing.h"

using namespace eng;
using cudatest::check_devices;
using cudatest::randn;
using cudatest::uniform;

TEST_CASE("cuda copy: views packed on the device, copy_ into views, bf16 and i32 conversion") {
    SKIP_WITHOUT_CUDA();
    Tensor x = randn({4, 5, 6}, 1);
    Tensor dx = x.to(Device::CUDA);
    // A permuted view, packed on the GPU.
    CHECK(raw_permute(dx, {2, 0, 1}).contiguous().to_vector() == raw_permute(x, {2, 0, 1}).contiguous().to_vector());
    // copy_ into a non-contiguous CUDA view (what concat and the narrow backward do).
    Tensor big = zeros({4, 9, 6}, {DType::f32, Device::CUDA});
    raw_narrow(big, 1, 2, 5).copy_(dx);
    Tensor ref = zeros({4, 9, 6});
    raw_narrow(ref, 1, 2, 5).copy_(x);
    CHECK(big.to_vector() == ref.to_vector());
    // copy_ of a transposed source into a transposed destination.
    Tensor y = randn({6, 5}, 19);
    Tensor t = zeros({6, 5}, {DType::f32, Device::CUDA});
    raw_transpose(t, 0, 1).copy_(raw_transpose(y.to(Device::CUDA), 0, 1));
    Tensor tref = zeros({6, 5});
    raw_transpose(tref, 0, 1).copy_(raw_transpose(y, 0, 1));
    CHECK(t.to_vector() == tref.to_vector());
    // bf16 round trip: bit-identical rounding to the CPU's (NaN, inf, ties included).
    std::vector<float> special = {0.0f, -0.0f, 1.0f, 1.00390625f, 1.01171875f, -3.3e38f, 3.39e38f, 1e-40f,
                                  INFINITY, -INFINITY, NAN, 65504.0f, 1.0f / 3.0f};
    Tensor s = from_vector(special, {int64_t(special.size())});
    Tensor s_bf_gpu = s.to(Device::CUDA).to(DType::bf16);
    Tensor s_bf_cpu = s.to(DType::bf16);
    CHECK(s_bf_gpu.dtype() == DType::bf16);
    std::vector<float> a = s_bf_gpu.to_vector(), b = s_bf_cpu.to_vector();
    for (size_t i = 0; i < a.size(); ++i) CHECK((a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))));
    Tensor back = s_bf_gpu.to(DType::f32);
    CHECK(back.is_cuda());
    std::vector<float> c = back.to_vector();
    for (size_t i = 0; i < c.size(); ++i) CHECK((c[i] == b[i] || (std::isnan(c[i]) && std::isnan(b[i]))));
    Tensor big_bf = randn({1000, 37}, 2).to(Device::CUDA).to(DType::bf16);
    CHECK(big_bf.to_vector() == randn({1000, 37}, 2).to(DType::bf16).to_vector());
    // i32 <-> f32
    Tensor ids = from_ivector({3, -7, 100000, 0}, {4}, Device::CUDA);
    CHECK(ids.to(DType::f32).is_cuda());
    CHECK(ids.to(DType::f32).to_vector() == std::vector<float>({3.0f, -7.0f, 100000.0f, 0.0f}));
    Tensor f = from_vector({2.9f, -2.9f, 5.0f}, {3}).to(Device::CUDA);
    CHECK(f.to(DType::i32).to_ivector() == std::vector<int32_t>({2, -2, 5}));
    // fills
    Tensor z = full({3, 3}, 1.5f, {DType::f32, Device::CUDA});
    CHECK(z.to_vector() == std::vector<float>(9, 1.5f));
    raw_transpose(z, 0, 1).fill_(-2.0f);  // a non-packed view
    CHECK(z.to_vector() == std::vector<float>(9, -2.0f));
}

TEST_CASE("cuda unary: every op matches the CPU, forward and backward") {
    SKIP_WITHOUT_CUDA();
    Tensor x = randn({37, 129}, 3, 1.5f);
    Tensor pos = uniform({37, 129}, 4, 0.1f, 4.0f);
    struct Case {
        const char* name;
        cudatest::Fn fn;
        Tensor input;
    };
    std::vector<Case> cases = {
        {"neg", [](const std::vector<Tensor>& v) { return neg(v[0]); }, x},
        {"exp", [](const std::vector<Tensor>& v) { return eng::exp(v[0]); }, x},
        {"log", [](const std::vector<Tensor>& v) { return eng::log(v[0]); }, pos},
        {"sqrt", [](const std::vector<Tensor>& v) { return eng::sqrt(v[0]); }, pos},
        {"rsqrt", [](const std::vector<Tensor>& v) { return rsqrt(v[0]); }, pos},
        {"abs", [](const std::vector<Tensor>& v) { return eng::abs(v[0]); }, x},
        {"tanh", [](const std::vector<Tensor>& v) { return eng::tanh(v[0]); }, x},
        {"sigmoid", [](const std::vector<Tensor>& v) { return sigmoid(v[0]); }, x},
        {"relu", [](const std::vector<Tensor>& v) { return relu(v[0]); }, x},
        {"gelu (erf)", [](const std::vector<Tensor>& v) { return gelu(v[0], false); }, x},
        {"gelu (tanh)", [](const std::vector<Tensor>& v) { return gelu(v[0], true); }, x},
        {"pow 2.5", [](const std::vector<Tensor>& v) { return eng::pow(v[0], 2.5f); }, pos},
        {"pow -1", [](const std::vector<Tensor>& v) { return eng::pow(v[0], -1.0f); }, pos},
        {"clamp", [](const std::vector<Tensor>& v) { return clamp(v[0], -0.5f, 0.7f); }, x},
        // a transposed (non-contiguous) input
        {"tanh of a view", [](const std::vector<Tensor>& v) { return eng::tanh(transpose(v[0], 0, 1)); }, x},
    };
    for (const Case& c : cases) {
        INFO("op " << c.name);
        check_devices(c.fn, {c.input}, {1e-6, 1e-5, 1e-6, 1e-5});
    }
}

TEST_CASE("cuda binary: broadcasting over strided views, forward and backward") {
    SKIP_WITHOUT_CUDA();
    using V = std::vector<Tensor>;
    // [4, 1, 6] op [5, 1]: broadcast both ways, gradients summed back (sum_to on the GPU).
    Tensor a = randn({4, 1, 6}, 5), b = uniform({5, 1}, 6, 0.5f, 2.0f);
    check_devices([](const V& v) { return add(v[0], v[1]); }, {a, b});
    check_devices([](const V& v) { return sub(v[0], v[1]); }, {a, b});
    check_devices([](const V& v) { return mul(v[0], v[1]); }, {a, b});
    check_devices([](const V& v) { return div(v[0], v[1]); }, {a, b});
    check_devices([](const V& v) { return eng::pow(v[1], v[0]); }, {a, b});
    // scalars and a permuted operand
    Tensor c = randn({3, 4, 5}, 7), d = randn({5, 4, 3}, 8);
    check_devices([](const V& v) { return mul(v[0], permute(v[1], {2, 1, 0})) + 2.0f; }, {c, d});
    check_devices([](const V& v) { return div(v[0], 3.0f) - v[0] * v[0]; }, {c});
    // a large packed case (the fast path) and a 0-d tensor
    Tensor e = randn({1 << 16}, 9), f = randn({1 << 16}, 10);
    check_devices([](const V& v) { return mul(v[0], v[1]); }, {e, f});
    Tensor s = randn({}, 11);
    check_devices([](const V& v) { return mul(v[0], v[1]); }, {e, s});
    // more than 8 dims that collapse
    Tensor g = randn({2, 1, 2, 1, 2, 1, 2, 1, 2, 3}, 12), h = randn({3}, 13);
    check_devices([](const V& v) { return add(v[0], v[1]); }, {g, h});
}

TEST_CASE("cuda where, masked_fill and add_") {
    SKIP_WITHOUT_CUDA();
    using V = std::vector<Tensor>;
    Tensor cond = from_vector({1, 0, 0, 1, 1, 0}, {6, 1});
    Tensor a = randn({6, 7}, 14), b = randn({7}, 15);
    check_devices([](const V& v) { return where(v[0], v[1], v[2]); }, {cond, a, b}, {}, {false, true, true});
    Tensor mask_i = from_ivector({1, 0, 1, 0, 0, 0, 1}, {7});
    check_devices([](const V& v) { return masked_fill(v[0], v[1], -1e4f); }, {a, mask_i}, {}, {true, false});
    // add_ with a strided source
    Tensor dst = randn({5, 6}, 16), src = randn({6, 5}, 17);
    Tensor dst_gpu = dst.to(Device::CUDA).clone();
    kernels::add_(dst_gpu, raw_transpose(src.to(Device::CUDA), 0, 1));
    kernels::add_(dst, raw_transpose(src, 0, 1));
    CHECK(dst_gpu.to_vector() == dst.to_vector());  // one f32 add per element: exact
    // sum_to
    Tensor big = randn({3, 4, 5}, 18);
    CHECK_CLOSE(kernels::sum_to(big.to(Device::CUDA), {4, 1}), kernels::sum_to(big, {4, 1}), 1e-6, 1e-5);
}
