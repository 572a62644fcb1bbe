// embedding.h: CPU kernels for the embedding lookup (a row gather) and its
// backward (a scatter-add into the table's gradient).
#pragma once
#include <cstdint>

namespace eng::cpu {

// out: [n, D]; weight: [V, D]; ids: [n], each in [0, V) (the front-end checks).
void embedding_forward(float* out, const float* weight, const int32_t* ids, int64_t n, int64_t D);
// dweight: [V, D] (accumulated into); dout: [n, D]; ids: [n].
// Deterministic: each column block is owned by one thread, which adds the rows
// in order of position, so repeated ids sum in the same order every run.
void embedding_backward(float* dweight, const float* dout, const int32_t* ids, int64_t n, int64_t D);

}  // namespace eng::cpu
