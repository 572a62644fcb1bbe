// image_ops.h: differentiable image-shaped ops: patchify (the patch embedding's
// im2col) and bicubic resizing (DINOv2 position-embedding interpolation).
#pragma once
#include "tensor/tensor.h"

namespace eng {

// x [B, C, H, W] -> [B, N, C·p·p], N = (H/p)·(W/p), patches in row-major order
// over the patch grid; inside a patch the order is channel, row, column, so a
// Conv2d(kernel = stride = p) weight [D, C, p, p] reshaped to [D, C·p·p] gives
// the convolution as patchify(x) · Wᵀ.  H and W must be multiples of p.
Tensor patchify(const Tensor& x, int64_t p);

// Bicubic resize of x [N, C, h, w] to [N, C, out_h, out_w], as PyTorch's
// F.interpolate(x, size=(out_h, out_w), mode="bicubic", align_corners=False,
// antialias=antialias).  See tensor/image_ops.h for the exact maths.
// DINOv2 (interpolate_offset = 0, as in MaMA) resizes its 37×37 grid this way
// with antialias = true and size = (H_img/14, W_img/14).
Tensor interpolate_bicubic(const Tensor& x, int64_t out_h, int64_t out_w, bool antialias = false);
// The scale_factor form: out = floor(in · scale) and, as PyTorch does when
// recompute_scale_factor is not set, source coordinates use 1/scale (not in/out).
Tensor interpolate_bicubic_scale(const Tensor& x, double scale_h, double scale_w, bool antialias = false);

}  // namespace eng
