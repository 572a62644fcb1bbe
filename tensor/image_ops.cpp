// image_ops.cpp: argument checks and dispatch for patchify and bicubic resizing
// (kernels in tensor/cpu/image_ops.cpp).
#include "tensor/image_ops.h"

#include <cmath>

#include "tensor/cpu/image_ops.h"
#include "tensor/cuda_backend.h"

namespace eng::kernels {

Tensor patchify(const Tensor& x, int64_t p) {
    check_dtype(x, DType::f32, "patchify", "input");
    ENG_CHECK(x.dim() == 4, "patchify: input must be [B, C, H, W], got ", shape_str(x.shape()));
    ENG_CHECK(p > 0, "patchify: patch size must be positive, got ", p);
    const int64_t B = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
    ENG_CHECK(H % p == 0 && W % p == 0, "patchify: image ", H, "x", W, " (input ", shape_str(x.shape()),
              ") is not a multiple of the patch size ", p, "; HINT: resize or crop to a multiple of ", p);
    Tensor out = empty({B, (H / p) * (W / p), C * p * p}, TensorOptions{DType::f32, x.device()});
    if (out.numel() == 0) return out;
    Tensor xc = x.contiguous();
    (x.is_cuda() ? cuda::patchify_forward : cpu::patchify_forward)(out.data<float>(), xc.data<float>(), B, C, H, W, p);
    return out;
}

Tensor unpatchify(const Tensor& g, int64_t C, int64_t H, int64_t W, int64_t p) {
    check_dtype(g, DType::f32, "unpatchify", "input");
    ENG_CHECK(p > 0 && H % p == 0 && W % p == 0, "unpatchify: ", H, "x", W, " is not a multiple of patch size ", p);
    ENG_CHECK(g.dim() == 3 && g.shape()[1] == (H / p) * (W / p) && g.shape()[2] == C * p * p, "unpatchify: input ",
              shape_str(g.shape()), " does not hold ", (H / p) * (W / p), " patches of ", C, "x", p, "x", p);
    const int64_t B = g.shape()[0];
    Tensor dx = zeros({B, C, H, W}, TensorOptions{DType::f32, g.device()});
    if (dx.numel() == 0) return dx;
    Tensor gc = g.contiguous();
    (g.is_cuda() ? cuda::patchify_backward : cpu::patchify_backward)(dx.data<float>(), gc.data<float>(), B, C, H, W, p);
    return dx;
}

namespace {

void check_resize(const Tensor& t, const char* what, int64_t h, int64_t w, int64_t oh, int64_t ow, double sh,
                  double sw) {
    check_dtype(t, DType::f32, "interpolate_bicubic", what);
    ENG_CHECK(t.dim() == 4, "interpolate_bicubic: ", what, " must be [N, C, h, w], got ", shape_str(t.shape()));
    ENG_CHECK(h > 0 && w > 0 && oh > 0 && ow > 0, "interpolate_bicubic: cannot resize ", h, "x", w, " to ", oh,
              "x", ow, " (input ", shape_str(t.shape()), "); sizes must be positive");
    ENG_CHECK(std::isfinite(sh) && std::isfinite(sw) && sh >= 0 && sw >= 0,
              "interpolate_bicubic: scale factors must be positive, got ", sh, ", ", sw);
}

// The dense [out, in] matrix of one resampling axis (repeated taps add up), on the GPU.
Tensor dense_axis(const cpu::ResampleAxis& a) {
    std::vector<float> w(size_t(a.out * a.in), 0.0f);
    for (int64_t o = 0; o < a.out; ++o)
        for (int64_t t = 0; t < a.taps; ++t)
            w[size_t(o * a.in + a.index[size_t(o * a.taps + t)])] += a.weight[size_t(o * a.taps + t)];
    return from_vector(w, {a.out, a.in}).to(Device::CUDA);
}

// CUDA resampling as two GEMMs per direction (see cuda/image.cu):
//   forward:  tmp[P·h, ow] = x[P·h, w]·Wwᵀ,     out[p] = Wh·tmp[p]
//   backward: tmp[P·oh, w] = g[P·oh, ow]·Ww,   dx[p] = Whᵀ·tmp[p]
void resample2d_cuda(float* out, const float* x, int64_t P, const cpu::ResampleAxis& ah, const cpu::ResampleAxis& aw,
                     bool backward) {
    // Resampling is not a matrix product of the model: fp32 whatever the
    // matmul precision, as the CPU's loops compute it.
    struct Fp32Products {
        cuda::MatmulPrecision saved = cuda::matmul_precision();
        Fp32Products() { cuda::set_matmul_precision(cuda::MatmulPrecision::fp32); }
        ~Fp32Products() { cuda::set_matmul_precision(saved); }
    } fp32;
    Tensor wh = dense_axis(ah), ww = dense_axis(aw);
    const int64_t h = ah.in, w = aw.in, oh = ah.out, ow = aw.out;
    if (!backward) {
        Tensor tmp = empty({P, h, ow}, TensorOptions{DType::f32, Device::CUDA});
        cuda::gemm_batched(false, true, 1, P * h, ow, w, 1.0f, x, w, 0, ww.data<float>(), w, 0, 0.0f,
                           tmp.data<float>(), ow, 0);
        cuda::gemm_batched(false, false, P, oh, ow, h, 1.0f, wh.data<float>(), h, 0, tmp.data<float>(), ow, h * ow,
                           0.0f, out, ow, oh * ow);
    } else {
        Tensor tmp = empty({P, oh, w}, TensorOptions{DType::f32, Device::CUDA});
        cuda::gemm_batched(false, false, 1, P * oh, w, ow, 1.0f, x, ow, 0, ww.data<float>(), w, 0, 0.0f,
                           tmp.data<float>(), w, 0);
        cuda::gemm_batched(true, false, P, h, w, oh, 1.0f, wh.data<float>(), h, 0, tmp.data<float>(), w, oh * w, 0.0f,
                           out, w, h * w);
    }
}

}  // namespace

Tensor interpolate_bicubic(const Tensor& x, int64_t out_h, int64_t out_w, bool antialias, double scale_h,
                           double scale_w) {
    ENG_CHECK(x.dim() == 4, "interpolate_bicubic: input must be [N, C, h, w], got ", shape_str(x.shape()));
    const int64_t N = x.shape()[0], C = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
    check_resize(x, "input", h, w, out_h, out_w, scale_h, scale_w);
    Tensor out = empty({N, C, out_h, out_w}, TensorOptions{DType::f32, x.device()});
    if (out.numel() == 0) return out;
    Tensor xc = x.contiguous();
    cpu::ResampleAxis ah = cpu::bicubic_axis(h, out_h, scale_h, antialias);
    cpu::ResampleAxis aw = cpu::bicubic_axis(w, out_w, scale_w, antialias);
    if (x.is_cuda()) {
        resample2d_cuda(out.data<float>(), xc.data<float>(), N * C, ah, aw, false);
        return out;
    }
    cpu::resample2d_forward(out.data<float>(), xc.data<float>(), N * C, ah, aw);
    return out;
}

Tensor interpolate_bicubic_backward(const Tensor& grad_out, int64_t h, int64_t w, bool antialias, double scale_h,
                                    double scale_w) {
    ENG_CHECK(grad_out.dim() == 4, "interpolate_bicubic: gradient must be [N, C, h, w], got ",
              shape_str(grad_out.shape()));
    const int64_t N = grad_out.shape()[0], C = grad_out.shape()[1];
    const int64_t oh = grad_out.shape()[2], ow = grad_out.shape()[3];
    check_resize(grad_out, "gradient", h, w, oh, ow, scale_h, scale_w);
    Tensor dx = zeros({N, C, h, w}, TensorOptions{DType::f32, grad_out.device()});
    if (dx.numel() == 0) return dx;
    Tensor gc = grad_out.contiguous();
    cpu::ResampleAxis ah = cpu::bicubic_axis(h, oh, scale_h, antialias);
    cpu::ResampleAxis aw = cpu::bicubic_axis(w, ow, scale_w, antialias);
    if (grad_out.is_cuda()) {
        resample2d_cuda(dx.data<float>(), gc.data<float>(), N * C, ah, aw, true);
        return dx;
    }
    cpu::resample2d_backward(dx.data<float>(), gc.data<float>(), N * C, ah, aw);
    return dx;
}

}  // namespace eng::kernels
