// dropout.cpp: CPU loop of the dropout kernel (see dropout.h).  Each element's
// draw depends only on (seed, offset + i), so the mask is the same for any
// number of threads (and matches a GPU kernel using the same formula).
#include "tensor/cpu/dropout.h"

#include "tensor/random.h"

namespace eng::cpu {

void dropout_forward(float* out, float* mask, const float* inp, uint64_t seed, uint64_t offset, float p, int64_t n) {
    float keep = 1.0f - p;
    float scale = keep > 0.0f ? 1.0f / keep : 0.0f;  // p == 1: nothing is kept
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) {
        float m = word_to_uniform(random_word(seed, offset + uint64_t(i))) < keep ? scale : 0.0f;
        mask[i] = m;
        out[i] = inp[i] * m;
    }
}

}  // namespace eng::cpu
