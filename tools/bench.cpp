// bench.cpp: the benchmark program, build/bench SUBCOMMAND [options].
//
//   bench gemm [--reps N]       our GEMM vs OpenBLAS sgemm on square and transformer
//     [--precision fp32|bf16]   shapes (--tokens: their rows, default 2088), plus
//     [--tokens N]              the measured FMA peak of the machine
//   bench op NAME|list|all      one op (or all) forward and backward at its
//     [--precision fp32|bf16]
//                               bench-cpu shape: ms and GB/s or GFLOP/s (bench_op.h)
//   bench step --config FILE    full MaMA training steps: per-phase times, GFLOP/s,
//                               peak memory, optional PyTorch comparison (bench_step.h;
//                               --device cuda: bench_step_gpu.h)
//   bench gpu                   GPU GEMM and fused attention vs their rooflines (bench_gpu.h)
//   bench openblas-core         the kernel set OpenBLAS picks here (bench_openblas.h;
//     [--name-only]             --name-only: just its name)
//
// OpenBLAS is loaded with dlopen at run time, for comparison only: it is never
// a build or link dependency, and `bench gemm` still reports our numbers when
// it is missing (bench_openblas.h: how it is given its best kernels).  Each
// timing is the median of several runs after a warm-up.
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
#include "tensor/precision.h"
#include "tools/bench_common.h"
#include "tools/cli_args.h"
#include "tools/bench_op.h"
#include "tools/bench_openblas.h"
#include "tools/bench_gpu.h"
#include "tools/bench_step.h"
#include "tools/bench_step_gpu.h"

namespace {

using bench::fma_peak_gflops;
using bench::median_time;
using bench::kNoTrans;
using bench::kRowMajor;
using bench::kTrans;

// Bounds of the options (tools/cli_args.h refuses anything outside them).
// --tokens: the largest shape holds tokens x (384 + 2 x 1536) floats, about
// 0.9 GB at 65536 rows (31 x the default); 10^12 asked for petabytes.
constexpr int64_t kMaxReps = 1000, kMaxTokens = 65536, kMaxOpBatch = 1024, kMaxSteps = 1000000;

// ---- bench gemm -----------------------------------------------------------------------------
struct Shape {
    const char* name;
    bool ta, tb;
    int64_t M, N, K, batch;
};

int bench_gemm(int argc, char** argv) {
    int reps = 7;
    int64_t t = 2088;  // tokens of the transformer shapes
    std::string precision = "fp32";
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--reps" && i + 1 < argc)
            reps = int(cli::parse_int(a, argv[++i], 1, kMaxReps));
        else if (a == "--precision" && i + 1 < argc)
            precision = argv[++i];
        else if (a == "--tokens" && i + 1 < argc)
            t = cli::parse_int(a, argv[++i], 1, kMaxTokens);
        else
            ENG_FAIL("bench gemm: unknown option '", a,
                     "'. HINT: bench gemm [--reps N] [--precision fp32|bf16] [--tokens N]");
    }
    eng::set_matmul_precision(eng::Device::CPU, precision);
    const int threads = omp_get_max_threads();
    std::printf("bench gemm: kernel %s, %d threads (OMP_NUM_THREADS), median of >= %d runs after a warm-up\n",
                eng::cpu::gemm_kernel_name(), threads, reps);
    if (precision == "bf16")
        std::printf("bf16 products: OpenBLAS stays fp32, max|diff| shows the rounding, %%peak is of the f32 FMA "
                    "peak%s\n", std::string(eng::cpu::gemm_kernel_name()) == "avx512-bf16"
                                     ? " (bf16 dot products can reach about twice it)" : "");
    const bench::OpenBlasChoice choice = bench::OpenBlasChoice::detect();
    std::printf("fair OpenBLAS comparison: %s build/bench gemm\n", choice.env(threads).c_str());
    const char* isa = "";
    const double peak = fma_peak_gflops(threads, &isa);
    std::printf("FMA peak (%s loop, %d threads): %.1f GFLOP/s\n", isa, threads, peak);
    const char* coretype = std::getenv("OPENBLAS_CORETYPE");
    if (!coretype && !choice.core.empty()) {
        choice.print_note();
        setenv("OPENBLAS_CORETYPE", choice.core.c_str(), 1);  // read by OpenBLAS when it is loaded below
    }
    bench::OpenBlas blas(threads);
    if (!blas.sgemm) std::printf("openblas: not found (%s)\n", blas.error.c_str());
    else std::printf("openblas: %s kernels\n", blas.core().c_str());
    if (blas.sgemm && coretype && choice.core != coretype)
        std::printf("note: OPENBLAS_CORETYPE=%s is set; OpenBLAS may be slowed (see the command above)\n", coretype);

    // Transformer shapes: width 384, t tokens (default 8 × 261 = 2088, half of
    // the bench-cpu step's 16 images; --tokens 4176 gives the step's, whose
    // operands no longer fit the caches), forward Y = X·W and backward
    // dX = dY·Wᵀ, dW = Xᵀ·dY; ViT-B (768, 1374 tokens); attention scores Q·Kᵀ
    // and P·V for 8 × 6 heads of 257 tokens.
    const std::vector<Shape> shapes = {
        {"square 256", false, false, 256, 256, 256, 1},
        {"square 512", false, false, 512, 512, 512, 1},
        {"square 1024", false, false, 1024, 1024, 1024, 1},
        {"square 2048", false, false, 2048, 2048, 2048, 1},
        {"qkv   X·W", false, false, t, 1152, 384, 1},
        {"proj  X·W", false, false, t, 384, 384, 1},
        {"fc1   X·W", false, false, t, 1536, 384, 1},
        {"fc2   X·W", false, false, t, 384, 1536, 1},
        {"qkv   dY·Wt", false, true, t, 384, 1152, 1},
        {"qkv   Xt·dY", true, false, 384, 1152, t, 1},
        {"proj  dY·Wt", false, true, t, 384, 384, 1},
        {"proj  Xt·dY", true, false, 384, 384, t, 1},
        {"fc1   dY·Wt", false, true, t, 384, 1536, 1},
        {"fc1   Xt·dY", true, false, 384, 1536, t, 1},
        {"fc2   dY·Wt", false, true, t, 1536, 384, 1},
        {"fc2   Xt·dY", true, false, 1536, 384, t, 1},
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

// bench op list | all | NAME... [--batch B] [--reps N] [--threads N]
int bench_op(int argc, char** argv) {
    std::vector<std::string> names;
    int64_t batch = 8;
    int reps = 7, threads = 0;
    std::string precision = "fp32";
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--precision" && i + 1 < argc)
            precision = argv[++i];
        else if (a == "--batch" && i + 1 < argc)
            batch = cli::parse_int(a, argv[++i], 2, kMaxOpBatch);  // batch statistics need 2
        else if (a == "--reps" && i + 1 < argc)
            reps = int(cli::parse_int(a, argv[++i], 1, kMaxReps));
        else if (a == "--threads" && i + 1 < argc)
            threads = cli::parse_threads(a, argv[++i]);
        else if (!a.empty() && a[0] != '-')
            names.push_back(a);
        else
            ENG_FAIL("bench op: unknown option '", a,
                     "'. HINT: bench op NAME|list|all [--batch B] [--reps N] [--threads N] [--precision fp32|bf16]");
    }
    const auto& ops = bench::op_registry();
    if (names.empty() || names[0] == "list") {
        std::printf("ops (bench op NAME, or all):\n");
        for (auto& e : ops) std::printf("  %-15s %s\n", e.name, e.what);
        return names.empty() ? 1 : 0;
    }
    std::vector<const bench::OpEntry*> run;
    for (auto& n : names) {
        bool found = false;
        for (auto& e : ops)
            if (n == "all" || n == e.name) run.push_back(&e), found = true;
        ENG_CHECK(found, "bench op: unknown op '", n, "'. HINT: bench op list");
    }
    const int nt = bench::setup_threads(threads);
    eng::set_matmul_precision(eng::Device::CPU, precision);
    std::printf("bench op: B = %ld, %d threads, %s matmuls, median of >= %d runs after a warm-up; load average %s\n",
                long(batch), nt, precision.c_str(), reps, bench::load_average().c_str());
    bench::print_op_header();
    for (auto* e : run) {
        bench::run_op_entry(*e, batch, reps);
        std::fflush(stdout);
    }
    return 0;
}

// bench step --config FILE [--steps N] [--warmup W] [--threads N] [--torch-ms X] [--compare-torch] [--profile]
int bench_step(int argc, char** argv) {
    bench::StepOptions o;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has = i + 1 < argc;
        if (a == "--config" && has)
            o.config = argv[++i];
        else if (a == "--steps" && has)
            o.steps = int(cli::parse_int(a, argv[++i], 1, kMaxSteps));
        else if (a == "--warmup" && has)
            o.warmup = int(cli::parse_int(a, argv[++i], 0, kMaxSteps));
        else if (a == "--threads" && has)
            o.threads = cli::parse_threads(a, argv[++i]);
        else if (a == "--torch-ms" && has)
            o.torch_ms = cli::parse_double(a, argv[++i], 0, INFINITY, true);
        else if (a == "--compare-torch")
            o.compare_torch = true;
        else if (a == "--device" && has)
            o.device = argv[++i];
        else if (a == "--precision" && has)
            o.precision = argv[++i];
        else if (a == "--attention" && has)
            o.attention = argv[++i], o.attention_given = true;
        else if (a == "--profile")
            o.profile = true;
        else
            ENG_FAIL("bench step: unknown option '", a, "'. HINT: bench step --config FILE [--steps N] [--warmup W] "
                     "[--threads N] [--torch-ms X] [--compare-torch] [--device cpu|cuda] [--precision auto|fp32|tf32|bf16|bf16-true] "
                     "[--attention gemm|fused|flash] [--profile]");
    }
    ENG_CHECK(o.device == "cpu" || o.device == "cuda", "bench step: --device must be cpu or cuda, got '", o.device, "'");
    ENG_CHECK(o.attention == "gemm" || o.attention == "fused" || o.attention == "flash",
              "bench step: --attention must be gemm, fused or flash, got '", o.attention, "'");
    // The attention choice is the GPU's: the CPU has one kernel (tiled, online
    // softmax).  The GPU default is harmless there and gets a note; another
    // choice would be silently ignored, so it is refused.
    if (o.device == "cpu" && o.attention_given) {
        ENG_CHECK(o.attention == "gemm", "bench step: --attention ", o.attention, " chooses a CUDA attention kernel "
                  "and applies only with --device cuda; the CPU has one attention kernel (tiled, with online softmax). "
                  "HINT: add --device cuda, or leave --attention out on the CPU");
        std::printf("note: --attention gemm (the GPU's default) has no effect on the CPU, whose attention has one "
                    "kernel (tiled, with online softmax)\n");
    }
    ENG_CHECK(!(o.profile && o.device == "cuda"), "bench step: --profile times the CPU's ops; on the GPU the ops return "
              "before their kernels finish. HINT: ENG_CUDA_PROFILE=1 build/bench step --device cuda");
    return o.device == "cuda" ? bench::run_step_gpu(o) : bench::run_step(o);
}

void usage() {
    std::printf(
        "usage: bench SUBCOMMAND [options]\n"
        "  gemm [--reps N]          GEMM GFLOP/s vs OpenBLAS (dlopen) and the FMA peak\n"
        "     [--precision fp32|bf16] [--tokens N (rows of the transformer shapes, default 2088)]\n"
        "  op list | all | NAME...  ops forward and backward at their bench-cpu shapes\n"
        "     [--batch B] [--reps N] [--threads N] [--precision fp32|bf16]\n"
        "  step --config FILE       full MaMA training steps (forward, backward, AdamW)\n"
        "     [--steps N] [--warmup W] [--threads N] [--torch-ms X] [--compare-torch]\n"
        "     [--device cpu|cuda] [--precision auto|fp32|tf32|bf16|bf16-true] [--attention gemm|fused|flash]\n"
        "     (auto: bf16 GEMMs on the GPU, fp32 on the CPU; --attention: the GPU's kernel, cuBLAS gemm by default;\n"
        "     ENG_CUDA_PROFILE=1: per-kernel times; CPU bf16 needs AVX512-BF16)\n"
        "     [--profile]            CPU: time per op and phase over the timed steps\n"
        "  gpu [--reps N]           GPU GEMM (fp32/tf32/bf16) and fused attention vs their rooflines\n"
        "  openblas-core            the kernel set OpenBLAS picks on this CPU (OPENBLAS_CORETYPE overrides it)\n"
        "     [--name-only]          print only its name\n");
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
        if (cmd == "op") return bench_op(argc - 2, argv + 2);
        if (cmd == "step") return bench_step(argc - 2, argv + 2);
        if (cmd == "openblas-core") {
            const bool name_only = argc == 3 && !std::strcmp(argv[2], "--name-only");
            ENG_CHECK(argc == 2 || name_only, "bench openblas-core: unknown option '", argv[2],
                      "'. HINT: bench openblas-core [--name-only]");
            return bench::print_openblas_core(name_only);
        }
        if (cmd == "gpu") {
            int reps = 10;
            for (int i = 2; i < argc; ++i)
                if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
                    reps = int(cli::parse_int("--reps", argv[i + 1], 1, kMaxReps));
                    ++i;
                } else ENG_FAIL("bench gpu: unknown option '", argv[i], "'. HINT: bench gpu [--reps N]");
            return bench::run_gpu_kernels(reps);
        }
        std::fprintf(stderr, "bench: unknown subcommand '%s'\n", cmd.c_str());
        usage();
        return 1;
    } catch (const std::exception& e) {  // eng::Error, and std::bad_alloc for sizes that do not fit
        std::fprintf(stderr, "%s\n", cli::error_line("bench", e).c_str());
        return 1;
    }
}
