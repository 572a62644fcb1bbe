// bench_openblas.h: OpenBLAS for comparison only (header-only, included by
// tools/bench.cpp): loading it with dlopen, and the environment that gives it,
// and PyTorch (whose CPU matmuls call it), its best kernels on this CPU.
//
// OpenBLAS picks its kernels from the CPU model when it is loaded.  The
// comparisons normally leave that choice to it (OPENBLAS_CORETYPE unset: the
// development machines set it to an AVX2 core, which halves its speed).  But a
// release does not know CPU models newer than itself: Debian's 0.3.21 takes an
// Emerald Rapids Xeon (family 6, model 207) for "Prescott" and runs SSE3
// kernels at a third of its AVX-512 speed, which would flatter our figures.
// So bench asks a child process which core OpenBLAS picks with the variable
// unset (`bench openblas-core`), and when that core lacks the vector
// instructions this CPU has, names a core that has them.
#pragma once
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace bench {

using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using SetThreadsFn = void (*)(int);
using CorenameFn = char* (*)();
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;  // CBLAS enum values

struct OpenBlas {
    SgemmFn sgemm = nullptr;
    CorenameFn corename = nullptr;
    std::string error;
    explicit OpenBlas(int threads) {
        void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            error = dlerror();
            return;
        }
        sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
        corename = reinterpret_cast<CorenameFn>(dlsym(h, "openblas_get_corename"));
        if (threads > 0)
            if (auto set = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"))) set(threads);
        if (!sgemm) error = "cblas_sgemm missing";
    }
    std::string core() const { return corename ? corename() : "unknown"; }
};

// `bench openblas-core`: prints the core OpenBLAS picks in this process
// ("none" when it cannot be loaded).
inline int print_openblas_core() {
    OpenBlas blas(0);
    std::printf("%s\n", blas.sgemm ? blas.core().c_str() : "none");
    return 0;
}

// The core OpenBLAS picks on its own, asked of a child process (a loaded
// OpenBLAS keeps its choice, so this process cannot ask itself first).
inline std::string openblas_own_core() {
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return "unknown";
    exe[n] = '\0';
    const std::string cmd = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE '" + std::string(exe) + "' openblas-core";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return "unknown";
    char buf[128] = {0};
    std::string out = fgets(buf, sizeof buf, p) ? buf : "";
    pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out.empty() ? "unknown" : out;
}

// The OPENBLAS_CORETYPE that gives OpenBLAS its best kernels here: empty when
// its own choice (`own`) already uses AVX2 or AVX-512, else an AVX-512 core
// (SkylakeX) on a CPU with AVX-512F, an AVX2 core (Haswell) on one with
// AVX2 and FMA.
inline std::string best_openblas_core(const std::string& own) {
    static const char* kVectorCores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"};
    if (own == "none" || own == "unknown") return "";
    for (const char* c : kVectorCores)
        if (own == c) return "";
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return "";
}

// The fair comparison setting: OpenBLAS's own core, and the core to ask for
// instead (empty: keep OpenBLAS's choice).
struct OpenBlasChoice {
    std::string own, core;
    OpenBlasChoice() : own(openblas_own_core()), core(best_openblas_core(own)) {}

    // The `env ...` prefix of a command line for `threads` threads: the core
    // above, passive OpenMP waiting, one OpenBLAS thread per core we use.
    std::string env(int threads) const {
        return "env -u OPENBLAS_L2_SIZE " +
               (core.empty() ? std::string("-u OPENBLAS_CORETYPE") : "OPENBLAS_CORETYPE=" + core) +
               " OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=" + std::to_string(threads);
    }
    // Says why the core was overridden (nothing when it was not).
    void print_note() const {
        if (core.empty()) return;
        std::printf("note: OpenBLAS does not recognise this CPU and would run its %s kernels; the comparison sets "
                    "OPENBLAS_CORETYPE=%s (its %s kernels)\n",
                    own.c_str(), core.c_str(), core == "SkylakeX" ? "AVX-512" : "AVX2");
    }
};

}  // namespace bench
