// index_ops.h: raw (non-differentiable) joining and indexing ops: concat, stack,
// index_select / index_add, gather / scatter_add, with PyTorch semantics.
//
// Index tensors are i32.  Every index is checked before anything is written; an
// out-of-range index raises eng::Error naming the op, the index value, the dim
// and its size.  Negative indices are errors (as in PyTorch's gather/scatter).
// Inputs may be strided views; outputs are packed.  CPU only for now.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace eng::kernels {

// Joins tensors along an existing dim (all other sizes equal; any one dtype).
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
// Joins tensors of equal shape along a new dim (dim in [-(ndim+1), ndim]).
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);

// out = x with dim `dim` replaced by the entries named by the 1-D `index`:
//   out[..., i, ...] = x[..., index[i], ...]          (any dtype)
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// The adjoint of index_select: a zero tensor of `shape` into which
//   out[..., index[i], ...] += src[..., i, ...]        (f32; repeats add up)
Tensor index_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src);

// PyTorch gather: out has index's shape and
//   out[i0..., j, ...ik] = x[i0..., index[i0..., j, ...ik], ...ik]   (j at `dim`).
// index has x's rank; index.size(d) <= x.size(d) for every d != dim.  Any dtype.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// PyTorch scatter_add (out of place): out = x.clone(), then for every position p
// of index:  out[p with p[dim] := index[p]] += src[p].  index has x's rank,
// index.size(d) <= src.size(d) for all d and <= x.size(d) for d != dim (the
// part of src outside index's shape is ignored).  f32.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

}  // namespace eng::kernels
