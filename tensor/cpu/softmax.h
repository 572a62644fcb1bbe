// softmax.h: CPU kernels for softmax, log_softmax and the fused cross-entropy,
// all over the last dimension of a packed [N, C] buffer (N rows of C classes).
// Backward kernels accumulate (+=) into the gradient buffer.
#pragma once
#include <cstdint>

namespace eng::cpu {

// out, inp: [N, C].  out = exp(inp - max) / Σ exp(inp - max), row by row.
void softmax_forward(float* out, const float* inp, int64_t N, int64_t C);
// out, inp: [N, C].  out = inp - max - log Σ exp(inp - max).
void log_softmax_forward(float* out, const float* inp, int64_t N, int64_t C);
// dinp, dout, out: [N, C]; out is the softmax output.  dinp += out ⊙ (dout - Σ dout·out).
void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C);
// dinp, dout, out: [N, C]; out is the log_softmax output.  dinp += dout - exp(out) Σ dout.
void log_softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C);

// losses: [N] per-row loss lse - logit[target] (0 where target == ignore_index);
// lse: [N] log Σ exp(logits) per row; logits: [N, C]; targets: [N], each in
// [0, C) or equal to ignore_index (the front-end checks this).
void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                          int64_t C, int64_t ignore_index);
// dlogits: [N, C]; logits: [N, C]; lse, targets: [N] (this CPU version
// recomputes lse from the row in two parts, see softmax.cpp); dloss: the upstream
// gradient of the mean already divided by the count of non-ignored rows.
// dlogits += dloss · (softmax - onehot(target)) on non-ignored rows.
void crossentropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets, float dloss,
                           int64_t N, int64_t C, int64_t ignore_index);

}  // namespace eng::cpu
