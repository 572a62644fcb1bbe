// optim.h: fused CPU parameter updates (one pass over each parameter).
#pragma once
#include <cstdint>

namespace eng::cpu {

// AdamW, PyTorch semantics (decoupled weight decay, bias correction, eps outside the root):
//   p ← p·(1 - lr·wd);  m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²
//   p ← p - lr · (m / (1-β1ᵗ)) / (√(v / (1-β2ᵗ)) + eps)
// p, m, v, g: [n].  step t >= 1.
void adamw_update(float* p, float* m, float* v, const float* g, int64_t n, float lr, double beta1, double beta2,
                  float eps, float weight_decay, int64_t step);

// SGD with momentum, PyTorch semantics (coupled weight decay):
//   d = g + wd·p;  buf = d on the first step, else μ·buf + (1 - dampening)·d
//   nesterov: d ← d + μ·buf, else d ← buf;   p ← p - lr·d
// buf may be null when momentum is 0.
void sgd_update(float* p, float* buf, const float* g, int64_t n, float lr, float momentum, float dampening,
                float weight_decay, bool nesterov, bool first_step);

// The same two under bf16-true (tensor/precision.h): PyTorch's sequence of
// in-place steps on bf16 tensors, each rounded to bf16 (tensor/optim_bf16_true.h).
void adamw_update_bf16_true(float* p, float* m, float* v, const float* g, int64_t n, float lr, double beta1,
                            double beta2, float eps, float weight_decay, int64_t step);
void sgd_update_bf16_true(float* p, float* buf, const float* g, int64_t n, float lr, float momentum,
                          float dampening, float weight_decay, bool nesterov, bool first_step);

}  // namespace eng::cpu
