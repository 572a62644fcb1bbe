// embedding.cpp: front-ends of the embedding lookup and its backward (see
// tensor/nn_kernels.h): id range checks, packing, dispatch to tensor/cpu/embedding.cpp.
#include "tensor/cpu/embedding.h"
#include "tensor/cuda_backend.h"
#include "tensor/nn_kernels.h"

namespace eng::kernels {

Tensor embedding(const Tensor& weight, const Tensor& ids) {
    const char* op = "embedding";
    check_dtype(weight, DType::f32, op, "weight");
    check_dtype(ids, DType::i32, op, "ids");
    check_same_device(weight, ids, op);
    ENG_CHECK(weight.dim() == 2, op, ": weight must be [V, D], got ", shape_str(weight.shape()));
    int64_t V = weight.size(0), D = weight.size(1), n = ids.numel();
    Tensor ic = ids.contiguous();
    Tensor ih = ic.to(Device::CPU);  // ids are range-checked on the host (a copy from the GPU)
    const int32_t* pi = ih.data<int32_t>();
    for (int64_t i = 0; i < n; ++i)
        ENG_CHECK(pi[i] >= 0 && pi[i] < V, op, ": id ", pi[i], " at position ", i, " of ids ", shape_str(ids.shape()),
                  " is out of range for a table of V = ", V, " rows (weight ", shape_str(weight.shape()), ")");
    Shape out_shape = ids.shape();
    out_shape.push_back(D);
    Tensor wc = weight.contiguous();
    Tensor out = empty(out_shape, TensorOptions{DType::f32, weight.device()});
    if (weight.is_cuda()) cuda::embedding_forward(out.data<float>(), wc.data<float>(), ic.data<int32_t>(), n, D);
    else cpu::embedding_forward(out.data<float>(), wc.data<float>(), pi, n, D);
    return out;
}

Tensor embedding_backward(const Tensor& grad_y, const Tensor& ids, int64_t V) {
    const char* op = "embedding backward";
    check_dtype(grad_y, DType::f32, op, "grad_output");
    check_dtype(ids, DType::i32, op, "ids");
    check_same_device(grad_y, ids, op);
    ENG_CHECK(grad_y.dim() == ids.dim() + 1, op, ": gradient ", shape_str(grad_y.shape()), " does not match ids ",
              shape_str(ids.shape()), " plus one embedding dim");
    int64_t D = grad_y.size(-1);
    Tensor gc = grad_y.contiguous(), ic = ids.contiguous();
    Tensor dw = zeros({V, D}, TensorOptions{DType::f32, grad_y.device()});
    // The ids were range-checked by the forward that recorded them.
    (grad_y.is_cuda() ? cuda::embedding_backward : cpu::embedding_backward)(dw.data<float>(), gc.data<float>(), ic.data<int32_t>(), ids.numel(), D);
    return dw;
}

}  // namespace eng::kernels
