// bench_step.h: `bench step --config FILE`: full MaMA training steps on a
// synthetic in-memory batch (header-only, included by tools/bench.cpp).
//
// Each step is what build/pretrain does per micro-batch once the late losses are
// on: forward with all four loss terms (both image views, the text tower with
// LoRA, the heads), backward, AdamW, zero_grad.  The batch is made once
// (random grayscale images with three identical channels, as mammograms
// arrive; random token ids with separator tokens so SLA has sentences), so no
// disk or loader time is measured.  Reported: per-phase and whole-step median
// and minimum wall times and CPU times over the timed steps, samples/s,
// GFLOP/s from the FLOP model of bench_flops.h and its fraction of the
// measured FMA peak, and the peak resident memory.  The last line,
// "result: key=value ...", is the same in tools/reference/bench_step_torch.py,
// which runs the same step in PyTorch; --compare-torch runs that script and
// prints the ratios.
#pragma once
#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "autograd/profile.h"
#include "mama/config.h"
#include "mama/model.h"
#include "nn/optim.h"
#include "tensor/precision.h"
#include "tensor/cpu/allocator.h"
#include "tools/bench_common.h"
#include "tools/bench_flops.h"
#include "tools/bench_openblas.h"

namespace bench {

struct StepOptions {
    std::string config = "mama/configs/bench-cpu.json";
    int steps = 10, warmup = 2, threads = 0;
    double torch_ms = 0;  // > 0: print our time as a ratio of this one
    bool compare_torch = false;
    std::string torch_script = "tools/reference/bench_step_torch.py";
    std::string device = "cpu";      // or "cuda" (tools/bench_step_gpu.h)
    std::string precision = "auto";  // auto (GPU bf16, CPU fp32) | fp32 | tf32 (GPU) | bf16 | bf16-true
    std::string attention = "gemm";  // GPU attention kernel: gemm | fused | flash (--device cuda only;
                                     // the CPU has one kernel, tiled with online softmax)
    bool attention_given = false;    // --attention was on the command line
    bool profile = false;            // CPU: the op table of autograd/profile.h over the timed steps
};

// Runs a shell command, echoes its output, and returns it; a failure is an error.
inline std::string run_command(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    ENG_CHECK(p, "bench: cannot run '", cmd, "'");
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int status = pclose(p);
    std::fputs(out.c_str(), stdout);
    ENG_CHECK(status == 0, "bench step --compare-torch: the PyTorch script failed (status ", status, ")");
    return out;
}

// The synthetic micro-batch.  Token ids: the top four ids of the vocabulary are
// the specials (pad V-1, separator V-2, bos V-3, eos V-4); a caption is bos,
// sentences of 8 + (3·i + m) mod 9 random words (sentence i of caption m) each
// closed by a separator, eos, then pads
// (caption m is 4·(m mod 4) tokens shorter than max_len).  *sentences receives
// the number of separators over the batch (ΣJ, for the FLOP model).
inline mama::MamaBatch make_synthetic_batch(int64_t B, int64_t image_size, int64_t T, int64_t vocab, uint64_t seed,
                                            int64_t* sentences) {
    ENG_CHECK(vocab > 16, "bench step: the text vocabulary (", vocab, ") is too small for synthetic captions");
    eng::Generator g(seed);
    mama::MamaBatch b;
    auto gray = [&](uint64_t s) {  // [B, 1, H, W] normal noise, repeated on 3 channels
        eng::Generator gi(s);
        eng::Tensor one = eng::randn({B, 1, image_size, image_size}, &gi);
        return eng::raw_expand(one, {B, 3, image_size, image_size}).contiguous();
    };
    b.images = gray(seed + 1);
    b.partner_images = gray(seed + 2);
    const int32_t pad = int32_t(vocab - 1), sep = int32_t(vocab - 2), bos = int32_t(vocab - 3), eos = int32_t(vocab - 4);
    std::vector<int32_t> ids(size_t(B * T), pad), mask(size_t(B * T), 0);
    int64_t total = 0;
    for (int64_t m = 0; m < B; ++m) {
        const int64_t len = std::max<int64_t>(T - 4 * (m % 4), std::min<int64_t>(T, 4));
        int32_t* row = ids.data() + m * T;
        int64_t t = 0, seps = 0;
        row[t++] = bos;
        while (t < len - 1) {
            const int64_t words = 8 + (3 * seps + m) % 9;  // 8..16, the same pattern as the PyTorch script
            for (int64_t w = 0; w < words && t < len - 2; ++w) row[t++] = int32_t(g.randint(0, vocab - 8));
            row[t++] = sep, ++seps;
        }
        if (t < len) row[t++] = eos;
        for (int64_t i = 0; i < t; ++i) mask[size_t(m * T + i)] = 1;
        ENG_CHECK(seps >= 2, "bench step: captions of ", T, " tokens hold fewer than 2 sentences. HINT: a larger train.max_len");
        total += seps;
    }
    b.input_ids = eng::from_ivector(ids, {B, T});
    b.attention_mask = eng::from_ivector(mask, {B, T});
    b.sep_token_id = sep;
    b.pad_token_id = pad;
    if (sentences) *sentences = total;
    return b;
}

// Parses the "result: k=v k=v" line of a step benchmark's output.
inline std::map<std::string, double> parse_result_line(const std::string& text) {
    std::map<std::string, double> r;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("result:", 0) != 0) continue;
        std::istringstream f(line.substr(7));
        std::string kv;
        while (f >> kv) {
            const size_t eq = kv.find('=');
            if (eq != std::string::npos) r[kv.substr(0, eq)] = std::atof(kv.c_str() + eq + 1);
        }
    }
    return r;
}

struct PhaseTimes {
    std::vector<double> wall, cpu;
};

inline void print_phase(const char* name, const PhaseTimes& p) {
    std::printf("  %-10s %10.1f %10.1f %10.1f\n", name, 1e3 * median_of(p.wall), 1e3 * min_of(p.wall), 1e3 * median_of(p.cpu));
}

// The op table of the timed steps (autograd/profile.h), per step: each phase's
// ops, the most expensive first, then what the phase spent outside any op.
// The busy column is CPU ms / (wall ms × threads): 100 % when every thread
// worked for the whole op (with OMP_WAIT_POLICY=PASSIVE; spinning threads
// would count as busy), 1 / threads for an op that runs on one thread.
inline void print_profile(const PhaseTimes& fwd, const PhaseTimes& bwd, int steps, int threads) {
    const std::vector<eng::profile::Row> rows = eng::profile::rows();
    double step_ms = 0;
    for (size_t i = 0; i < fwd.wall.size(); ++i) step_ms += 1e3 * (fwd.wall[i] + bwd.wall[i]) / steps;
    std::printf("op profile (--profile): ms per timed step, outermost ops only; share of forward + backward;\n"
                "  busy: CPU time / (wall time x %d threads)\n", threads);
    std::printf("  %-9s %-38s %8s %9s %7s %6s\n", "phase", "op", "calls", "ms", "share", "busy");
    for (auto phase : {eng::profile::Phase::Forward, eng::profile::Phase::Backward}) {
        const bool f = phase == eng::profile::Phase::Forward;
        double in_ops = 0, in_ops_cpu = 0, total = 0, total_cpu = 0;
        for (double w : (f ? fwd : bwd).wall) total += 1e3 * w / steps;
        for (double c : (f ? fwd : bwd).cpu) total_cpu += 1e3 * c / steps;
        for (const auto& r : rows) {
            if (r.phase != phase) continue;
            const double ms = 1e3 * r.seconds / steps, cpu_ms = 1e3 * r.cpu_seconds / steps;
            in_ops += ms;
            in_ops_cpu += cpu_ms;
            if (ms < 0.05 * total / 100) continue;  // rows under 0.05 % of the phase
            std::printf("  %-9s %-38s %8.1f %9.2f %6.1f%% %5.0f%%\n", f ? "forward" : "backward", r.name.c_str(),
                        double(r.calls) / steps, ms, 100 * ms / step_ms, 100 * cpu_ms / (ms * threads));
        }
        const double rest = total - in_ops, rest_cpu = total_cpu - in_ops_cpu;
        std::printf("  %-9s %-38s %8s %9.2f %6.1f%% %5.0f%%\n", f ? "forward" : "backward", "(outside the ops above)",
                    "", rest, 100 * rest / step_ms, rest > 0 ? 100 * rest_cpu / (rest * threads) : 0.0);
    }
}

inline int run_step(const StepOptions& o) {
    ENG_CHECK(o.steps >= 1 && o.warmup >= 0, "bench step: --steps must be >= 1 and --warmup >= 0");
    const int threads = setup_threads(o.threads);
    const std::string precision = eng::set_matmul_precision(eng::Device::CPU, o.precision);
    ENG_CHECK(!(o.compare_torch && eng::bf16_true()), "bench step: --compare-torch has no PyTorch run for "
              "bf16-true (it would run PyTorch in fp32). HINT: drop --compare-torch, or use --precision fp32 or bf16");
    mama::RunConfig rc = mama::load_run_config(o.config);
    mama::MamaConfig mc = rc.model;
    const int64_t B = rc.train.micro_batch, S = rc.train.image_size, T = rc.train.max_len, V = mc.text.vocab;
    const int64_t step = std::max<int64_t>(mc.schedule.late_start_step, 0);  // the late losses are on

    eng::manual_seed(rc.train.seed);
    eng::Generator init(rc.train.seed);
    mama::MamaModel model(mc, V, &init);
    if (eng::bf16_true()) model.round_to_bf16();  // as pretraining starts in bf16-true
    model.train();
    model.apply_schedule(step);
    eng::nn::AdamW opt({eng::nn::ParamGroup{model.parameters(), float(rc.train.lr), float(rc.train.weight_decay)}});
    StepShape shape;
    mama::MamaBatch batch = make_synthetic_batch(B, S, T, V, rc.train.seed + 7, &shape.sentences);
    shape.batch = B, shape.image_size = S, shape.text_len = T, shape.late = true;
    const FlopModel flops = count_step_flops(mc, shape);

    std::printf("bench step: %s; %ld samples (%ld images) of %ld px, %ld text tokens, %ld sentences; %d threads; "
                "%d timed steps after %d warm-up; %s matmuls\n",
                o.config.c_str(), long(B), long(2 * B), long(S), long(T), long(shape.sentences), threads, o.steps,
                o.warmup, precision.c_str());
    std::printf("model: %ld parameters, %ld trainable; load average %s\n", long(model.num_parameters()),
                long(model.num_parameters(true)), load_average().c_str());
    std::printf("FLOP model (matmul/attention products, see bench_flops.h): forward %.1f, backward %.1f, step %.1f GFLOP\n",
                flops.forward() * 1e-9, flops.backward() * 1e-9, flops.total() * 1e-9);
    for (auto& p : flops.parts)
        std::printf("  %-30s forward %7.2f  backward %7.2f GFLOP\n", p.name.c_str(), p.forward * 1e-9, p.backward * 1e-9);

    PhaseTimes fwd, bwd, upd, all;
    double first_loss = 0, last_loss = 0;
    eng::cpu::CpuMemoryStats alloc_before;  // the allocator's counters at the first timed step
    for (int i = 0; i < o.warmup + o.steps; ++i) {
        if (i == o.warmup) {
            alloc_before = eng::cpu::cpu_allocator().stats();
            eng::profile::reset();
            eng::profile::set_enabled(o.profile || eng::profile::enabled());
        }
        const double w0 = now_s(), c0 = eng::profile::process_cpu_seconds();
        mama::MamaLosses l = model.forward(batch, step);
        const double w1 = now_s(), c1 = eng::profile::process_cpu_seconds();
        eng::backward(l.total);
        const double w2 = now_s(), c2 = eng::profile::process_cpu_seconds();
        opt.step();
        opt.zero_grad();
        const double w3 = now_s(), c3 = eng::profile::process_cpu_seconds();
        const double loss = l.total.item();
        if (i == 0) first_loss = loss;
        last_loss = loss;
        if (i < o.warmup) continue;
        fwd.wall.push_back(w1 - w0), fwd.cpu.push_back(c1 - c0);
        bwd.wall.push_back(w2 - w1), bwd.cpu.push_back(c2 - c1);
        upd.wall.push_back(w3 - w2), upd.cpu.push_back(c3 - c2);
        all.wall.push_back(w3 - w0), all.cpu.push_back(c3 - c0);
    }
    const bool profiled = eng::profile::enabled();
    eng::profile::set_enabled(false);
    const eng::cpu::CpuMemoryStats alloc_after = eng::cpu::cpu_allocator().stats();
    const double rss = peak_rss_mib(), hwm = vm_hwm_mib();
    const char* isa = "";
    const double peak = fma_peak_gflops(threads, &isa), peak_cpu = fma_peak_cpu_gflops(threads);
    const double t_med = median_of(all.wall), c_med = median_of(all.cpu);
    const double gflops = flops.total() / t_med * 1e-9, gflops_cpu = flops.total() / c_med * 1e-9;

    std::printf("loss %.4f at the first step, %.4f at the last\n", first_loss, last_loss);
    std::printf("  %-10s %10s %10s %10s\n", "phase", "median ms", "min ms", "cpu ms");
    print_phase("forward", fwd);
    print_phase("backward", bwd);
    print_phase("optimizer", upd);
    print_phase("step", all);
    std::printf("throughput: %.2f samples/s (%.2f images/s)\n", double(B) / t_med, double(2 * B) / t_med);
    std::printf("FMA peak (%s, %d threads): %.1f GFLOP/s by wall time, %.1f by the threads' CPU time "
                "(%.1f per core)\n", isa, threads, peak, peak_cpu, peak_cpu / threads);
    std::printf("GFLOP/s: %.1f (wall median) = %.1f%% of the FMA peak; %.1f per CPU-second = %.1f%% of one "
                "core's peak\n",
                gflops, 100 * gflops / std::max(peak, peak_cpu), gflops_cpu, 100 * gflops_cpu / (peak_cpu / threads));
    std::printf("peak resident memory: %.1f MiB (ru_maxrss), %.1f MiB (VmHWM)\n", rss, hwm);
    // Misses are fresh blocks from the system: their pages fault on first write.
    const double requests = double(alloc_after.requests - alloc_before.requests) / o.steps;
    const double misses = requests - double(alloc_after.hits - alloc_before.hits) / o.steps;
    std::printf("tensor allocations per timed step: %.0f, %.1f of them fresh from the system (cache misses); "
                "cached %.0f MiB, in-use peak %.0f MiB\n",
                requests, misses, alloc_after.cached / 1048576.0, alloc_after.peak / 1048576.0);
    if (profiled) print_profile(fwd, bwd, o.steps, threads);
    std::printf("load average after: %s\n", load_average().c_str());
    std::printf("result: step_ms=%.1f step_min_ms=%.1f forward_ms=%.1f backward_ms=%.1f optimizer_ms=%.1f cpu_ms=%.1f "
                "gflop=%.2f peak_rss_mib=%.1f threads=%d\n",
                1e3 * t_med, 1e3 * min_of(all.wall), 1e3 * median_of(fwd.wall), 1e3 * median_of(bwd.wall),
                1e3 * median_of(upd.wall), 1e3 * c_med, flops.total() * 1e-9, rss, threads);

    double torch_ms = o.torch_ms, torch_cpu_ms = 0, torch_rss = 0;
    if (o.compare_torch) {
        ENG_CHECK(access(o.torch_script.c_str(), R_OK) == 0, "bench step --compare-torch: cannot read ",
                  o.torch_script, ". HINT: run from the repository root");
        // PyTorch in its best setting (issue 7): OpenBLAS's best kernels here
        // (bench_openblas.h), passive OpenMP waiting, one thread per core we
        // use, and its own AVX-512 elementwise kernels where the CPU has them.
        const OpenBlasChoice choice = OpenBlasChoice::detect();
        const std::string cmd = choice.env(threads) + torch_cpu_capability() + " OMP_NUM_THREADS=" +
                                std::to_string(threads) + " /usr/bin/python3 " + shell_quote(o.torch_script) +
                                " --config " + shell_quote(o.config) + " --steps " + std::to_string(o.steps) + " --warmup " +
                                std::to_string(o.warmup) + " --threads " + std::to_string(threads) +
                                (precision == "bf16" ? " --bf16" : "") + " 2>&1";
        std::printf("\n");
        choice.print_note();
        std::printf("$ %s\n", cmd.c_str());
        std::fflush(stdout);
        const std::string out = run_command(cmd);
        auto r = parse_result_line(out);
        ENG_CHECK(r.count("step_ms"), "bench step --compare-torch: no 'result:' line in the script's output");
        torch_ms = r["step_ms"], torch_cpu_ms = r.count("cpu_ms") ? r["cpu_ms"] : 0, torch_rss = r["peak_rss_mib"];
    }
    if (torch_ms > 0) {
        std::printf("\nratio ours/PyTorch: step time %.3f (%.1f / %.1f ms, target <= 0.5)", 1e3 * t_med / torch_ms,
                    1e3 * t_med, torch_ms);
        if (torch_cpu_ms > 0) std::printf("; CPU time %.3f", 1e3 * c_med / torch_cpu_ms);
        if (torch_rss > 0) std::printf("; peak memory %.3f (%.0f / %.0f MiB, target <= 1)", rss / torch_rss, rss, torch_rss);
        std::printf("\n");
    }
    return 0;
}

}  // namespace bench
