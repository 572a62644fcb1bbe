// test_bench_openblas.cpp: how `bench` chooses OpenBLAS's kernels for its
// comparisons (tools/bench_openblas.h): OpenBLAS's own choice is kept when it
// has vector kernels, and replaced only when it falls back to older ones on a
// CPU with AVX2 or AVX-512.
#include <doctest/doctest.h>

#include <string>

#include "tools/bench_openblas.h"

TEST_CASE("bench: OpenBLAS's own vector cores are kept, in any letter case") {
    for (const char* core : {"Haswell", "Zen", "Excavator", "SkylakeX", "Cooperlake", "SapphireRapids", "HASWELL",
                             "SKYLAKEX", "cooperlake"}) {
        CAPTURE(std::string(core));
        CHECK(bench::best_openblas_core(core).empty());
    }
    // Nothing to improve when OpenBLAS is missing or its choice unknown.
    CHECK(bench::best_openblas_core("none").empty());
    CHECK(bench::best_openblas_core("unknown").empty());
}

TEST_CASE("bench: a fallback core is replaced by the widest vector kernels this CPU runs") {
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f");
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const std::string want = avx512 ? "SkylakeX" : avx2 ? "Haswell" : "";
    for (const char* core : {"Prescott", "Nehalem", "Core2", "Sandybridge", "Barcelona"}) {
        CAPTURE(std::string(core));
        CHECK(bench::best_openblas_core(core) == want);
    }
}

TEST_CASE("bench: the comparison environment names the chosen core or unsets the variable") {
    const bench::OpenBlasChoice keep{"Haswell", ""};
    CHECK(keep.env(2) ==
          "env -u OPENBLAS_L2_SIZE -u GOMP_SPINCOUNT -u OPENBLAS_CORETYPE OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=2");
    const bench::OpenBlasChoice set{"Prescott", "SkylakeX"};
    CHECK(set.env(4) ==
          "env -u OPENBLAS_L2_SIZE -u GOMP_SPINCOUNT OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=4");
}
