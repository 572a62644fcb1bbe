// dropout.cpp: front-end of the dropout kernel (see tensor/nn_kernels.h): checks,
// reserving the generator's counters, dispatch to tensor/cpu/dropout.cpp.
#include "tensor/cpu/dropout.h"
#include "tensor/cuda_backend.h"
#include "tensor/nn_kernels.h"

namespace eng::kernels {

Tensor dropout(const Tensor& x, float p, Generator* g, Tensor* mask) {
    const char* op = "dropout";
    check_dtype(x, DType::f32, op, "input");
    ENG_CHECK(p >= 0.0f && p <= 1.0f, op, ": probability p = ", p, " is outside [0, 1] (input ",
              shape_str(x.shape()), ")");
    Generator& gen = g ? *g : default_generator();
    int64_t n = x.numel();
    uint64_t offset = gen.reserve(uint64_t(n));  // one counter per element, as eng::bernoulli
    Tensor xc = x.contiguous();
    Tensor out = empty(x.shape(), TensorOptions{DType::f32, x.device()});
    Tensor m = empty(x.shape(), TensorOptions{DType::f32, x.device()});
    (x.is_cuda() ? cuda::dropout_forward : cpu::dropout_forward)(out.data<float>(), m.data<float>(), xc.data<float>(), gen.seed(), offset, p, n);
    if (mask) *mask = m;
    return out;
}

}  // namespace eng::kernels
