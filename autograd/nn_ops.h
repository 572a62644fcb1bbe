// nn_ops.h: differentiable fused neural-network ops, each one graph node with a
// hand-written backward: softmax, log_softmax, cross_entropy, layer_norm,
// batch_norm, embedding, dropout, l2_normalize.  Names and argument order
// follow torch.nn.functional, except embedding (table first, see below).
// Optional tensor arguments are passed as an undefined Tensor().
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace eng {

// Stable softmax / log-softmax along `dim` (the last by default; another dim
// is handled by transposing it to the end, differentiably).
Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);

// Mean cross-entropy of logits [N, C] against class indices targets (i32 [N]).
// Rows whose target equals ignore_index are left out of the mean (as PyTorch);
// when every row is ignored the loss is NaN (0/0, as PyTorch) and the gradient 0.
// Any other target outside [0, C) throws.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);

// Layer norm over the last dim of x [..., C]: (x - mean) / sqrt(var + eps) · weight + bias,
// var biased.  weight and bias [C] may each be undefined (no scale / no shift).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

// Batch norm of x [N, C] or [N, C, L] per channel C.  training: batch statistics
// (biased variance) normalise, and the running buffers (when defined) are
// updated in place: r = (1 - momentum)·r + momentum·batch, with the unbiased
// variance for running_var (PyTorch semantics).  Eval: the running statistics
// normalise (they must be defined).  weight/bias undefined = affine off.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, float momentum = 0.1f, float eps = 1e-5f);

// Row lookup: weight [V, D], ids i32 of any shape -> [..., D].  NOTE the order:
// the table comes first (torch.nn.functional.embedding takes ids first).  An id
// outside [0, V) throws.  Gradient for weight only (scatter-add, deterministic).
Tensor embedding(const Tensor& weight, const Tensor& ids);

// Inverted dropout: in training each element is kept with probability 1 - p and
// scaled by 1/(1-p), from the counter-based generator g (the default one when
// null).  p == 0 or !training returns x itself; p == 1 gives zeros.
Tensor dropout(const Tensor& x, float p, bool training, Generator* g = nullptr);

// x / max(||x||₂ along dim, eps)  (torch.nn.functional.normalize with p = 2).
Tensor l2_normalize(const Tensor& x, int64_t dim = -1, float eps = 1e-12f);

}  // namespace eng
