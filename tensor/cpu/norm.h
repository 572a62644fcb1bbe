// norm.h: CPU kernels for layer normalisation, batch normalisation and L2
// normalisation, over packed buffers.  weight/bias pointers may be null (no
// affine part); backward kernels add (+=) into every non-null gradient buffer
// and skip null ones, except layer norm's dinp, which is written.
#pragma once
#include <cstdint>

namespace eng::cpu {

// ---- layer norm: normalise each row of [N, C] -----------------------------------------
// out, inp: [N, C]; mean, rstd: [N] (saved for backward); weight, bias: [C] or null.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps);
// dinp, dout, inp: [N, C]; dweight, dbias, weight: [C] or null; mean, rstd: [N].
// dinp is overwritten; dweight and dbias are added to.
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C);

// ---- batch norm: normalise each channel of [N, C, L] over (N, L) ----------------------
// mean, var: [C] batch mean and biased (population) variance; inp: [N, C, L].
void batchnorm_stats(float* mean, float* var, const float* inp, int64_t N, int64_t C, int64_t L);
// out, inp: [N, C, L]; mean, rstd: [C] (batch or running statistics); weight, bias: [C] or null.
void batchnorm_forward(float* out, const float* inp, const float* mean, const float* rstd, const float* weight,
                       const float* bias, int64_t N, int64_t C, int64_t L);
// dinp, dout, inp: [N, C, L]; dweight, dbias, weight: [C] or null; mean, rstd: [C].
// training: the statistics were the batch's own (so the gradient flows through
// them); otherwise they were constants (running statistics).
void batchnorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C, int64_t L,
                        bool training);

// ---- L2 normalisation along the middle dim of [outer, C, inner] ----------------------
// out, inp: [outer, C, inner]; norm: [outer, inner] = ||inp[o, :, i]||₂.
void l2norm_forward(float* out, float* norm, const float* inp, int64_t outer, int64_t C, int64_t inner, float eps);
// dinp, dout, inp: [outer, C, inner]; norm: [outer, inner] from the forward.
void l2norm_backward(float* dinp, const float* dout, const float* inp, const float* norm, int64_t outer, int64_t C,
                     int64_t inner, float eps);

}  // namespace eng::cpu
