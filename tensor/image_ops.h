// image_ops.h: raw (non-differentiable) patchify and bicubic resizing, with
// the adjoints their backward passes use.
//
// Bicubic resizing follows PyTorch's F.interpolate(mode="bicubic",
// align_corners=False) exactly; it is separable: each output row/column is a
// weighted sum of input rows/columns, and the weights of one axis depend only on
// (in size, out size, scale):
//   scale = 1/scale_factor when a scale factor is given, else in/out.
//   antialias = false: source coordinate u = scale·(o + 0.5) - 0.5, i = floor(u),
//     t = u - i; taps i-1 .. i+2 with Keys' cubic convolution weights, A = -0.75;
//     tap indices are clamped to [0, in-1] (border replication).
//   antialias = true (PIL-style area filter): support = 2·max(scale, 1),
//     center = scale·(o + 0.5), taps j in [trunc(center - support + 0.5),
//     trunc(center + support + 0.5)) ∩ [0, in), weight ∝ K((j + 0.5 - center)/max(scale, 1))
//     with the cubic kernel K of A = -0.5 (PIL's value), normalised to sum 1.
//     Taps outside the image are dropped, not clamped.  For upsampling this is
//     plain bicubic (A = -0.5) except at the borders.
// Output size from scale factors: out = floor(in · scale_factor) (PyTorch's rule).
// DINOv2 as used by MaMA (interpolate_offset = 0) passes an explicit size
// (H_img // 14, W_img // 14) with antialias = true, so no scale factor is involved.
#pragma once
#include "tensor/tensor.h"

namespace eng::kernels {

// x [B, C, H, W] -> [B, (H/p)·(W/p), C·p·p]: out[b, gy·(W/p) + gx, (c·p + r)·p + s] = x[b, c, gy·p + r, gx·p + s].
Tensor patchify(const Tensor& x, int64_t p);
// The adjoint (and inverse) of patchify: g [B, N, C·p·p] -> [B, C, H, W].
Tensor unpatchify(const Tensor& g, int64_t C, int64_t H, int64_t W, int64_t p);

// x [N, C, h, w] -> [N, C, out_h, out_w].  scale_h / scale_w > 0 are scale
// factors used for the source coordinates (then out_h = floor(h·scale_h) is
// expected); 0 means "size given", i.e. scale = in/out.
Tensor interpolate_bicubic(const Tensor& x, int64_t out_h, int64_t out_w, bool antialias, double scale_h = 0.0,
                           double scale_w = 0.0);
// dL/dx [N, C, h, w] from dL/dout [N, C, out_h, out_w] (the transposed resampling).
Tensor interpolate_bicubic_backward(const Tensor& grad_out, int64_t h, int64_t w, bool antialias,
                                    double scale_h = 0.0, double scale_w = 0.0);

}  // namespace eng::kernels
