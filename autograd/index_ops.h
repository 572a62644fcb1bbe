// index_ops.h: differentiable joining and indexing ops with PyTorch semantics:
// concat (torch.cat), stack, index_select, gather, scatter_add (out of place).
// Index tensors are i32 and carry no gradient.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace eng {

Tensor concat(const std::vector<Tensor>& xs, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim = 0);
// out[..., i, ...] = x[..., index[i], ...] along `dim` (index 1-D).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out[p] = x[p with p[dim] := index[p]]; out has index's shape.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// out = x, then out[p with p[dim] := index[p]] += src[p] for every position p of index.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

}  // namespace eng
