// image_ops.h: CPU loops for patchify and separable (bicubic) resampling.
#pragma once
#include <cstdint>
#include <vector>

namespace eng::cpu {

// out [B, N, C·p·p] from x [B, C, H, W] (N = (H/p)·(W/p)); see tensor/image_ops.h.
void patchify_forward(float* out, const float* x, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);
// dx [B, C, H, W] (accumulated into) from dout [B, N, C·p·p].
void patchify_backward(float* dx, const float* dout, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);

// One axis of a separable resampling: output position o reads input positions
// index[o·taps + t] with weights weight[o·taps + t], t < taps (unused taps have
// weight 0 and index 0).
struct ResampleAxis {
    int64_t in = 0, out = 0, taps = 0;
    std::vector<int32_t> index;
    std::vector<float> weight;
};
// The bicubic weights of tensor/image_ops.h.  scale_factor <= 0: scale = in/out.
ResampleAxis bicubic_axis(int64_t in, int64_t out, double scale_factor, bool antialias);

// out [P, ax_h.out, ax_w.out] from x [P, ax_h.in, ax_w.in] (P planes): width pass, then height pass.
void resample2d_forward(float* out, const float* x, int64_t P, const ResampleAxis& ax_h, const ResampleAxis& ax_w);
// dx [P, ax_h.in, ax_w.in] (accumulated into) from dout [P, ax_h.out, ax_w.out].
void resample2d_backward(float* dx, const float* dout, int64_t P, const ResampleAxis& ax_h, const ResampleAxis& ax_w);

}  // namespace eng::cpu
