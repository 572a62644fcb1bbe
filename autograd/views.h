// views.h: differentiable views (no copies): reshape, permute, transpose,
// narrow, unsqueeze, squeeze, expand, and contiguous/detach; and the copy to
// another device, which is not a view but belongs with contiguous.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace eng {

Tensor reshape(const Tensor& x, const Shape& shape);  // one dim may be -1
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// Python-style x[..., start:end, ...] along one dim (negative bounds count from the end).
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);
Tensor select(const Tensor& x, int64_t dim, int64_t index);  // drops the dim
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor expand(const Tensor& x, const Shape& shape);  // -1 keeps a size
Tensor contiguous(const Tensor& x);
inline Tensor detach(const Tensor& x) { return x.detach(); }
// A copy on device d (x itself if it is there); the gradient is copied back to x's device.
Tensor to_device(const Tensor& x, Device d);

}  // namespace eng
