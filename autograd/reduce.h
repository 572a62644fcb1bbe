// reduce.h: differentiable reductions over any dims (empty dims = all dims).
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace eng {

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
// correction 1 = unbiased (torch.var default), 0 = population variance.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction = 1, bool keepdim = false);

// Values and indices of the maximum (minimum) over one dim.  The gradient goes
// to the arg-max only; ties pick the lowest index.  Indices are i32.
struct ValuesIndices {
    Tensor values, indices;
};
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements
Tensor min(const Tensor& x);

}  // namespace eng
