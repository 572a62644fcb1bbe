// bench.cpp: the benchmark program, build/bench SUBCOMMAND [options].
//
//   bench gemm [--reps N]       our GEMM vs OpenBLAS sgemm on square and transformer
//                               shapes, plus the measured FMA peak of the machine
//   bench op NAME               (not implemented yet)
//   bench step --config FILE    (not implemented yet)
//
// OpenBLAS is loaded with dlopen at run time, for comparison only: it is never
// a build or link dependency, and `bench gemm` still reports our numbers when
// it is missing.  Each timing is the median of several runs after a warm-up.
#include <dlfcn.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tensor/check.h"
#include "tensor/cpu/gemm.h"

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median wall time of fn() over `reps` runs after a warm-up; adds runs (up to
// 4×) while the total is under 0.3 s so that short shapes are not noisy.
double median_time(const std::function<void()>& fn, int reps) {
    fn();
    std::vector<double> t;
    double total = 0;
    while (int(t.size()) < reps || (total < 0.3 && int(t.size()) < 4 * reps)) {
        const double t0 = now_s();
        fn();
        t.push_back(now_s() - t0);
        total += t.back();
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// ---- FMA peak: independent FMA chains on every thread ---------------------------------
// 12 accumulators cover the FMA latency × throughput of current cores.  The
// result is kept alive through a volatile sink so the loop cannot be removed.
__attribute__((target("avx512f"))) double fma_loop_avx512(int64_t iters) {
    __m512 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i));
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    __m512 s = acc[0];
    for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
    alignas(64) float v[16];
    _mm512_store_ps(v, s);
    return v[0] + v[15];
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(int64_t iters) {
    __m256 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i));
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    alignas(32) float v[8];
    __m256 s = acc[0];
    for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
    _mm256_store_ps(v, s);
    return v[0] + v[7];
}

// GFLOP/s of the FMA loop on all threads (widest vectors the CPU has): the
// best of several short runs, since a peak is what the hardware can reach.
double fma_peak_gflops(int threads, const char** isa) {
    const bool avx512 = __builtin_cpu_supports("avx512f");
    *isa = avx512 ? "avx512" : "avx2";
    const int width = avx512 ? 16 : 8;
    const int64_t iters = 10'000'000;
    volatile double sink = 0;
    auto run = [&] {
#pragma omp parallel num_threads(threads)
        {
            const double r = avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
#pragma omp atomic
            sink += r;
        }
    };
    run();
    double t = 1e30;
    for (int r = 0; r < 7; ++r) {
        const double t0 = now_s();
        run();
        t = std::min(t, now_s() - t0);
    }
    return double(threads) * double(iters) * 12 * width * 2 / t * 1e-9;
}

// ---- OpenBLAS through dlopen ------------------------------------------------------------
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using SetThreadsFn = void (*)(int);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;  // CBLAS enum values

struct OpenBlas {
    SgemmFn sgemm = nullptr;
    std::string error;
    explicit OpenBlas(int threads) {
        void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            error = dlerror();
            return;
        }
        sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
        if (auto set = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"))) set(threads);
        if (!sgemm) error = "cblas_sgemm missing";
    }
};

// ---- bench gemm -----------------------------------------------------------------------------
struct Shape {
    const char* name;
    bool ta, tb;
    int64_t M, N, K, batch;
};

int bench_gemm(int argc, char** argv) {
    int reps = 7;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--reps" && i + 1 < argc)
            reps = std::max(1, std::atoi(argv[++i]));
        else
            ENG_FAIL("bench gemm: unknown option '", a, "'. HINT: bench gemm [--reps N]");
    }
    const int threads = omp_get_max_threads();
    std::printf("bench gemm: kernel %s, %d threads (OMP_NUM_THREADS), median of >= %d runs after a warm-up\n",
                eng::cpu::gemm_kernel_name(), threads, reps);
    std::printf("fair OpenBLAS comparison: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE "
                "OPENBLAS_NUM_THREADS=%d build/bench gemm\n", threads);
    const char* isa = "";
    const double peak = fma_peak_gflops(threads, &isa);
    std::printf("FMA peak (%s loop, %d threads): %.1f GFLOP/s\n", isa, threads, peak);
    OpenBlas blas(threads);
    if (!blas.sgemm) std::printf("openblas: not found (%s)\n", blas.error.c_str());
    const char* coretype = std::getenv("OPENBLAS_CORETYPE");
    if (blas.sgemm && coretype)
        std::printf("note: OPENBLAS_CORETYPE=%s is set; OpenBLAS may be slowed (see the command above)\n", coretype);

    // Transformer shapes: width 384, 8 × 261 = 2088 tokens (the bench-cpu preset),
    // forward Y = X·W and backward dX = dY·Wᵀ, dW = Xᵀ·dY; ViT-B (768, 1374 tokens);
    // attention scores Q·Kᵀ and P·V for 8 × 6 heads of 257 tokens.
    const std::vector<Shape> shapes = {
        {"square 256", false, false, 256, 256, 256, 1},
        {"square 512", false, false, 512, 512, 512, 1},
        {"square 1024", false, false, 1024, 1024, 1024, 1},
        {"square 2048", false, false, 2048, 2048, 2048, 1},
        {"qkv   X·W", false, false, 2088, 1152, 384, 1},
        {"proj  X·W", false, false, 2088, 384, 384, 1},
        {"fc1   X·W", false, false, 2088, 1536, 384, 1},
        {"fc2   X·W", false, false, 2088, 384, 1536, 1},
        {"qkv   dY·Wt", false, true, 2088, 384, 1152, 1},
        {"qkv   Xt·dY", true, false, 384, 1152, 2088, 1},
        {"proj  dY·Wt", false, true, 2088, 384, 384, 1},
        {"proj  Xt·dY", true, false, 384, 384, 2088, 1},
        {"fc1   dY·Wt", false, true, 2088, 384, 1536, 1},
        {"fc1   Xt·dY", true, false, 384, 1536, 2088, 1},
        {"fc2   dY·Wt", false, true, 2088, 1536, 384, 1},
        {"fc2   Xt·dY", true, false, 1536, 384, 2088, 1},
        {"vitb  qkv X·W", false, false, 1374, 2304, 768, 1},
        {"attn  Q·Kt x48", false, true, 257, 257, 64, 48},
        {"attn  P·V x48", false, false, 257, 64, 257, 48},
    };
    std::printf("\n%-16s %5s %5s %5s %4s | %9s %9s %6s | %6s %9s\n", "shape", "M", "N", "K", "op", "ours", "openblas",
                "ratio", "%peak", "max|diff|");
    double log_ratio = 0, min_ratio = 1e30;  // over the transformer (non-square, non-attention) shapes
    int n_tf = 0;
    for (const Shape& s : shapes) {
        const int64_t rows_a = s.ta ? s.K : s.M, cols_a = s.ta ? s.M : s.K;
        const int64_t rows_b = s.tb ? s.N : s.K, cols_b = s.tb ? s.K : s.N;
        std::vector<float> A(size_t(s.batch * rows_a * cols_a)), B(size_t(s.batch * rows_b * cols_b));
        std::vector<float> C(size_t(s.batch * s.M * s.N)), R(C.size());
        for (size_t i = 0; i < A.size(); ++i) A[i] = float(int64_t(i * 7919 % 1000)) / 1000.0f - 0.5f;
        for (size_t i = 0; i < B.size(); ++i) B[i] = float(int64_t(i * 104729 % 997)) / 997.0f - 0.5f;
        const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K) * double(s.batch);
        auto ours = [&] {
            eng::cpu::gemm_batched(s.ta, s.tb, s.batch, s.M, s.N, s.K, 1.0f, A.data(), cols_a, rows_a * cols_a,
                                   B.data(), cols_b, rows_b * cols_b, 0.0f, C.data(), s.N, s.M * s.N);
        };
        std::function<void()> theirs;
        if (blas.sgemm)
            theirs = [&] {
                for (int64_t b = 0; b < s.batch; ++b)
                    blas.sgemm(kRowMajor, s.ta ? kTrans : kNoTrans, s.tb ? kTrans : kNoTrans, int(s.M), int(s.N),
                               int(s.K), 1.0f, A.data() + b * rows_a * cols_a, int(cols_a),
                               B.data() + b * rows_b * cols_b, int(cols_b), 0.0f, R.data() + b * s.M * s.N,
                               int(s.N));
            };
        // Ours first, then OpenBLAS, then a pause: OpenBLAS's worker threads
        // busy-wait for a while after each call and would steal our cores.
        const double g_ours = flops / median_time(ours, reps) * 1e-9;
        std::printf("%-16s %5ld %5ld %5ld %2s%2s | %9.1f ", s.name, long(s.M), long(s.N), long(s.K),
                    s.ta ? "T" : "N", s.tb ? "T" : "N", g_ours);
        if (blas.sgemm) {
            const double g_blas = flops / median_time(theirs, reps) * 1e-9;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            double diff = 0;
            for (size_t i = 0; i < C.size(); ++i) diff = std::max(diff, double(std::fabs(C[i] - R[i])));
            std::printf("%9.1f %6.2f | %5.1f%% %9.2e\n", g_blas, g_ours / g_blas, 100 * g_ours / peak, diff);
            if (std::strncmp(s.name, "square", 6) && std::strncmp(s.name, "attn", 4)) {
                log_ratio += std::log(g_ours / g_blas);
                min_ratio = std::min(min_ratio, g_ours / g_blas);
                ++n_tf;
            }
        } else {
            std::printf("%9s %6s | %5.1f%% %9s\n", "-", "-", 100 * g_ours / peak, "-");
        }
    }
    if (n_tf)
        std::printf("\nours/openblas over the %d transformer shapes: geometric mean %.2f, min %.2f\n", n_tf,
                    std::exp(log_ratio / n_tf), min_ratio);
    return 0;
}

int not_implemented(const char* what) {
    std::printf("bench %s: not implemented yet\n", what);
    return 2;
}

void usage() {
    std::printf(
        "usage: bench SUBCOMMAND [options]\n"
        "  gemm [--reps N]          GEMM GFLOP/s vs OpenBLAS (dlopen) and the FMA peak\n"
        "  op NAME                  one operator (not implemented yet)\n"
        "  step --config FILE       one full training step (not implemented yet)\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
        usage();
        return argc < 2 ? 1 : 0;
    }
    const std::string cmd = argv[1];
    try {
        if (cmd == "gemm") return bench_gemm(argc - 2, argv + 2);
        if (cmd == "op") return not_implemented("op");
        if (cmd == "step") return not_implemented("step");
        std::fprintf(stderr, "bench: unknown subcommand '%s'\n", cmd.c_str());
        usage();
        return 1;
    } catch (const eng::Error& e) {
        std::fprintf(stderr, "bench: %s\n", e.what());
        return 1;
    }
}
