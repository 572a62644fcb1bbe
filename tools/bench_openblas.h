// bench_openblas.h: OpenBLAS for comparison only (header-only, included by
// tools/bench.cpp and tools/bench_step.h): loading it with dlopen, and the
// environment that gives it, and PyTorch (whose CPU matmuls call it), its best
// kernels on this CPU.
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
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

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

// The core OpenBLAS picks on its own, asked of a child process (a loaded
// OpenBLAS keeps its choice, so this process cannot ask itself first): this
// program run as `bench openblas-core --name-only` with OPENBLAS_CORETYPE and
// OPENBLAS_L2_SIZE removed from its environment and one OpenBLAS thread.
// fork + execve, no shell: between the two the child only makes
// async-signal-safe calls, as a process with threads must.
inline std::string openblas_own_core() {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "OPENBLAS_CORETYPE=", 18) && std::strncmp(*e, "OPENBLAS_L2_SIZE=", 17) &&
            std::strncmp(*e, "OPENBLAS_NUM_THREADS=", 21))
            env_strings.push_back(*e);
    env_strings.push_back("OPENBLAS_NUM_THREADS=1");
    std::vector<char*> envp;
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    char arg0[] = "bench", arg1[] = "openblas-core", arg2[] = "--name-only";
    char* argv[] = {arg0, arg1, arg2, nullptr};
    int fd[2];
    if (pipe(fd) != 0) return "unknown";
    const pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]), close(fd[1]);
        return "unknown";
    }
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], STDOUT_FILENO);
        execve("/proc/self/exe", argv, envp.data());
        _exit(127);
    }
    close(fd[1]);
    std::string out;
    char buf[128];
    for (ssize_t n; (n = read(fd[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && !out.empty() ? out : "unknown";
}

// The OPENBLAS_CORETYPE that gives OpenBLAS its best kernels here: empty when
// its own choice (`own`) already uses AVX2 or AVX-512 (or is unknown), else
// an AVX-512 core (SkylakeX) on a CPU with AVX-512F, an AVX2 core (Haswell) on
// one with AVX2 and FMA.
inline std::string best_openblas_core(const std::string& own) {
    // Names as openblas_get_corename spells them (upper case in builds
    // without DYNAMIC_ARCH, hence the case-blind comparison).
    static const char* kVectorCores[] = {"Haswell",  "Zen",        "Excavator",
                                         "SkylakeX", "Cooperlake", "SapphireRapids"};
    if (own == "none" || own == "unknown") return "";
    for (const char* c : kVectorCores)
        if (strcasecmp(own.c_str(), c) == 0) return "";
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return "";
}

// PyTorch's own (ATen) elementwise kernels: 1.13 picks its AVX2 build even on
// AVX-512 CPUs; ATEN_CPU_CAPABILITY=avx512 selects the AVX-512 one, which ran
// its bench-cpu step about 3 % faster on Intel Emerald Rapids (GELU's backward
// about twice as fast).  Set where the CPU has what that build needs, unless
// the caller chose one already (the command inherits it then).
inline std::string torch_cpu_capability() {
    if (std::getenv("ATEN_CPU_CAPABILITY")) return "";
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    return avx512 ? " ATEN_CPU_CAPABILITY=avx512" : "";
}

// The fair comparison setting: OpenBLAS's own core, and the core to ask for
// instead (empty: keep OpenBLAS's choice).
struct OpenBlasChoice {
    std::string own, core;
    // Asks OpenBLAS (in a child process) and decides.
    static OpenBlasChoice detect() {
        const std::string own = openblas_own_core();
        return {own, best_openblas_core(own)};
    }

    // The `env ...` prefix of a command line for `threads` threads: the core
    // above, passive OpenMP waiting (PyTorch's best setting; GOMP_SPINCOUNT is
    // removed since libgomp lets it override the policy), one OpenBLAS thread
    // per core we use.
    std::string env(int threads) const {
        return "env -u OPENBLAS_L2_SIZE -u GOMP_SPINCOUNT " +
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

// `bench openblas-core`: says which kernel set OpenBLAS uses in this process,
// whether that is its own choice or OPENBLAS_CORETYPE's, and whether bench's
// comparisons replace it.  `name_only` (`bench openblas-core --name-only`, what
// openblas_own_core asks its child): the bare core name, or "none" when
// OpenBLAS cannot be loaded.
inline int print_openblas_core(bool name_only = false) {
    OpenBlas blas(0);
    if (name_only) {
        std::printf("%s\n", blas.sgemm ? blas.core().c_str() : "none");
        return 0;
    }
    if (!blas.sgemm) {
        std::printf("OpenBLAS: not found (%s); bench gemm then reports our figures alone\n",
                    blas.error.c_str());
        return 0;
    }
    const std::string core = blas.core();
    const char* forced = std::getenv("OPENBLAS_CORETYPE");
    if (forced && *forced) {
        std::printf("OpenBLAS kernel set in this process: %s, as OPENBLAS_CORETYPE=%s asks; OpenBLAS's own choice "
                    "on this CPU: %s\n", core.c_str(), forced, openblas_own_core().c_str());
        return 0;
    }
    std::printf("OpenBLAS kernel set chosen for this CPU: %s (OpenBLAS's own choice; the environment variable "
                "OPENBLAS_CORETYPE overrides it)\n", core.c_str());
    const std::string better = best_openblas_core(core);
    if (!better.empty())
        std::printf("note: that set does not use this CPU's %s instructions: bench's comparisons with OpenBLAS and "
                    "PyTorch set OPENBLAS_CORETYPE=%s\n", better == "SkylakeX" ? "AVX-512" : "AVX2", better.c_str());
    return 0;
}

}  // namespace bench
