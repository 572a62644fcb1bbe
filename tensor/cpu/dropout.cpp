// dropout.cpp: CPU loop of the dropout kernel (see dropout.h).  Each element's
// draw depends only on (seed, offset + i), so the mask is the same for any
// number of threads (and matches a GPU kernel using the same formula).
//
// Speed: the draw is a 64-bit integer hash (random_word), which AVX2 cannot
// multiply in vectors; AVX-512DQ can (vpmullq), so the loop also has an
// AVX-512 copy, chosen at run time.
#include "tensor/cpu/dropout.h"

#include <algorithm>

#include "tensor/cpu/vecmath.h"

namespace eng::cpu {

static __attribute__((always_inline)) inline void dropout_body(float* __restrict out, float* __restrict mask,
                                                        const float* __restrict inp, uint64_t seed, uint64_t offset,
                                                        DropoutMask dm, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
        float m = dm.at(seed, offset + uint64_t(i));
        mask[i] = m;
        out[i] = inp[i] * m;
    }
}

static void dropout_avx2(float* out, float* mask, const float* inp, uint64_t seed, uint64_t offset, DropoutMask dm,
                         int64_t n) {
    dropout_body(out, mask, inp, seed, offset, dm, n);
}

ENG_AVX512 static void dropout_avx512(float* out, float* mask, const float* inp, uint64_t seed, uint64_t offset,
                                      DropoutMask dm, int64_t n) {
    dropout_body(out, mask, inp, seed, offset, dm, n);
}

void dropout_forward(float* out, float* mask, const float* inp, uint64_t seed, uint64_t offset, float p, int64_t n) {
    const DropoutMask dm(p);  // p == 1: nothing is kept
    const bool wide = use_avx512();
    constexpr int64_t kChunk = 1 << 13;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t c = 0; c < chunks; ++c) {
        int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
        if (wide) dropout_avx512(out + i0, mask + i0, inp + i0, seed, offset + uint64_t(i0), dm, len);
        else dropout_avx2(out + i0, mask + i0, inp + i0, seed, offset + uint64_t(i0), dm, len);
    }
}

}  // namespace eng::cpu
