// embedding.cpp: CPU loops for the embedding gather and scatter-add (see embedding.h).
#include "tensor/cpu/embedding.h"

#include <algorithm>
#include <cstring>

namespace eng::cpu {

static constexpr int64_t kParallelMin = 1 << 14;  // elements; smaller problems run on one thread
static constexpr int64_t kColBlock = 64;          // columns per task of the backward

void embedding_forward(float* out, const float* weight, const int32_t* ids, int64_t n, int64_t D) {
#pragma omp parallel for schedule(static) if (n * D > kParallelMin)
    for (int64_t i = 0; i < n; ++i)
        std::memcpy(out + i * D, weight + int64_t(ids[i]) * D, size_t(D) * sizeof(float));
}

void embedding_backward(float* dweight, const float* dout, const int32_t* ids, int64_t n, int64_t D) {
    // Rows racing on the same id would make the sum order (and so the rounding)
    // depend on scheduling; splitting the columns instead gives every output
    // element exactly one writer.
    int64_t blocks = (D + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if (n * D > kParallelMin)
    for (int64_t blk = 0; blk < blocks; ++blk) {
        int64_t j0 = blk * kColBlock, j1 = std::min(D, j0 + kColBlock);
        for (int64_t i = 0; i < n; ++i) {
            const float* g = dout + i * D;
            float* dw = dweight + int64_t(ids[i]) * D;
            for (int64_t j = j0; j < j1; ++j) dw[j] += g[j];
        }
    }
}

}  // namespace eng::cpu
