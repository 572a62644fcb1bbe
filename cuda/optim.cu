// optim.cu: fused CUDA AdamW and SGD parameter updates, one thread per element,
// with exactly the formulas of tensor/cpu/optim.cpp (see tensor/cpu/optim.h),
// the same fused multiply-adds included, so both devices give the same bits.
// The bias corrections are computed once on the host in double, as on the CPU.
#include <cmath>

#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"
#include "tensor/optim_bf16_true.h"

namespace eng::cuda {

__global__ void adamw_kernel(float* p, float* m, float* v, const float* g, int64_t n, float beta1, float one_minus_b1,
                             float beta2, float one_minus_b2, float eps, float step_size, float inv_sqrt_bc2,
                             float decay) {
    CUDA_KERNEL_LOOP(i, n) {
        // The CPU's fused multiply-adds, written out (nvcc would otherwise
        // contract a·b + c·d on its own, fusing either product).
        float gi = g[i];
        float mi = fmaf(beta1, m[i], one_minus_b1 * gi);
        float vi = fmaf(beta2, v[i], one_minus_b2 * gi * gi);
        m[i] = mi;
        v[i] = vi;
        float denom = fmaf(sqrtf(vi), inv_sqrt_bc2, eps);
        p[i] = fmaf(p[i], decay, -(step_size * mi / denom));
    }
}

void adamw_update(float* p, float* m, float* v, const float* g, int64_t n, float lr, double beta1, double beta2,
                  float eps, float weight_decay, int64_t step) {
    if (n == 0) return;
    double bc1 = 1.0 - std::pow(beta1, double(step));
    double bc2 = 1.0 - std::pow(beta2, double(step));
    float step_size = float(lr / bc1);
    float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
    // 1 - lr·wd with one rounding, as the CPU (tensor/cpu/optim.cpp): the
    // host compiler would round the product and the difference separately,
    // g++ -march=x86-64-v3 contracts them into one FMA, and the two differ in
    // the last bit for some learning rates (0.0016433 at wd 0.05).
    float decay = std::fma(-lr, weight_decay, 1.0f);
    // 1 - β in double, rounded once, as on the CPU.
    adamw_kernel<<<blocks_for(n, kThreads), kThreads>>>(p, m, v, g, n, float(beta1), float(1.0 - beta1), float(beta2),
                                                        float(1.0 - beta2), eps, step_size, inv_sqrt_bc2, decay);
    check_launch("adamw_update");
}

__global__ void sgd_kernel(float* p, float* buf, const float* g, int64_t n, float lr, float momentum, float dampening,
                           float weight_decay, bool nesterov, bool first_step) {
    CUDA_KERNEL_LOOP(i, n) {
        // The CPU's fused multiply-adds, written out as in AdamW.
        float d = fmaf(weight_decay, p[i], g[i]);
        if (momentum != 0.0f) {
            float b = first_step ? d : fmaf(momentum, buf[i], (1.0f - dampening) * d);
            buf[i] = b;
            d = nesterov ? fmaf(momentum, b, d) : b;
        }
        p[i] = fmaf(-lr, d, p[i]);
    }
}

void sgd_update(float* p, float* buf, const float* g, int64_t n, float lr, float momentum, float dampening,
                float weight_decay, bool nesterov, bool first_step) {
    if (n == 0) return;
    sgd_kernel<<<blocks_for(n, kThreads), kThreads>>>(p, buf, g, n, lr, momentum, dampening, weight_decay, nesterov,
                                                      first_step);
    check_launch("sgd_update");
}

// ---- bf16-true: the element steps of tensor/optim_bf16_true.h, as on the CPU ----
__global__ void adamw_bf16_true_kernel(float* p, float* m, float* v, const float* g, int64_t n,
                                       bf16_true::AdamWConstants k) {
    CUDA_KERNEL_LOOP(i, n) { bf16_true::adamw_element(p[i], m[i], v[i], g[i], k); }
}

void adamw_update_bf16_true(float* p, float* m, float* v, const float* g, int64_t n, float lr, double beta1,
                            double beta2, float eps, float weight_decay, int64_t step) {
    if (n == 0) return;
    const bf16_true::AdamWConstants k = bf16_true::adamw_constants(lr, beta1, beta2, eps, weight_decay, step);
    adamw_bf16_true_kernel<<<blocks_for(n, kThreads), kThreads>>>(p, m, v, g, n, k);
    check_launch("adamw_update_bf16_true");
}

__global__ void sgd_bf16_true_kernel(float* p, float* buf, const float* g, int64_t n, float lr, float momentum,
                                     float dampening, float weight_decay, bool nesterov, bool first_step) {
    CUDA_KERNEL_LOOP(i, n) {
        bf16_true::sgd_element(p[i], buf ? buf + i : nullptr, g[i], lr, momentum, dampening, weight_decay, nesterov,
                               first_step);
    }
}

void sgd_update_bf16_true(float* p, float* buf, const float* g, int64_t n, float lr, float momentum,
                          float dampening, float weight_decay, bool nesterov, bool first_step) {
    if (n == 0) return;
    sgd_bf16_true_kernel<<<blocks_for(n, kThreads), kThreads>>>(p, buf, g, n, lr, momentum, dampening, weight_decay,
                                                                nesterov, first_step);
    check_launch("sgd_update_bf16_true");
}

}  // namespace eng::cuda
