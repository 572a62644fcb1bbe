// bench_common.h: shared pieces of build/bench (header-only, included by
// tools/bench.cpp): wall and process-CPU clocks, median/min of samples, peak
// resident memory, and the measured FMA peak of the machine.
//
// Why CPU time as well as wall time: the development machines are shared, and a
// loaded machine stretches wall time while the CPU seconds a step consumes stay
// close to what an idle machine would need (when idle OpenMP threads sleep
// soon instead of burning CPU: OMP_WAIT_POLICY=PASSIVE, or the Makefile's short
// GOMP_SPINCOUNT).
#pragma once
#include <immintrin.h>
#include <omp.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "autograd/profile.h"

namespace bench {

inline double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median (upper median for an even count) and minimum of a sample; 0 when empty.
inline double median_of(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}
inline double min_of(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); }

// Median wall time of fn() over `reps` runs after a warm-up; adds runs (up to
// 4×) while the total is under 0.3 s so that short operations are not noisy.
inline double median_time(const std::function<void()>& fn, int reps) {
    fn();
    std::vector<double> t;
    double total = 0;
    while (int(t.size()) < reps || (total < 0.3 && int(t.size()) < 4 * reps)) {
        const double t0 = now_s();
        fn();
        t.push_back(now_s() - t0);
        total += t.back();
    }
    return median_of(t);
}

// Wall and process-CPU seconds of repeated runs.
struct Samples {
    std::vector<double> wall, cpu;
    void add(double w, double c) { wall.push_back(w), cpu.push_back(c); }
};

// Times fn() `reps` times after a warm-up, adding runs (up to 4×) while the
// total is under 0.3 s.  `before`, when given, runs untimed before each call.
inline Samples time_runs(const std::function<void()>& fn, int reps, const std::function<void()>& before = nullptr) {
    if (before) before();
    fn();
    Samples s;
    double total = 0;
    while (int(s.wall.size()) < reps || (total < 0.3 && int(s.wall.size()) < 4 * reps)) {
        if (before) before();
        const double w0 = now_s(), c0 = eng::profile::process_cpu_seconds();
        fn();
        s.add(now_s() - w0, eng::profile::process_cpu_seconds() - c0);
        total += s.wall.back();
    }
    return s;
}

// Peak resident memory in MiB: getrusage's ru_maxrss (KiB on Linux) and the
// kernel's VmHWM from /proc/self/status (-1 when unreadable).  They normally
// agree; both are process-lifetime peaks.
inline double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}
inline double vm_hwm_mib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
    return -1.0;
}

inline std::string load_average() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    f >> a >> b >> c;
    return f ? a + " " + b + " " + c : std::string("unknown");
}

// ---- FMA peak: independent FMA chains on every thread ---------------------------------
// 12 accumulators cover the FMA latency × throughput of current cores.  The
// result is kept alive through a volatile sink so the loop cannot be removed.
__attribute__((target("avx512f"))) inline double fma_loop_avx512(int64_t iters) {
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

__attribute__((target("avx2,fma"))) inline double fma_loop_avx2(int64_t iters) {
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

// GFLOP/s of the FMA loop on `threads` threads (widest vectors the CPU has):
// the best of several short runs, since a peak is what the hardware can reach.
inline double fma_peak_gflops(int threads, const char** isa) {
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

// The same FMA loop timed by each thread's own CPU time: what the cores reach
// while they run, even when other processes take turns on them (a loaded
// machine stretches the wall time of the loop above, not its CPU time).
inline double fma_peak_cpu_gflops(int threads) {
    const bool avx512 = __builtin_cpu_supports("avx512f");
    const int width = avx512 ? 16 : 8;
    const int64_t iters = 10'000'000;
    volatile double sink = 0;
    double best = 0;
    for (int r = 0; r < 5; ++r) {
        double sum = 0;
#pragma omp parallel num_threads(threads)
        {
            timespec a{}, b{};
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
            const double x = avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
            const double t = double(b.tv_sec - a.tv_sec) + 1e-9 * double(b.tv_nsec - a.tv_nsec);
            const double g = double(iters) * 12 * width * 2 / t * 1e-9;
#pragma omp critical
            sum += g, sink += x;
        }
        best = std::max(best, sum);
    }
    return best;
}

// One word of a /bin/sh command line, whatever the characters: s inside single
// quotes, each ' written as '\'' (close, an escaped quote, reopen).  Paths with
// spaces, ';' or '$' then reach the program as they are, never the shell.
inline std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// Applies --threads N (0 = leave OpenMP's default) and warns when idle OpenMP
// threads would spin for milliseconds, libgomp's default (that inflates the
// CPU time and steals cores from other processes).
inline int setup_threads(int threads) {
    if (threads > 0) omp_set_num_threads(threads);
    if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT"))
        std::printf("note: neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, so idle OpenMP threads spin for "
                    "milliseconds; run with GOMP_SPINCOUNT=1000 (as the Makefile does) or OMP_WAIT_POLICY=PASSIVE "
                    "for CPU-time figures that mean something\n");
    return omp_get_max_threads();
}

}  // namespace bench
