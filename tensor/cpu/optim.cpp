// optim.cpp: fused CPU AdamW and SGD updates (formulas in optim.h).
#include "tensor/cpu/optim.h"

#include <cmath>

namespace eng::cpu {

void adamw_update(float* p, float* m, float* v, const float* g, int64_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, int64_t step) {
    // Bias corrections in double: 1 - β2ᵗ is tiny for small t and loses digits in float.
    double bc1 = 1.0 - std::pow(double(beta1), double(step));
    double bc2 = 1.0 - std::pow(double(beta2), double(step));
    float step_size = float(lr / bc1);
    float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
    float decay = 1.0f - lr * weight_decay;
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = std::sqrt(vi) * inv_sqrt_bc2 + eps;
        p[i] = p[i] * decay - step_size * mi / denom;
    }
}

void sgd_update(float* p, float* buf, const float* g, int64_t n, float lr, float momentum, float dampening,
                float weight_decay, bool nesterov, bool first_step) {
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) {
        float d = g[i] + weight_decay * p[i];
        if (momentum != 0.0f) {
            float b = first_step ? d : momentum * buf[i] + (1.0f - dampening) * d;
            buf[i] = b;
            d = nesterov ? d + momentum * b : b;
        }
        p[i] -= lr * d;
    }
}

}  // namespace eng::cpu
