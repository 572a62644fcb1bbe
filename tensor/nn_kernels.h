// nn_kernels.h: raw front-ends (no autograd) of the fused neural-network ops:
// softmax, log_softmax, cross_entropy, layer_norm, batch_norm, embedding,
// dropout and l2_normalize, with their backward functions.
//
// Each checks its arguments (messages name the op and the shapes), packs the
// inputs, allocates the outputs and dispatches to tensor/cpu/ (CUDA later).
// The differentiable versions, with the gradient derivations, are in
// autograd/nn_ops.h.  Backward functions return fresh gradient tensors.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace eng::kernels {

// ---- softmax family (tensor/softmax.cpp): over the last dim --------------------------
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);
// y: the forward output; grad_y: dL/dy; both of x's shape.
Tensor softmax_backward(const Tensor& y, const Tensor& grad_y);
Tensor log_softmax_backward(const Tensor& y, const Tensor& grad_y);

struct CrossEntropyResult {
    Tensor loss;        // scalar: mean over non-ignored rows (NaN when every row is ignored, as PyTorch)
    Tensor lse;         // [N]: log Σ exp(logits) per row, saved for backward
    int64_t count = 0;  // number of non-ignored rows
};
// logits: f32 [N, C]; targets: i32 [N], each in [0, C) or == ignore_index.
CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index);
// dL/dlogits for upstream gradient `grad` (scalar) of the mean loss.
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& logits, const Tensor& lse, const Tensor& targets,
                              int64_t ignore_index, int64_t count);

// ---- normalisation (tensor/norm.cpp) -----------------------------------------------
struct NormResult {
    Tensor out;
    Tensor mean, rstd;  // saved statistics: per row (layer norm, shape [rows]) or per channel (batch norm, [C])
};
struct NormGrads {
    Tensor dx, dweight, dbias;  // undefined where not asked for
};

// x: [..., C]; weight, bias: [C] or undefined.
NormResult layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps);
NormGrads layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                              const Tensor& rstd, bool need_x, bool need_weight, bool need_bias);

// x: [N, C] or [N, C, L]; running_mean/var: [C] buffers or undefined; weight, bias: [C] or undefined.
// training: normalise with the batch statistics (biased variance) and, when the
// running buffers are defined, update them in place:
//   running = (1 - momentum)·running + momentum·batch   (the variance term unbiased, ·M/(M-1))
// eval: normalise with the running statistics (which must then be defined).
NormResult batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                      const Tensor& bias, bool training, float momentum, float eps);
NormGrads batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                              const Tensor& rstd, bool training, bool need_x, bool need_weight, bool need_bias);

// x / max(||x||₂ along dim, eps).  *norm receives ||x|| (x's shape with dim removed).
Tensor l2_normalize(const Tensor& x, int64_t dim, float eps, Tensor* norm);
Tensor l2_normalize_backward(const Tensor& grad_y, const Tensor& x, const Tensor& norm, int64_t dim, float eps);

// ---- embedding (tensor/embedding.cpp) -----------------------------------------------
// weight: f32 [V, D]; ids: i32, any shape, each in [0, V).  Returns [..., D].
Tensor embedding(const Tensor& weight, const Tensor& ids);
// dL/dweight [V, D] from grad_y [..., D]: scatter-add of rows.
Tensor embedding_backward(const Tensor& grad_y, const Tensor& ids, int64_t V);

// ---- dropout (tensor/dropout.cpp) ----------------------------------------------------
// Keeps each element with probability 1 - p and scales it by 1/(1-p); *mask
// receives the per-element factor (0 or 1/(1-p)) for backward.  Consumes
// x.numel() counters of the generator (the default one when g is null).
Tensor dropout(const Tensor& x, float p, Generator* g, Tensor* mask);

}  // namespace eng::kernels
