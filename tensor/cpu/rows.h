// rows.h: running a row kernel over the rows of a [N, C] problem, threaded and
// in its AVX2 or AVX-512 copy.
//
// K is a struct with `static void row(int64_t i, Args...)` (marked
// ENG_ROW_INLINE) that handles row i.  parallel_rows compiles the loop over rows
// twice (x86-64-v3 and ENG_AVX512, see vecmath.h), picks one at run time, and
// splits the rows into contiguous blocks over the OpenMP threads when the
// problem is large enough.  Each row is computed by one thread in a fixed
// order, so results do not depend on the number of threads.
#pragma once
#include <algorithm>
#include <cstdint>

#include "tensor/cpu/vecmath.h"

#define ENG_ROW_INLINE __attribute__((always_inline)) inline

namespace eng::cpu {

template <typename K, typename... A>
static void rows_avx2(int64_t r0, int64_t r1, A... a) {
    for (int64_t r = r0; r < r1; ++r) K::row(r, a...);
}

template <typename K, typename... A>
ENG_AVX512 static void rows_avx512(int64_t r0, int64_t r1, A... a) {
    for (int64_t r = r0; r < r1; ++r) K::row(r, a...);
}

// elems: total work in elements (N·C), which decides whether to use threads.
template <typename K, typename... A>
void parallel_rows(int64_t N, int64_t elems, A... a) {
    constexpr int64_t kParallelMin = 1 << 15;  // below this, threads cost more than they save
    const bool wide = use_avx512();
    const int64_t per = std::max<int64_t>(1, (int64_t(1) << 13) / std::max<int64_t>(1, elems / std::max<int64_t>(N, 1)));
    const int64_t blocks = (N + per - 1) / per;  // blocks of ~8K elements
#pragma omp parallel for schedule(static) if (elems >= kParallelMin && blocks > 1)
    for (int64_t b = 0; b < blocks; ++b) {
        int64_t r0 = b * per, r1 = std::min(N, r0 + per);
        if (wide) rows_avx512<K>(r0, r1, a...);
        else rows_avx2<K>(r0, r1, a...);
    }
}

}  // namespace eng::cpu
