// test_cuda_index_image_attention.cpp: CUDA against CPU for the index ops
// (concat, stack, index_select / index_add, gather / scatter_add: bit-identical,
// since each output element is summed by one thread in the CPU's order),
// patchify, bicubic resizing (as GEMMs with the dense axis weights; 1e-5), and
// the three CUDA attention kernels, the cuBLAS path, the fused tiled one and
// the tensor-core flash one (causal, key padding, score divisor, T != S, sizes
// off the tile grid, strided q/k/v, fully masked rows; 1e-4 relative for the
// f32 kernels, whose summation order differs from the CPU's, bf16 tolerances
// for flash).  Skipped without a GPU.
#include "tests/cuda/cuda_testing.h"

using namespace eng;
using cudatest::check_devices;
using cudatest::randn;
using V = std::vector<Tensor>;

TEST_CASE("cuda index ops: concat, stack, index_select, gather, scatter_add (exact)") {
    SKIP_WITHOUT_CUDA();
    cudatest::Tolerance exact{0, 0, 0, 0};
    Tensor a = randn({3, 4, 5}, 70), b = randn({3, 2, 5}, 71), c = randn({3, 6, 5}, 72);
    check_devices([](const V& v) { return concat({v[0], v[1], v[2]}, 1); }, {a, b, c}, exact);
    check_devices([](const V& v) { return stack({v[0], v[0] * 2.0f}, 2); }, {a}, {0, 0, 1e-6, 1e-6});
    Tensor idx = from_ivector({3, 0, 3, 2, 3, 1}, {6});  // repeats: index_add sums them
    check_devices([](const V& v) { return index_select(v[0], 1, v[1]); }, {a, idx}, exact, {true, false});
    check_devices([](const V& v) { return index_select(v[0], 0, v[1]); }, {randn({5, 3}, 73), idx}, exact,
                  {true, false});
    // gather along dim 1 of [3, 4, 5] with an index of shape [3, 7, 2] (repeats everywhere)
    std::vector<int32_t> gi(3 * 7 * 2);
    for (size_t i = 0; i < gi.size(); ++i) gi[i] = int32_t((i * 5 + 3) % 4);
    Tensor gidx = from_ivector(gi, {3, 7, 2});
    check_devices([](const V& v) { return gather(v[0], 1, v[1]); }, {a, gidx}, exact, {true, false});
    Tensor src = randn({3, 7, 3}, 74);  // larger than index in the last dim: the extra part is unused
    check_devices([](const V& v) { return scatter_add(v[0], 1, v[1], v[2]); }, {a, gidx, src}, exact,
                  {true, false, true});
    // bf16 and i32 gathers move raw words
    Tensor ai = from_ivector({1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor sel = from_ivector({2, 2, 0}, {3});
    CHECK(index_select(ai.to(Device::CUDA), 1, sel.to(Device::CUDA)).to_ivector() ==
          index_select(ai, 1, sel).to_ivector());
    Tensor a16 = a.to(DType::bf16);
    CHECK(gather(a16.to(Device::CUDA), 1, gidx.to(Device::CUDA)).to_vector() == gather(a16, 1, gidx).to_vector());
    Tensor bad = from_ivector({0, 9}, {2}, Device::CUDA);
    CHECK_THROWS_CONTAINING(index_select(a.to(Device::CUDA), 1, bad), "out of range");
}

TEST_CASE("cuda image ops: patchify and bicubic resizing, forward and backward") {
    SKIP_WITHOUT_CUDA();
    Tensor img = randn({2, 3, 28, 42}, 75);
    check_devices([](const V& v) { return patchify(v[0], 14); }, {img}, {0, 0, 0, 0});
    Tensor grid = randn({1, 8, 7, 7}, 76);  // a position-embedding grid
    cudatest::Tolerance tol{1e-5, 1e-5, 1e-5, 1e-5};
    check_devices([](const V& v) { return interpolate_bicubic(v[0], 12, 9, false); }, {grid}, tol);
    check_devices([](const V& v) { return interpolate_bicubic(v[0], 5, 4, true); }, {grid}, tol);
    check_devices([](const V& v) { return interpolate_bicubic(v[0], 16, 10, true); }, {grid}, tol);
    check_devices([](const V& v) { return interpolate_bicubic_scale(v[0], 1.5, 2.0, false); }, {grid}, tol);
}

namespace {

Tensor mask_tensor(int64_t B, int64_t S, int64_t masked_from) {
    std::vector<float> m(size_t(B * S), 1.0f);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t j = masked_from + b; j < S; ++j) m[size_t(b * S + j)] = 0.0f;
    return from_vector(m, {B, S});
}

}  // namespace

// Every case on the current CUDA attention kernel (cuda::set_attention_kernel),
// within `tol` of the CPU's f32 result.
static void check_attention_cases(cudatest::Tolerance tol) {
    struct Case {
        int64_t B, H, T, S, d, dv;
        bool causal, padded;
        float divisor;
    };
    std::vector<Case> cases = {
        {2, 3, 37, 37, 16, 16, false, false, 1.0f},  {1, 2, 70, 70, 64, 64, true, false, 1.0f},
        {2, 2, 33, 45, 40, 24, false, true, 3.0f},   {2, 1, 45, 33, 8, 72, true, true, 1.0f},
        {1, 1, 5, 129, 128, 128, false, true, 2.0f}, {1, 2, 9, 9, 200, 8, true, false, 1.0f},
        // rows longer than one block's width (the gemm path keeps up to 2048 keys in
        // registers per row, longer rows take its second, re-reading branch)
        {1, 2, 6, 700, 16, 16, false, true, 1.0f},   {1, 1, 3, 2100, 16, 8, true, true, 1.0f},
    };
    for (const Case& c : cases) {
        INFO("B H T S d dv = " << c.B << " " << c.H << " " << c.T << " " << c.S << " " << c.d << " " << c.dv
                                << (c.causal ? " causal" : "") << (c.padded ? " padded" : ""));
        Tensor q = randn({c.B, c.H, c.T, c.d}, 80), k = randn({c.B, c.H, c.S, c.d}, 81);
        Tensor v = randn({c.B, c.H, c.S, c.dv}, 82);
        Tensor mask = c.padded ? mask_tensor(c.B, c.S, c.S / 2) : Tensor();
        bool causal = c.causal;
        float div = c.divisor;
        check_devices(
            [=](const V& in) {
                Tensor m = mask.defined() ? mask.to(in[0].device()) : Tensor();
                return scaled_dot_product_attention(in[0], in[1], in[2], causal, m, div);
            },
            {q, k, v}, tol);
    }
    // q, k, v as permuted views of a packed [B, T, H, d] tensor (the fused-qkv layout).
    Tensor qkv = randn({2, 21, 3, 3, 32}, 83);
    check_devices(
        [](const V& in) {
            Tensor t = in[0];
            Tensor q = permute(select(t, 2, 0), {0, 2, 1, 3}), k = permute(select(t, 2, 1), {0, 2, 1, 3});
            Tensor v = permute(select(t, 2, 2), {0, 2, 1, 3});
            return scaled_dot_product_attention(q, k, v, true);
        },
        {qkv}, tol);
    // A fully masked query row (padding removes every key it may see): zeros and zero gradients.
    Tensor q = randn({1, 1, 4, 8}, 84), k = randn({1, 1, 4, 8}, 85), v = randn({1, 1, 4, 8}, 86);
    Tensor mask = from_vector({0, 1, 1, 1}, {1, 4});
    check_devices(
        [=](const V& in) { return scaled_dot_product_attention(in[0], in[1], in[2], true, mask.to(in[0].device())); },
        {q, k, v}, tol);
}

TEST_CASE("cuda attention: the CUDA kernels (gemm, fused, flash) match the CPU (masks, divisor, T != S, strided inputs)") {
    SKIP_WITHOUT_CUDA();
    // gemm and fused compute in f32 (summation order aside); flash rounds q, k,
    // v, P and dS to bf16 for its tensor-core products (8-bit significands:
    // relative steps of 2^-8), so it gets bf16 tolerances.  Head dims above
    // 128 (the d = 200 case) take the gemm path under flash.
    const struct {
        const char* name;
        cuda::AttentionKernel kernel;
        cudatest::Tolerance tol;
    } kernels[] = {{"gemm", cuda::AttentionKernel::gemm, {1e-5, 1e-4, 1e-5, 1e-4}},
                   {"fused", cuda::AttentionKernel::fused, {1e-5, 1e-4, 1e-5, 1e-4}},
                   {"flash", cuda::AttentionKernel::flash, {2e-2, 2e-2, 5e-2, 3e-2}}};
    for (const auto& k : kernels) {
        INFO("kernel " << k.name);
        cuda::set_attention_kernel(k.kernel);
        check_attention_cases(k.tol);
    }
    cuda::set_attention_kernel(cuda::AttentionKernel::gemm);
}

TEST_CASE("cuda attention: flash applies the CPU kernels' probability dropout (same mask from the same counters)") {
    SKIP_WITHOUT_CUDA();
    // The packed op with dropout_p draws its mask from a generator in the same
    // state on both devices; the CPU's fused kernel and flash must then agree
    // within flash's bf16 tolerances, forward and backward (a wrong mask, or
    // one missing from dV or dP, would miss by far more).
    const int64_t B = 2, T = 70, H = 3, d = 32;
    Tensor base = randn({B, T, 3, H, d}, 90);
    Tensor pad = mask_tensor(B, T, T - 9);
    cuda::set_attention_kernel(cuda::AttentionKernel::flash);
    for (bool causal : {false, true}) {
        INFO("causal " << causal);
        check_devices(
            [=](const V& in) {
                Generator g(7);
                Tensor qkv = permute(in[0], {2, 0, 3, 1, 4});
                return scaled_dot_product_attention_packed(qkv, causal, pad.to(in[0].device()), 2.0f, 0.3f, &g);
            },
            {base}, {2e-2, 2e-2, 5e-2, 3e-2});
    }
    // GPT-2's head dim 64 fits every card of compute capability 8.0 with 107 KB
    // of shared memory per block (H100/H200, A100; not sm_86/89 cards).
    CHECK(attention_dropout_fused(Device::CUDA, 64));
    CHECK_FALSE(attention_dropout_fused(Device::CUDA, 200));  // past flash's head dims
    // The other CUDA kernels have no dropout: a clear error, not a silent skip.
    cuda::set_attention_kernel(cuda::AttentionKernel::gemm);
    CHECK_FALSE(attention_dropout_fused(Device::CUDA, 32));
    Tensor qkv = permute(base.to(Device::CUDA), {2, 0, 3, 1, 4});
    CHECK_THROWS_CONTAINING(scaled_dot_product_attention_packed(qkv, true, Tensor(), 1.0f, 0.3f), "flash");
}
