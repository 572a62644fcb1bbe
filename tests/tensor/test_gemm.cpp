// test_gemm.cpp: the CPU GEMM against a plain triple loop with double
// accumulation: every transpose combination, odd sizes, padded leading
// dimensions, alpha/beta cases (beta = 0 over NaN), K = 0, batched with
// broadcast strides, thread-count independence, every micro-kernel the CPU
// can run, and bf16 precision (against the same loop on bf16-rounded operands).
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tensor/check.h"
#include "tensor/cuda_backend.h"
#include "tensor/dtype.h"
#include "tensor/precision.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/cpu/gemm_pack.h"

namespace {

// Small deterministic values in [-1, 1) (a linear congruential sequence),
// so the test needs nothing but the code under test.
std::vector<float> filled(size_t n, uint32_t seed) {
    std::vector<float> v(n);
    uint32_t s = seed * 2654435761u + 12345u;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = float(s >> 8) / float(1 << 23) - 1.0f;
    }
    return v;
}

// When set, the reference rounds every operand to bf16 first (the bf16
// precision tests): bf16 products are exact in f32, so the same error bound
// applies, and a kernel that truncated instead of rounding would fail it.
bool g_reference_bf16 = false;

double operand(float x) { return g_reference_bf16 ? double(eng::bf16_to_f32(eng::f32_to_bf16(x))) : double(x); }

struct Case {
    bool ta, tb;
    int64_t M, N, K;
    int64_t pad_a = 0, pad_b = 0, pad_c = 0;  // extra leading-dimension elements
    float alpha = 1.0f, beta = 0.0f;
};

// Runs gemm on one case and compares every element of C (and the padding
// between rows, which must stay untouched) with the double-precision loop.
// Tolerance: 4·K·eps·Σ_k|a||b| (the forward error bound of a dot product),
// plus eps·|beta·c| for the old C term.
void check_case(const Case& c) {
    CAPTURE(c.ta);
    CAPTURE(c.tb);
    CAPTURE(c.M);
    CAPTURE(c.N);
    CAPTURE(c.K);
    CAPTURE(c.alpha);
    CAPTURE(c.beta);
    const int64_t rows_a = c.ta ? c.K : c.M, cols_a = c.ta ? c.M : c.K;
    const int64_t rows_b = c.tb ? c.N : c.K, cols_b = c.tb ? c.K : c.N;
    const int64_t lda = cols_a + c.pad_a, ldb = cols_b + c.pad_b, ldc = c.N + c.pad_c;
    const std::vector<float> A = filled(size_t(std::max<int64_t>(1, rows_a * lda)), 1);
    const std::vector<float> B = filled(size_t(std::max<int64_t>(1, rows_b * ldb)), 2);
    std::vector<float> C = filled(size_t(std::max<int64_t>(1, c.M * ldc)), 3);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    if (c.beta == 0.0f)  // old C must be ignored entirely, NaN included
        for (int64_t i = 0; i < c.M; ++i)
            for (int64_t j = 0; j < c.N; ++j) C[size_t(i * ldc + j)] = nan;
    const std::vector<float> C0 = C;
    eng::cpu::gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);

    const double eps = std::numeric_limits<float>::epsilon();
    int64_t bad = 0;
    for (int64_t i = 0; i < c.M; ++i) {
        for (int64_t j = 0; j < ldc; ++j) {
            const float got = C[size_t(i * ldc + j)];
            if (j >= c.N) {  // padding
                if (!(got == C0[size_t(i * ldc + j)])) ++bad;
                continue;
            }
            double sum = 0, mag = 0;
            for (int64_t k = 0; k < c.K; ++k) {
                const double a = operand(A[size_t(c.ta ? k * lda + i : i * lda + k)]);
                const double b = operand(B[size_t(c.tb ? j * ldb + k : k * ldb + j)]);
                sum += a * b;
                mag += std::fabs(a * b);
            }
            const double old = c.beta == 0.0f ? 0.0 : double(c.beta) * C0[size_t(i * ldc + j)];
            const double want = double(c.alpha) * sum + old;
            const double tol = 4.0 * double(c.K + 2) * eps * std::fabs(c.alpha) * mag + 2 * eps * std::fabs(old) + 1e-30;
            if (!(std::fabs(double(got) - want) <= tol)) {
                if (bad < 3) MESSAGE("C[", i, ",", j, "] = ", got, ", want ", want, " (tol ", tol, ")");
                ++bad;
            }
        }
    }
    CHECK(bad == 0);
}

// A sweep over transposes, odd sizes (around the register blocks of every
// kernel), padded strides and alpha/beta; K up to 300 crosses no K block,
// the large case below does.
void sweep() {
    const int64_t sizes[] = {1, 7, 17, 33};
    for (int t = 0; t < 4; ++t)
        for (int64_t M : sizes)
            for (int64_t N : sizes)
                for (int64_t K : {int64_t(1), int64_t(13), int64_t(40)})
                    check_case({t & 1 ? true : false, t & 2 ? true : false, M, N, K, (M + K) % 3, (N + 1) % 4,
                                (M * N) % 5, 1.0f, 0.0f});
    for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        check_case({ta, tb, 129, 65, 300, 3, 0, 7, 0.5f, 0.0f});
        check_case({ta, tb, 31, 97, 129, 0, 5, 0, -1.5f, 1.0f});
        check_case({ta, tb, 50, 40, 77, 1, 1, 1, 2.0f, -0.75f});
        check_case({ta, tb, 12, 32, 8, 0, 0, 0, 1.0f, 0.5f});  // exactly one AVX-512 tile
    }
}

}  // namespace

TEST_CASE("gemm: all transposes, odd sizes, strides, alpha and beta (active kernel)") {
    eng::cpu::gemm_force_kernel("auto");
    sweep();
}

TEST_CASE("gemm: every micro-kernel this CPU supports matches the reference") {
    int tested = 0;
    for (const char* name : {"scalar", "avx2", "avx512"}) {
        if (!eng::cpu::gemm_kernel_supported(name)) {
            MESSAGE("kernel ", name, " not supported by this CPU: skipped");
            continue;
        }
        CAPTURE(std::string(name));
        eng::cpu::gemm_force_kernel(name);
        CHECK(std::string(eng::cpu::gemm_kernel_name()) == name);
        sweep();
        eng::cpu::gemm_force_packed_a(true);  // the sweep again with A always packed
        sweep();
        eng::cpu::gemm_force_packed_a(false);
        // Every partial-tile height, with narrow (<= 16) and wide last column blocks.
        for (int64_t m = 1; m <= 13; ++m) {
            check_case({false, false, m, m, 9, 0, 0, 0, 1.0f, 0.0f});
            check_case({true, true, m, 16 + m, 9, 0, 0, 1, 1.0f, 2.0f});
        }
        // Several K blocks (K above twice the largest KC, 2048) and several M/N blocks.
        check_case({false, true, 70, 45, 4200, 0, 0, 0, 1.0f, 0.5f});
        check_case({true, false, 45, 70, 4200, 2, 0, 3, -1.0f, 0.0f});
        ++tested;
    }
    eng::cpu::gemm_force_kernel("auto");
    CHECK(tested >= 2);  // scalar always, plus at least AVX2 on the x86-64-v3 baseline
    CHECK_THROWS_AS(eng::cpu::gemm_force_kernel("sse9"), eng::Error);
}

// Sets bf16 precision for one test and restores fp32 (also when a check throws).
struct Bf16Scope {
    Bf16Scope() {
        eng::cpu::set_gemm_precision(eng::cpu::GemmPrecision::bf16);
        g_reference_bf16 = true;
    }
    ~Bf16Scope() {
        eng::cpu::set_gemm_precision(eng::cpu::GemmPrecision::fp32);
        g_reference_bf16 = false;
    }
};

// Restores the automatic kernel, A packing and thread count after a test
// (also when a check throws).
struct KernelScope {
    const int threads = omp_get_max_threads();
    ~KernelScope() {
        eng::cpu::gemm_force_kernel("auto");
        eng::cpu::gemm_force_packed_a(false);
        omp_set_num_threads(threads);
    }
};

TEST_CASE("gemm: op(A) read in place gives the bits of the packed A, and both match the loop") {
    // A row-major A is read where it lies, and so is a transposed one in
    // products with at most two column panels (gemm.cpp); forcing the packed
    // path must not change one bit.  Edge rows (M % 12 and M % 6), narrow and
    // wide column edges, several K blocks (also with edge rows), strides,
    // alpha, beta and the fused bias.  One thread, so that which path runs
    // depends only on the shape: the in-place counter checks that it did.
    struct Shape {
        int64_t M, N, K, pad;
        float alpha, beta;
    };
    const Shape shapes[] = {{261, 64, 261, 11, 1.0f, 1.0f}, {13, 17, 9, 0, 1.0f, 0.0f},   {5, 1, 33, 7, -0.5f, 2.0f},
                            {24, 45, 4200, 3, 0.25f, 0.5f},   {1, 64, 1, 0, 1.0f, 0.0f}, {36, 32, 64, 1088, 1.0f, 0.0f},
                            {261, 261, 64, 0, 0.125f, 0.0f},  {30, 100, 70, 5, 1.0f, 0.5f},
                            {29, 45, 4200, 3, 1.0f, 1.0f}};
    KernelScope scope;
    omp_set_num_threads(1);
    int64_t kernels = 0;
    for (const char* kernel : {"avx2", "avx512"}) {
        if (!eng::cpu::gemm_kernel_supported(kernel)) continue;
        ++kernels;
        eng::cpu::gemm_force_kernel(kernel);
        const bool strided_form = std::string(kernel) == "avx512";  // the AVX2 kernel packs a transposed A
        CAPTURE(std::string(kernel));
        for (bool ta : {false, true})
            for (const Shape& s : shapes) {
                CAPTURE(ta);
                CAPTURE(s.M);
                CAPTURE(s.N);
                CAPTURE(s.K);
                const int64_t lda = (ta ? s.M : s.K) + s.pad, rows_a = ta ? s.K : s.M;
                const std::vector<float> A = filled(size_t(rows_a * lda), 11), B = filled(size_t(s.K * s.N), 12),
                                         C0 = filled(size_t(s.M * s.N), 13), bias = filled(size_t(s.N), 14);
                auto run = [&](bool packed, bool with_bias) {
                    eng::cpu::gemm_force_packed_a(packed);
                    const int64_t before = eng::cpu::gemm_in_place_products();
                    std::vector<float> C = C0;
                    if (with_bias)
                        eng::cpu::gemm_bias(ta, false, s.M, s.N, s.K, s.alpha, A.data(), lda, B.data(), s.N,
                                            bias.data(), C.data(), s.N);
                    else
                        eng::cpu::gemm(ta, false, s.M, s.N, s.K, s.alpha, A.data(), lda, B.data(), s.N, s.beta,
                                       C.data(), s.N);
                    const bool in_place = eng::cpu::gemm_in_place_products() > before;
                    CHECK(in_place == (!packed && (!ta || (strided_form && s.N <= 64))));
                    eng::cpu::gemm_force_packed_a(false);
                    return C;
                };
                for (bool with_bias : {false, true}) {
                    CAPTURE(with_bias);
                    const std::vector<float> in_place = run(false, with_bias), packed = run(true, with_bias);
                    int64_t differ = 0;
                    for (size_t i = 0; i < in_place.size(); ++i)
                        differ += eng::f32_bits(in_place[i]) != eng::f32_bits(packed[i]);
                    CHECK(differ == 0);
                }
                check_case({ta, false, s.M, s.N, s.K, s.pad, 0, 0, s.alpha, s.beta});  // against the double loop
            }
    }
    CHECK(kernels >= 1);  // AVX2 is the project's baseline
}

TEST_CASE("gemm: bf16 precision matches the loop on bf16-rounded operands") {
    if (!eng::cpu::gemm_bf16_supported()) {
        MESSAGE("this CPU has no AVX512-BF16: bf16 GEMM skipped");
        CHECK_THROWS_AS(eng::cpu::set_gemm_precision(eng::cpu::GemmPrecision::bf16), eng::Error);
        return;
    }
    Bf16Scope bf16;
    // Both routes, whichever this CPU's vendor picks: the dot-product kernel
    // and the f32 kernel on rounded panels.
    for (const char* route : {"dot", "fma"}) {
        CAPTURE(std::string(route));
        eng::cpu::gemm_force_bf16_route(route);
        const std::string want = std::string(route) == "dot" ? "avx512-bf16" : "avx512-bf16-fma";
        CHECK(std::string(eng::cpu::gemm_kernel_name()) == want);
        sweep();  // odd K leaves a half-empty last pair; all transposes and strides
        for (int64_t m = 1; m <= 13; ++m) {
            check_case({false, false, m, m, 9, 0, 0, 0, 1.0f, 0.0f});
            check_case({true, true, m, 16 + m, 9, 0, 0, 1, 1.0f, 2.0f});
        }
        for (int t = 0; t < 4; ++t) {  // several K blocks (K > 2 × the largest KC, 2048), both conversions' tails
            check_case({bool(t & 1), bool(t & 2), 70, 45, 4201, 1, 2, 0, 1.0f, 0.5f});
            check_case({bool(t & 1), bool(t & 2), 45, 70, 4200, 2, 0, 3, -1.0f, 0.0f});
        }
    }
    eng::cpu::gemm_force_bf16_route("auto");
    CHECK_THROWS_AS(eng::cpu::gemm_force_bf16_route("tf32"), eng::Error);
}

TEST_CASE("gemm: the bf16 routes multiply the same rounded operands (exact sums agree bit for bit)") {
    if (!eng::cpu::gemm_bf16_supported()) {
        MESSAGE("this CPU has no AVX512-BF16: bf16 routes skipped");
        return;
    }
    // Operands that are small integers (A) and multiples of 0.25 (B), times
    // 1 + noise below half a bf16 step (2^-8 relative), round to exactly those
    // values; their products and sums are then exact in f32 in any order, so
    // both routes must give the bits of the exact reference.  A route that
    // skipped the rounding would keep the noise and fail.
    const int64_t M = 29, N = 37, K = 301;
    std::vector<float> A(size_t(M * K)), B(size_t(K * N));
    for (int64_t i = 0; i < M * K; ++i) A[size_t(i)] = float(i % 7 - 3) * (1.0f + 1e-3f * float(i % 2));
    for (int64_t i = 0; i < K * N; ++i) B[size_t(i)] = float(i % 5 - 2) * 0.25f * (1.0f - 5e-4f * float(i % 3));
    std::vector<float> want(size_t(M * N), 0.0f);
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            double acc = 0;
            for (int64_t k = 0; k < K; ++k)
                acc += double(float(((i * K + k) % 7) - 3)) * double(float(((k * N + j) % 5) - 2) * 0.25f);
            want[size_t(i * N + j)] = float(acc);
        }
    Bf16Scope bf16;
    for (const char* route : {"dot", "fma"}) {
        CAPTURE(std::string(route));
        eng::cpu::gemm_force_bf16_route(route);
        std::vector<float> C(size_t(M * N), -1.0f);
        eng::cpu::gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
        CHECK(C == want);
    }
    eng::cpu::gemm_force_bf16_route("auto");
}

TEST_CASE("gemm packing: bf16 panels hold each pair of k rounded to bf16, zero past the data (both layouts)") {
    if (!eng::cpu::gemm_bf16_supported()) {
        MESSAGE("this CPU has no AVX512-BF16: bf16 packing skipped");
        return;
    }
    // The slot of (lane, pair p): bf16(x[2p]) | bf16(x[2p + 1]) << 16, the high
    // half zero when 2p + 1 = kc, the whole slot zero for a lane past the data.
    auto slot = [](const std::vector<float>& x, auto at, int64_t lane, int64_t lanes, int64_t p, int64_t kc) {
        if (lane >= lanes) return uint32_t(0);
        const uint32_t lo = eng::f32_to_bf16(x[size_t(at(2 * p, lane))]).bits;
        const uint32_t hi = 2 * p + 1 < kc ? eng::f32_to_bf16(x[size_t(at(2 * p + 1, lane))]).bits : 0u;
        return lo | hi << 16;
    };
    for (int width : {12, 32})
        for (int64_t kc : {1, 2, 7, 16, 17, 34})
            for (int64_t lanes : {1, 5, 12, 16, 17, 33, 47, 48, 50, 64, 100}) {
                CAPTURE(width);
                CAPTURE(kc);
                CAPTURE(lanes);
                const int64_t kc2 = (kc + 1) / 2, panels = (lanes + width - 1) / width, ld = lanes + 3;
                // Lanes contiguous for each k: element (k, lane) at k·ld + lane.
                std::vector<float> rows = filled(size_t(kc * ld), uint32_t(lanes * 7 + kc));
                std::vector<uint32_t> got(size_t(panels * width * kc2), 0xDEADBEEFu);
                eng::cpu::pack_block_rows_bf16(rows.data(), ld, lanes, width, kc, reinterpret_cast<float*>(got.data()));
                auto at_rows = [ld](int64_t k, int64_t lane) { return k * ld + lane; };
                int64_t wrong = 0;
                for (int64_t q = 0; q < panels; ++q)
                    for (int64_t p = 0; p < kc2; ++p)
                        for (int64_t l = 0; l < width; ++l)
                            wrong += got[size_t((q * kc2 + p) * width + l)] !=
                                     slot(rows, at_rows, q * width + l, lanes, p, kc);
                CHECK_MESSAGE(wrong == 0, wrong << " slots of pack_block_rows_bf16 differ");
                if (lanes > width) continue;
                // Each lane a run over k: element (k, lane) at lane·ldk + k, one panel.
                const int64_t ldk = kc + 2;
                std::vector<float> cols = filled(size_t(lanes * ldk), uint32_t(lanes * 5 + kc));
                std::vector<uint32_t> got1(size_t(width * kc2), 0xDEADBEEFu);
                eng::cpu::pack_panel_cols_bf16(cols.data(), ldk, int(lanes), width, kc,
                                               reinterpret_cast<float*>(got1.data()));
                auto at_cols = [ldk](int64_t k, int64_t lane) { return lane * ldk + k; };
                wrong = 0;
                for (int64_t p = 0; p < kc2; ++p)
                    for (int64_t l = 0; l < width; ++l)
                        wrong += got1[size_t(p * width + l)] != slot(cols, at_cols, l, lanes, p, kc);
                CHECK_MESSAGE(wrong == 0, wrong << " slots of pack_panel_cols_bf16 differ");
            }
}

TEST_CASE("gemm packing: f32 panels rounded to bf16 (the FMA route) hold round_to_bf16 of each value (both layouts)") {
    // Random values plus the awkward ones: ties (even and odd kept half, and
    // a negative one), a value that rounds up into the next binade, the
    // largest finite float (rounds to infinity), infinities, a subnormal, a
    // NaN whose payload sits in the low half only (must stay NaN) and a
    // negative NaN; every one must match round_to_bf16 bit for bit.
    const float specials[] = {eng::f32_from_bits(0x3f808000u), eng::f32_from_bits(0x3f818000u),
                              eng::f32_from_bits(0xbf818000u), eng::f32_from_bits(0x3fffffffu),
                              std::numeric_limits<float>::max(), std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(), eng::f32_from_bits(0x00018000u),
                              eng::f32_from_bits(0x7f800001u), eng::f32_from_bits(0xffc00000u)};
    auto same = [](float got, float x) { return eng::f32_bits(got) == eng::f32_bits(eng::round_to_bf16(x)); };
    for (int width : {12, 32})
        for (int64_t kc : {1, 7, 8, 17})
            for (int64_t lanes : {1, 5, 12, 17, 33}) {
                CAPTURE(width);
                CAPTURE(kc);
                CAPTURE(lanes);
                const int64_t panels = (lanes + width - 1) / width, ld = lanes + 3;
                std::vector<float> rows = filled(size_t(kc * ld), uint32_t(lanes * 3 + kc));
                for (size_t i = 0; i < rows.size(); i += 5) rows[i] = specials[(i / 5) % 10];
                std::vector<float> got(size_t(panels * width * kc), -7.0f);
                eng::cpu::pack_block_rows(rows.data(), ld, lanes, width, kc, got.data(), true);
                int64_t wrong = 0;
                for (int64_t q = 0; q < panels; ++q)
                    for (int64_t k = 0; k < kc; ++k)
                        for (int64_t l = 0; l < width; ++l) {
                            const int64_t lane = q * width + l;
                            const float g = got[size_t((q * kc + k) * width + l)];
                            wrong += lane < lanes ? !same(g, rows[size_t(k * ld + lane)]) : g != 0.0f;
                        }
                CHECK_MESSAGE(wrong == 0, wrong << " values of pack_block_rows(round_bf16) differ");
                if (lanes > width) continue;
                const int64_t ldk = kc + 2;
                std::vector<float> cols = filled(size_t(lanes * ldk), uint32_t(lanes * 11 + kc));
                for (size_t i = 0; i < cols.size(); i += 3) cols[i] = specials[(i / 3) % 10];
                std::vector<float> got1(size_t(width * kc), -7.0f);
                eng::cpu::pack_panel_cols(cols.data(), ldk, int(lanes), width, kc, got1.data(), true);
                wrong = 0;
                for (int64_t k = 0; k < kc; ++k)
                    for (int64_t l = 0; l < width; ++l) {
                        const float g = got1[size_t(k * width + l)];
                        wrong += l < lanes ? !same(g, cols[size_t(l * ldk + k)]) : g != 0.0f;
                    }
                CHECK_MESSAGE(wrong == 0, wrong << " values of pack_panel_cols(round_bf16) differ");
            }
}

TEST_CASE("matmul precision names: what each device can run, and what auto means") {
    using eng::Device;
    CHECK(eng::resolve_matmul_precision(Device::CPU, "auto") == "fp32");
    if (eng::gpu_has_bf16(eng::cuda::compute_capability()))  // no GPU here, or one with bf16 tensor cores
        CHECK(eng::resolve_matmul_precision(Device::CUDA, "auto") == "bf16");
    CHECK(eng::matmul_precision_available(Device::CPU, "auto"));
    CHECK(eng::matmul_precision_available(Device::CPU, "fp32"));
    CHECK_FALSE(eng::matmul_precision_available(Device::CPU, "tf32"));
    CHECK(eng::matmul_precision_available(Device::CPU, "bf16") == eng::cpu::gemm_bf16_supported());
    CHECK(eng::matmul_precision_available(Device::CUDA, "tf32"));
    CHECK_THROWS_AS(eng::matmul_precision_available(Device::CPU, "fp8"), eng::Error);
    CHECK_THROWS_AS(eng::set_matmul_precision(Device::CPU, "tf32"), eng::Error);
    CHECK(eng::cpu::gemm_precision() == eng::cpu::GemmPrecision::fp32);  // a refused switch changes nothing
}

TEST_CASE("GPU precision by compute capability: auto is fp32 before Ampere, bf16-true's products too") {
    // (major·10 + minor; 0 = unknown, as without a GPU)
    CHECK(eng::resolve_gpu_precision("auto", 90) == "bf16");
    CHECK(eng::resolve_gpu_precision("auto", 80) == "bf16");
    CHECK(eng::resolve_gpu_precision("auto", 0) == "bf16");
    CHECK(eng::resolve_gpu_precision("auto", 75) == "fp32");  // T4: no bf16 tensor cores
    CHECK(eng::resolve_gpu_precision("bf16", 75) == "bf16");  // asked for: passed on
    CHECK(eng::resolve_gpu_precision("tf32", 70) == "tf32");
    CHECK(eng::resolve_gpu_precision("bf16-true", 75) == "bf16-true");
    CHECK(eng::gpu_products_precision("bf16-true", 90) == "bf16");
    CHECK(eng::gpu_products_precision("bf16-true", 75) == "fp32");
    CHECK(eng::gpu_products_precision("auto", 75) == "fp32");
    CHECK(eng::gpu_products_precision("auto", 86) == "bf16");
    CHECK(eng::gpu_products_precision("fp32", 90) == "fp32");
    CHECK_THROWS_AS(eng::resolve_gpu_precision("fp16", 90), eng::Error);
}

TEST_CASE("GPU architecture check: a GPU older than the build's kernels is named with the rebuild command") {
    CHECK(eng::cuda::arch_mismatch(90, 90, "NVIDIA H200").empty());
    CHECK(eng::cuda::arch_mismatch(100, 90, "NVIDIA B200").empty());  // the PTX is compiled by the driver
    CHECK(eng::cuda::arch_mismatch(0, 90, "?").empty());              // unknown: not refused
    CHECK(eng::cuda::arch_mismatch(75, 0, "?").empty());              // no arch recorded
    const std::string why = eng::cuda::arch_mismatch(80, 90, "NVIDIA A100-SXM4-80GB");
    CHECK(why.find("NVIDIA A100-SXM4-80GB is sm_80") != std::string::npos);
    CHECK(why.find("compute capability 8.0") != std::string::npos);
    CHECK(why.find("this build's sm_90") != std::string::npos);
    CHECK(why.find("make clean && make GPU_ARCH=80") != std::string::npos);
    CHECK(eng::cuda::arch_mismatch(86, 89, "RTX 3090").find("compute capability 8.6") != std::string::npos);
    // The Makefile passes GPU_ARCH to the CUDA code (0 in a build without it).
    if (eng::cuda::built_with_cuda()) CHECK(eng::cuda::built_gpu_arch() >= 50);
    else CHECK(eng::cuda::built_gpu_arch() == 0);
}

TEST_CASE("gemm: bf16 precision differs from fp32 by the operand rounding only") {
    // The same product in both precisions: bf16 must not be fp32 in disguise
    // (a difference of the size of bf16 rounding shows up) nor anything worse.
    if (!eng::cpu::gemm_bf16_supported()) return;
    const int64_t M = 40, N = 48, K = 64;
    const std::vector<float> A = filled(size_t(M * K), 12), B = filled(size_t(K * N), 13);
    std::vector<float> C32(size_t(M * N)), C16(size_t(M * N));
    eng::cpu::gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C32.data(), N);
    {
        Bf16Scope bf16;
        eng::cpu::gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C16.data(), N);
    }
    double worst = 0, scale = 0;
    for (size_t i = 0; i < C32.size(); ++i) worst = std::max(worst, double(std::fabs(C32[i] - C16[i])));
    for (float a : A) scale = std::max(scale, double(std::fabs(a)));
    CHECK(worst > 1e-4);          // bf16 rounding (2^-9 relative per operand) is visible
    CHECK(worst < 0.05 * scale);  // ... and nothing larger than it
}

TEST_CASE("gemm: bf16 results are bitwise independent of the thread count") {
    if (!eng::cpu::gemm_bf16_supported()) return;
    Bf16Scope bf16;
    const int64_t M = 203, N = 171, K = 701;
    const std::vector<float> A = filled(size_t(K * M), 14), B = filled(size_t(K * N), 15);
    const int saved = omp_get_max_threads();
    std::vector<float> ref;
    for (int threads : {1, 2, 3}) {
        omp_set_num_threads(threads);
        std::vector<float> C = filled(size_t(M * N), 16);
        eng::cpu::gemm(true, false, M, N, K, 0.75f, A.data(), M, B.data(), N, 0.25f, C.data(), N);
        if (ref.empty())
            ref = C;
        else
            CHECK(C == ref);
    }
    omp_set_num_threads(saved);
}

// gemm_bias against filling C with the bias and accumulating (beta = 1), bit
// for bit, and against the double loop; odd sizes for partial tiles (whose
// bias the driver pads), K across several blocks, and K = 0 (C = bias).
void check_bias_case(bool ta, bool tb, int64_t M, int64_t N, int64_t K) {
    CAPTURE(ta);
    CAPTURE(tb);
    CAPTURE(M);
    CAPTURE(N);
    CAPTURE(K);
    const int64_t lda = ta ? M : K, ldb = tb ? K : N;
    const std::vector<float> A = filled(size_t(std::max<int64_t>(1, M * K)), 21),
                             B = filled(size_t(std::max<int64_t>(1, K * N)), 22), bias = filled(size_t(N), 23);
    std::vector<float> got(size_t(M * N), std::numeric_limits<float>::quiet_NaN()), want(size_t(M * N));
    eng::cpu::gemm_bias(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, bias.data(), got.data(), N);
    for (int64_t i = 0; i < M; ++i) std::copy(bias.begin(), bias.end(), want.begin() + i * N);
    eng::cpu::gemm(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 1.0f, want.data(), N);
    CHECK(got == want);
    int64_t bad = 0;
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            double s = 0, mag = 0;
            for (int64_t k = 0; k < K; ++k) {
                const double p = operand(A[size_t(ta ? k * lda + i : i * lda + k)]) *
                                 operand(B[size_t(tb ? j * ldb + k : k * ldb + j)]);
                s += p;
                mag += std::fabs(p);
            }
            const double w = 0.5 * s + bias[size_t(j)], eps = std::numeric_limits<float>::epsilon();
            if (!(std::fabs(got[size_t(i * N + j)] - w) <= 4.0 * double(K + 2) * eps * (mag + std::fabs(w)))) ++bad;
        }
    CHECK(bad == 0);
}

void bias_sweep() {
    for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        check_bias_case(ta, tb, 13, 37, 20);    // partial tiles in both directions
        check_bias_case(ta, tb, 50, 70, 4200);  // several K blocks (KC <= 2048): only the first adds the bias
        check_bias_case(ta, tb, 7, 5, 0);       // K = 0: C = bias
    }
}

TEST_CASE("gemm: the fused bias equals filling C with it and accumulating (every kernel, bf16)") {
    for (const char* name : {"scalar", "avx2", "avx512"}) {
        if (!eng::cpu::gemm_kernel_supported(name)) continue;
        CAPTURE(std::string(name));
        eng::cpu::gemm_force_kernel(name);
        bias_sweep();
    }
    eng::cpu::gemm_force_kernel("auto");
    if (eng::cpu::gemm_bf16_supported()) {
        Bf16Scope bf16;
        bias_sweep();
    }
    std::vector<float> C(4);
    CHECK_THROWS_AS(eng::cpu::gemm_bias(false, false, 2, 2, 1, 1.0f, C.data(), 1, C.data(), 2, nullptr, C.data(), 2),
                    eng::Error);
}

TEST_CASE("gemm: empty sizes, K = 0 and alpha = 0 scale C by beta") {
    std::vector<float> C = {1, 2, 3, 4, 5, 6};
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> A = {nan, nan, nan, nan};
    eng::cpu::gemm(false, false, 2, 3, 0, 1.0f, nullptr, 0, nullptr, 3, 2.0f, C.data(), 3);
    CHECK(C == std::vector<float>({2, 4, 6, 8, 10, 12}));
    // alpha = 0: A and B are not read (NaN there must not reach C).
    eng::cpu::gemm(false, false, 2, 3, 1, 0.0f, A.data(), 1, A.data(), 3, 0.5f, C.data(), 3);
    CHECK(C == std::vector<float>({1, 2, 3, 4, 5, 6}));
    std::vector<float> D(6, nan);
    eng::cpu::gemm(true, true, 2, 3, 0, 1.0f, nullptr, 2, nullptr, 0, 0.0f, D.data(), 3);
    CHECK(D == std::vector<float>(6, 0.0f));
    eng::cpu::gemm(false, false, 0, 3, 5, 1.0f, nullptr, 5, nullptr, 3, 0.0f, nullptr, 3);  // nothing to do
    eng::cpu::gemm(false, false, 3, 0, 5, 1.0f, nullptr, 5, nullptr, 0, 0.0f, nullptr, 0);
}

TEST_CASE("gemm: bad arguments throw eng::Error") {
    std::vector<float> X(64, 1.0f);
    CHECK_THROWS_AS(eng::cpu::gemm(false, false, -1, 2, 2, 1, X.data(), 2, X.data(), 2, 0, X.data(), 2), eng::Error);
    CHECK_THROWS_AS(eng::cpu::gemm(false, false, 2, 2, 3, 1, X.data(), 2, X.data(), 2, 0, X.data(), 2), eng::Error);
    CHECK_THROWS_AS(eng::cpu::gemm(true, false, 3, 2, 2, 1, X.data(), 2, X.data(), 2, 0, X.data(), 2), eng::Error);
    CHECK_THROWS_AS(eng::cpu::gemm(false, true, 2, 3, 2, 1, X.data(), 2, X.data(), 1, 0, X.data(), 3), eng::Error);
    CHECK_THROWS_AS(eng::cpu::gemm(false, false, 2, 3, 2, 1, X.data(), 2, X.data(), 3, 0, X.data(), 2), eng::Error);
    CHECK_THROWS_AS(eng::cpu::gemm_batched(false, false, -2, 2, 2, 2, 1, X.data(), 2, 4, X.data(), 2, 4, 0,
                                           X.data(), 2, 4),
                    eng::Error);
}

TEST_CASE("gemm: results are bitwise independent of the thread count") {
    // Several tiles and blocks; K = 700 is several K blocks for the AVX2
    // kernel, K = 4500 for every kernel.  With A transposed (second product)
    // the rectangles of 3-4 threads are narrow enough to read A in place
    // while one thread packs it: the bits must not change either way.
    const int saved = omp_get_max_threads();
    for (const bool ta : {false, true})
        for (const int64_t K : {int64_t(700), int64_t(4500)}) {
            CAPTURE(ta);
            CAPTURE(K);
            const int64_t M = 203, N = 171;
            const std::vector<float> A = filled(size_t(M * K), 4), B = filled(size_t(N * K), 5);
            std::vector<float> ref;
            for (int threads : {1, 2, 3, 4}) {
                omp_set_num_threads(threads);
                std::vector<float> C = filled(size_t(M * N), 6);
                eng::cpu::gemm(ta, true, M, N, K, 0.75f, A.data(), ta ? M : K, B.data(), K, 0.25f, C.data(), N);
                if (ref.empty())
                    ref = C;
                else
                    CHECK(C == ref);
            }
        }
    omp_set_num_threads(saved);
}

TEST_CASE("gemm: batched with strides, broadcast (stride 0) and accumulation into a shared C") {
    const int64_t batch = 5, M = 19, N = 23, K = 11, lda = 13, ldb = 23, ldc = 25;
    const int64_t sa = M * lda + 3, sb = 0, sc = M * ldc + 1;  // B broadcast to every entry
    const std::vector<float> A = filled(size_t(batch * sa), 7), B = filled(size_t(K * ldb), 8);
    std::vector<float> C = filled(size_t(batch * sc), 9);
    const std::vector<float> C0 = C;
    eng::cpu::gemm_batched(false, false, batch, M, N, K, 1.5f, A.data(), lda, sa, B.data(), ldb, sb, 0.5f, C.data(),
                           ldc, sc);
    std::vector<float> E = C0;
    for (int64_t b = 0; b < batch; ++b)
        eng::cpu::gemm(false, false, M, N, K, 1.5f, A.data() + b * sa, lda, B.data(), ldb, 0.5f, E.data() + b * sc, ldc);
    CHECK(C == E);  // the same per-element arithmetic, whatever the batch scheduling
    // ... and that per-matrix product against the double loop:
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
                double s = 0;
                for (int64_t k = 0; k < K; ++k) s += double(A[size_t(b * sa + i * lda + k)]) * B[size_t(k * ldb + j)];
                const double want = 1.5 * s + 0.5 * C0[size_t(b * sc + i * ldc + j)];
                REQUIRE(std::fabs(C[size_t(b * sc + i * ldc + j)] - want) <= 1e-5 * (1 + std::fabs(want)));
            }

    // stride_c = 0 with beta = 1: the entries accumulate into one C, in order.
    std::vector<float> S(size_t(M * ldc), 0.0f);
    eng::cpu::gemm_batched(false, false, batch, M, N, K, 1.0f, A.data(), lda, sa, B.data(), ldb, 0, 1.0f, S.data(),
                           ldc, 0);
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t b = 0; b < batch; ++b)
                for (int64_t k = 0; k < K; ++k) s += double(A[size_t(b * sa + i * lda + k)]) * B[size_t(k * ldb + j)];
            REQUIRE(std::fabs(S[size_t(i * ldc + j)] - s) <= 1e-5 * (1 + std::fabs(s)));
        }
}

TEST_CASE("gemm: many small batched products (attention shapes) match single calls") {
    const int64_t batch = 12, T = 37, D = 16;  // Q·Kᵀ per head
    const std::vector<float> Q = filled(size_t(batch * T * D), 10), Kt = filled(size_t(batch * T * D), 11);
    std::vector<float> S(size_t(batch * T * T), std::numeric_limits<float>::quiet_NaN()), E(S.size());
    eng::cpu::gemm_batched(false, true, batch, T, T, D, 0.25f, Q.data(), D, T * D, Kt.data(), D, T * D, 0.0f, S.data(),
                           T, T * T);
    for (int64_t b = 0; b < batch; ++b)
        eng::cpu::gemm(false, true, T, T, D, 0.25f, Q.data() + b * T * D, D, Kt.data() + b * T * D, D, 0.0f,
                       E.data() + b * T * T, T);
    CHECK(S == E);
    for (int64_t b = 0; b < batch; b += 5)
        for (int64_t i = 0; i < T; ++i)
            for (int64_t j = 0; j < T; ++j) {
                double s = 0;
                for (int64_t k = 0; k < D; ++k)
                    s += double(Q[size_t(b * T * D + i * D + k)]) * Kt[size_t(b * T * D + j * D + k)];
                REQUIRE(std::fabs(S[size_t(b * T * T + i * T + j)] - 0.25 * s) <= 1e-5);
            }
}
