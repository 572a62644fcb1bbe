// test_cuda_reduce_gemm.cpp: CUDA against CPU for the reductions (sum, mean,
// max/min with indices, logsumexp, var; long and short rows, full and per-dim)
// and for matmul through cuBLAS (every transpose combination as views, batch
// broadcasting, 1-D operands, K = 0), plus the bf16 GEMM and the TF32 switch.
// Tolerances: 1e-5 relative for reductions (double accumulation on both sides),
// 1e-4 relative for f32 GEMMs; bf16 GEMM (and bf16 mode's large products, on
// bf16 copies): exact-input products accumulated in f32, so 1e-4 relative
// against an f32 GEMM of the bf16-rounded inputs.
// Skipped without a GPU.
#include "nn/optim.h"
#include "tensor/cpu/gemm.h"
#include "tensor/kernels.h"
#include "tests/cuda/cuda_testing.h"

using namespace eng;
using cudatest::check_devices;
using cudatest::randn;

TEST_CASE("cuda reduce: sum, mean, logsumexp, var over dims and in full") {
    SKIP_WITHOUT_CUDA();
    using V = std::vector<Tensor>;
    Tensor x = randn({6, 70, 5}, 20, 2.0f);  // rows of 70 (block per row) and of 5 or 6 (thread per row)
    for (std::vector<int64_t> dims : std::vector<std::vector<int64_t>>{{}, {0}, {1}, {2}, {0, 2}, {-1, 1}}) {
        INFO("dims of size " << dims.size());
        check_devices([dims](const V& v) { return sum(v[0], dims); }, {x}, {1e-5, 1e-5, 1e-6, 1e-5});
        check_devices([dims](const V& v) { return mean(v[0], dims, true); }, {x}, {1e-6, 1e-5, 1e-6, 1e-5});
        if (!dims.empty()) {
            check_devices([dims](const V& v) { return logsumexp(v[0], dims); }, {x}, {1e-5, 1e-5, 1e-6, 1e-5});
            check_devices([dims](const V& v) { return var(v[0], dims); }, {x}, {1e-5, 1e-5, 1e-6, 1e-5});
        }
    }
    // A long row (many elements per thread) on a strided view.
    Tensor y = randn({3, 100000}, 21);
    check_devices([](const V& v) { return sum(transpose(v[0], 0, 1), {0}); }, {y}, {1e-4, 1e-5, 1e-6, 1e-5});
}

TEST_CASE("cuda reduce: logsumexp of a row holding NaN is NaN, as on the CPU (short and long rows)") {
    SKIP_WITHOUT_CUDA();
    // Rows of 5 (a thread per row) and of 300 (a block per row): row 0 NaN among
    // numbers, row 1 NaN and -inf only, row 2 NaN and +inf, row 3 all -inf.
    for (int64_t len : {5, 300}) {
        CAPTURE(len);
        Tensor x = randn({4, len}, 23);
        float* p = x.data<float>();
        p[1] = NAN;
        for (int64_t j = 0; j < len; ++j) p[len + j] = j == 2 ? NAN : -INFINITY;
        for (int64_t j = 0; j < len; ++j) p[2 * len + j] = j == 0 ? INFINITY : j == len - 1 ? NAN : 1.0f;
        for (int64_t j = 0; j < len; ++j) p[3 * len + j] = -INFINITY;
        const std::vector<float> cpu = logsumexp(x, {1}).to_vector(), gpu = logsumexp(x.to(Device::CUDA), {1}).to_vector();
        REQUIRE(gpu.size() == 4);
        for (int r = 0; r < 3; ++r) {
            CAPTURE(r);
            CHECK(std::isnan(cpu[size_t(r)]));
            CHECK(std::isnan(gpu[size_t(r)]));
        }
        CHECK(cpu[3] == -INFINITY);
        CHECK(gpu[3] == -INFINITY);
    }
}

TEST_CASE("cuda reduce: l2_norm and grad_norm as on the CPU, one value per gradient crossing once") {
    SKIP_WITHOUT_CUDA();
    Tensor x = randn({300, 1001}, 24), small = randn({7}, 25);
    for (const Tensor& t : {x, small, transpose(x, 0, 1)}) {
        const Tensor gpu = eng::kernels::l2_norm(t.to(Device::CUDA));
        CHECK(gpu.is_cuda());
        CHECK(gpu.item() == doctest::Approx(eng::kernels::l2_norm(t).item()).epsilon(1e-5));
    }
    std::vector<Tensor> cpu_params = {eng::zeros({300, 1001}), eng::zeros({7})}, gpu_params;
    cpu_params[0].set_grad(x);
    cpu_params[1].set_grad(small);
    for (const Tensor& p : cpu_params) {
        gpu_params.push_back(p.to(Device::CUDA));
        gpu_params.back().set_grad(p.grad().to(Device::CUDA));
    }
    const float cpu_norm = eng::nn::grad_norm({&cpu_params[0], &cpu_params[1]});
    CHECK(eng::nn::grad_norm({&gpu_params[0], &gpu_params[1]}) == doctest::Approx(cpu_norm).epsilon(1e-5));
    std::vector<float> v = small.to_vector();
    v[3] = NAN;
    gpu_params[1].set_grad(eng::from_vector(v, {7}).to(Device::CUDA));
    CHECK(std::isnan(eng::nn::grad_norm({&gpu_params[0], &gpu_params[1]})));
}

TEST_CASE("cuda reduce: max and min with indices (ties and NaN as on the CPU)") {
    SKIP_WITHOUT_CUDA();
    using V = std::vector<Tensor>;
    Tensor x = randn({9, 300}, 22);
    for (int64_t dim : {0, 1}) {
        check_devices([dim](const V& v) { return eng::max(v[0], dim).values; }, {x});
        check_devices([dim](const V& v) { return eng::min(v[0], dim, true).values; }, {x});
        ValuesIndices a = eng::max(x.to(Device::CUDA), dim), b = eng::max(x, dim);
        CHECK(a.indices.is_cuda());
        CHECK(a.indices.to_ivector() == b.indices.to_ivector());
        ValuesIndices c = eng::min(x.to(Device::CUDA), dim), d = eng::min(x, dim);
        CHECK(c.indices.to_ivector() == d.indices.to_ivector());
    }
    check_devices([](const V& v) { return eng::max(v[0]); }, {x});
    // Ties: the first position wins; a NaN wins over everything (first NaN).
    std::vector<float> row(200, 1.0f);
    row[7] = 5.0f;
    row[150] = 5.0f;
    std::vector<float> vals = row;
    std::vector<float> nanrow(200, 0.0f);
    nanrow[120] = NAN;
    nanrow[190] = NAN;
    nanrow[3] = 9.0f;
    vals.insert(vals.end(), nanrow.begin(), nanrow.end());
    Tensor t = from_vector(vals, {2, 200});
    for (Device dev : {Device::CPU, Device::CUDA}) {
        ValuesIndices r = eng::max(t.to(dev), 1);
        CHECK(r.indices.to_ivector() == std::vector<int32_t>({7, 120}));
    }
    Tensor small = from_vector({2, 2, 1, NAN, 3, NAN}, {2, 3});  // short rows: thread per row
    CHECK(eng::max(small.to(Device::CUDA), 1).indices.to_ivector() == eng::max(small, 1).indices.to_ivector());
}

TEST_CASE("cuda matmul: every transpose combination, batch broadcasting, 1-D operands") {
    SKIP_WITHOUT_CUDA();
    using V = std::vector<Tensor>;
    cudatest::Tolerance tol{1e-4, 1e-4, 1e-4, 1e-4};
    Tensor a = randn({2, 3, 17, 33}, 23), b = randn({2, 3, 33, 9}, 24);
    check_devices([](const V& v) { return matmul(v[0], v[1]); }, {a, b}, tol);
    // transposed views of stored [.., K, M] and [.., N, K] matrices (no copies)
    Tensor at = randn({2, 3, 33, 17}, 25), bt = randn({2, 3, 9, 33}, 26);
    check_devices([](const V& v) { return matmul(transpose(v[0], -1, -2), v[1]); }, {at, b}, tol);
    check_devices([](const V& v) { return matmul(v[0], transpose(v[1], -1, -2)); }, {a, bt}, tol);
    check_devices([](const V& v) { return matmul(transpose(v[0], -1, -2), transpose(v[1], -1, -2)); }, {at, bt}, tol);
    // batch broadcasting: a shared right operand (stride 0) and [1, 3] x [2, 1]
    Tensor w = randn({33, 9}, 27);
    check_devices([](const V& v) { return matmul(v[0], v[1]); }, {a, w}, tol);
    Tensor p = randn({1, 3, 5, 4}, 28), q = randn({2, 1, 4, 6}, 29);
    check_devices([](const V& v) { return matmul(v[0], v[1]); }, {p, q}, tol);
    // 1-D operands
    Tensor vec = randn({33}, 30);
    check_devices([](const V& v) { return matmul(v[0], v[1]); }, {a, vec}, tol);
    check_devices([](const V& v) { return matmul(v[1], v[0]); }, {b, vec}, tol);
    // a larger single GEMM
    Tensor m1 = randn({300, 500}, 31), m2 = randn({500, 200}, 32);
    check_devices([](const V& v) { return matmul(v[0], v[1]); }, {m1, m2}, tol);
    // K = 0: zeros
    Tensor e1 = zeros({4, 0}, {DType::f32, Device::CUDA}), e2 = zeros({0, 3}, {DType::f32, Device::CUDA});
    CHECK(matmul(e1, e2).to_vector() == std::vector<float>(12, 0.0f));
}

TEST_CASE("cuda gemm: bf16 inputs with f32 accumulation, and the tf32/bf16 precision modes") {
    SKIP_WITHOUT_CUDA();
    const int64_t batch = 3, M = 40, N = 24, K = 70;
    Tensor a = randn({batch, M, K}, 33), b = randn({batch, N, K}, 34);  // B stored [N, K]: trans_b
    Tensor a16 = a.to(DType::bf16), b16 = b.to(DType::bf16);
    // Reference: the CPU f32 GEMM of the bf16-rounded values.
    Tensor ar = a16.to(DType::f32), br = b16.to(DType::f32);
    Tensor ref = zeros({batch, M, N});
    cpu::gemm_batched(false, true, batch, M, N, K, 1.0f, ar.data<float>(), K, M * K, br.data<float>(), K, N * K, 0.0f,
                      ref.data<float>(), N, M * N);
    Tensor a16g = a16.to(Device::CUDA), b16g = b16.to(Device::CUDA);
    Tensor out = zeros({batch, M, N}, {DType::f32, Device::CUDA});
    cuda::gemm_batched_bf16(false, true, batch, M, N, K, 1.0f, a16g.raw_data(), K, M * K, b16g.raw_data(), K, N * K,
                            0.0f, out.data<float>(), N, M * N);
    CHECK_CLOSE(out, ref, 1e-4, 1e-4);
    // TF32 on: still close (10-bit mantissa products), then off again gives f32 accuracy.
    Tensor x = randn({64, 128}, 35), y = randn({128, 32}, 36);
    Tensor exact = matmul(x, y);
    for (auto p : {cuda::MatmulPrecision::tf32, cuda::MatmulPrecision::bf16}) {
        cuda::set_matmul_precision(p);
        Tensor fast = matmul(x.to(Device::CUDA), y.to(Device::CUDA));
        // Operands rounded to 10 (tf32) or 7 (bf16) mantissa bits, K = 128 products summed in f32.
        CHECK_CLOSE(fast, exact, p == cuda::MatmulPrecision::tf32 ? 0.02 : 0.15, 0.01);
    }
    cuda::set_matmul_precision(cuda::MatmulPrecision::fp32);
    CHECK(cuda::matmul_precision() == cuda::MatmulPrecision::fp32);
    CHECK_CLOSE(matmul(x.to(Device::CUDA), y.to(Device::CUDA)), exact, 1e-4, 1e-4);
}

TEST_CASE("cuda gemm: in bf16 mode a large product runs on bf16 copies, rounded like Tensor::to(bf16)") {
    SKIP_WITHOUT_CUDA();
    // 2·M·N·K >= 1e9 takes the native bf16 path of cuda/gemm.cu: the operands
    // are rounded to nearest even, so the result is the f32 GEMM of the
    // rounded values up to the order of the f32 sums (a different rounding,
    // e.g. truncation, would miss by ~1e-2 relative).  Operands: A a strided
    // view (lda > K), B used transposed; then a batch with a shared B (stride 0).
    const int64_t M = 520, N = 1030, K = 1000;
    Tensor wide = randn({M, K + 24}, 37), bt = randn({N, K}, 38);
    Tensor a = narrow(wide, 1, 8, K);
    auto rounded = [](const Tensor& t) { return t.contiguous().to(DType::bf16).to(DType::f32); };
    Tensor ref = matmul(rounded(a), transpose(rounded(bt), 0, 1));
    Tensor batch = randn({2, 300, K}, 39), w = randn({K, 900}, 40);
    Tensor ref_batched = matmul(rounded(batch), rounded(w));
    Tensor out, out_batched, out_fast;
    {
        struct Restore {  // the rest of the suite runs in fp32 with the copies on, even if a product throws
            ~Restore() {
                cuda::set_bf16_copies(true);
                cuda::set_matmul_precision(cuda::MatmulPrecision::fp32);
            }
        } restore;
        cuda::set_matmul_precision(cuda::MatmulPrecision::bf16);
        out = matmul(narrow(wide.to(Device::CUDA), 1, 8, K), transpose(bt.to(Device::CUDA), 0, 1));
        out_batched = matmul(batch.to(Device::CUDA), w.to(Device::CUDA));
        // With the copies off, cuBLAS rounds the f32 operands itself: bf16 accuracy only.
        cuda::set_bf16_copies(false);
        out_fast = matmul(narrow(wide.to(Device::CUDA), 1, 8, K), transpose(bt.to(Device::CUDA), 0, 1));
    }
    CHECK_CLOSE(out, ref, 1e-3, 1e-4);
    CHECK_CLOSE(out_batched, ref_batched, 1e-3, 1e-4);
    CHECK_CLOSE(out_fast, ref, 0.5, 0.02);
}
