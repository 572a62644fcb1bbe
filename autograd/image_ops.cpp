// image_ops.cpp: autograd wrappers of patchify and bicubic resizing.
//
// patchify only moves elements (a permutation of x's entries into a new shape),
// so its backward moves the gradient back: dx = unpatchify(g).
// Bicubic resizing is linear and separable, out = R_h · x · R_wᵀ per channel
// (R_h [out_h, h] and R_w [out_w, w] hold the interpolation weights, with the
// clamped border taps summed into the border column), so
//   dx = R_hᵀ · g · R_w,
// applied as the transposed height pass followed by the transposed width pass
// on the CPU (the GPU takes the width pass first: the same map).
#include "autograd/image_ops.h"

#include <cmath>

#include "autograd/node.h"
#include "autograd/profile.h"
#include "tensor/image_ops.h"

namespace eng {

Tensor patchify(const Tensor& x, int64_t p) {
    profile::Scope profile_scope("patchify");
    Tensor out = kernels::patchify(x, p);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    const int64_t C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
    return autograd::record("patchify", out, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
        return {kernels::unpatchify(g, C, H, W, p)};
    });
}

static Tensor bicubic(const Tensor& x, int64_t out_h, int64_t out_w, bool antialias, double sh, double sw) {
    profile::Scope profile_scope("interpolate_bicubic");
    Tensor out = kernels::interpolate_bicubic(x, out_h, out_w, antialias, sh, sw);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(out, {x});
    const int64_t h = x.shape()[2], w = x.shape()[3];
    return autograd::record("interpolate_bicubic", out, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
        return {kernels::interpolate_bicubic_backward(g, h, w, antialias, sh, sw)};
    });
}

Tensor interpolate_bicubic(const Tensor& x, int64_t out_h, int64_t out_w, bool antialias) {
    return bicubic(x, out_h, out_w, antialias, 0.0, 0.0);
}

Tensor interpolate_bicubic_scale(const Tensor& x, double scale_h, double scale_w, bool antialias) {
    ENG_CHECK(x.dim() == 4, "interpolate_bicubic: input must be [N, C, h, w], got ", shape_str(x.shape()));
    ENG_CHECK(std::isfinite(scale_h) && std::isfinite(scale_w) && scale_h > 0 && scale_w > 0,
              "interpolate_bicubic: scale factors must be positive, got ", scale_h, ", ", scale_w);
    const int64_t out_h = int64_t(std::floor(double(x.shape()[2]) * scale_h));
    const int64_t out_w = int64_t(std::floor(double(x.shape()[3]) * scale_w));
    return bicubic(x, out_h, out_w, antialias, scale_h, scale_w);
}

}  // namespace eng
