// optim_bf16_true.h: one element of the AdamW and SGD updates under bf16-true
// (tensor/precision.h), shared by the CPU loop (tensor/cpu/optim.cpp) and the
// CUDA kernel (cuda/optim.cu) so both devices give the same bits.
//
// PyTorch updates bf16 parameters with a sequence of in-place tensor ops, and
// each op computes in f32 and stores its result as bf16.  The steps below are
// that sequence (torch.optim.AdamW and SGD, as in their foreach and
// single-tensor forms), each followed by R, the rounding to the nearest bf16
// (ties to even).  Their f32 arithmetic is written with explicit fused
// multiply-adds so the host and the GPU compute the same thing.  With an lr of
// 4e-5 most updates are under half a bf16 ulp of the weight and round away,
// the weight decay factor 1 - lr·wd always does: that is the behaviour of the
// reference's pure-bf16 training this reproduces.
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/dtype.h"  // round_to_bf16, ENG_HOST_DEVICE

namespace eng::bf16_true {

// Per-step constants, computed on the host as PyTorch computes its Python
// scalars (in double) and then passed to the kernels as f32.
struct AdamWConstants {
    float decay;         // 1 - lr·wd
    float one_minus_b1;  // lerp weight 1 - β1
    float beta2, one_minus_b2;
    float sqrt_bc2;      // √(1 - β2ᵗ)
    float eps;
    float neg_step;      // -lr / (1 - β1ᵗ)
};

// β1 and β2 arrive as doubles (PyTorch's Python floats): 1 - β and the bias
// corrections come from them, not from their float roundings.
inline AdamWConstants adamw_constants(float lr, double beta1, double beta2, float eps, float weight_decay,
                                      int64_t step) {
    const double bc1 = 1.0 - std::pow(beta1, double(step));
    const double bc2 = 1.0 - std::pow(beta2, double(step));
    return AdamWConstants{float(1.0 - double(lr) * weight_decay), float(1.0 - beta1), float(beta2),
                          float(1.0 - beta2), float(std::sqrt(bc2)), eps, float(-double(lr) / bc1)};
}

//   p.mul_(1 - lr·wd); m.lerp_(g, 1 - β1); v.mul_(β2).addcmul_(g, g, 1 - β2)
//   denom = (v.sqrt() / √bc2).add_(eps); p.addcdiv_(m, denom, -lr / bc1)
ENG_HOST_DEVICE inline void adamw_element(float& p, float& m, float& v, float g, const AdamWConstants& k) {
    p = round_to_bf16(p * k.decay);
    m = round_to_bf16(fmaf(k.one_minus_b1, g - m, m));  // lerp with weight < 0.5: m + w·(g - m)
    v = round_to_bf16(v * k.beta2);
    v = round_to_bf16(fmaf(k.one_minus_b2 * g, g, v));
    float denom = round_to_bf16(sqrtf(v));
    denom = round_to_bf16(denom / k.sqrt_bc2);
    denom = round_to_bf16(denom + k.eps);
    p = round_to_bf16(fmaf(k.neg_step, m / denom, p));
}

//   g = g.add(p, alpha=wd); buf = g (first step) or buf.mul_(μ).add_(g, alpha=1 - dampening)
//   g = g.add(buf, alpha=μ) (nesterov) or buf; p.add_(g, alpha=-lr)
ENG_HOST_DEVICE inline void sgd_element(float& p, float* buf, float g, float lr, float momentum, float dampening,
                                        float weight_decay, bool nesterov, bool first_step) {
    if (weight_decay != 0.0f) g = round_to_bf16(fmaf(weight_decay, p, g));
    if (momentum != 0.0f) {
        float b = g;
        if (!first_step) {
            b = round_to_bf16(*buf * momentum);
            b = round_to_bf16(fmaf(1.0f - dampening, g, b));
        }
        *buf = b;
        g = nesterov ? round_to_bf16(fmaf(momentum, b, g)) : b;
    }
    p = round_to_bf16(fmaf(-lr, g, p));
}

}  // namespace eng::bf16_true
