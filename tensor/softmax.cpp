// softmax.cpp: front-ends of softmax, log_softmax and cross_entropy (see
// tensor/nn_kernels.h): argument checks, packing, allocation, dispatch to
// tensor/cpu/softmax.cpp.
#include <cmath>

#include "tensor/cpu/softmax.h"
#include "tensor/cuda_backend.h"
#include "tensor/nn_kernels.h"

namespace eng::kernels {

// Rows and columns of the [rows, C] view of a tensor whose last dim is C.
static void rows_cols(const Tensor& x, const char* op, int64_t* N, int64_t* C) {
    ENG_CHECK(x.dim() >= 1, op, ": needs at least one dimension, got a scalar of shape ", shape_str(x.shape()));
    *C = x.size(-1);
    *N = *C == 0 ? 0 : x.numel() / *C;
}

static Tensor softmax_like(const Tensor& x, const char* op, bool log) {
    check_dtype(x, DType::f32, op, "input");
    int64_t N, C;
    rows_cols(x, op, &N, &C);
    Tensor xc = x.contiguous();
    Tensor y = empty(x.shape(), TensorOptions{DType::f32, x.device()});
    if (x.is_cuda() && log) cuda::log_softmax_forward(y.data<float>(), xc.data<float>(), N, C);
    else if (x.is_cuda()) cuda::softmax_forward(y.data<float>(), xc.data<float>(), N, C);
    else if (log) cpu::log_softmax_forward(y.data<float>(), xc.data<float>(), N, C);
    else cpu::softmax_forward(y.data<float>(), xc.data<float>(), N, C);
    return y;
}

Tensor softmax(const Tensor& x) { return softmax_like(x, "softmax", false); }
Tensor log_softmax(const Tensor& x) { return softmax_like(x, "log_softmax", true); }

static Tensor softmax_like_backward(const Tensor& y, const Tensor& grad_y, const char* op, bool log) {
    check_dtype(grad_y, DType::f32, op, "grad_output");
    check_same_device(y, grad_y, op);
    ENG_CHECK(y.shape() == grad_y.shape(), op, " backward: gradient shape ", shape_str(grad_y.shape()),
              " differs from the output's ", shape_str(y.shape()));
    int64_t N, C;
    rows_cols(y, op, &N, &C);
    Tensor yc = y.contiguous(), gc = grad_y.contiguous();
    Tensor dx = zeros(y.shape(), TensorOptions{DType::f32, y.device()});
    if (y.is_cuda() && log) cuda::log_softmax_backward(dx.data<float>(), gc.data<float>(), yc.data<float>(), N, C);
    else if (y.is_cuda()) cuda::softmax_backward(dx.data<float>(), gc.data<float>(), yc.data<float>(), N, C);
    else if (log) cpu::log_softmax_backward(dx.data<float>(), gc.data<float>(), yc.data<float>(), N, C);
    else cpu::softmax_backward(dx.data<float>(), gc.data<float>(), yc.data<float>(), N, C);
    return dx;
}

Tensor softmax_backward(const Tensor& y, const Tensor& grad_y) {
    return softmax_like_backward(y, grad_y, "softmax", false);
}
Tensor log_softmax_backward(const Tensor& y, const Tensor& grad_y) {
    return softmax_like_backward(y, grad_y, "log_softmax", true);
}

// ---- cross entropy -------------------------------------------------------------------

static void check_ce_args(const Tensor& logits, const Tensor& targets) {
    const char* op = "cross_entropy";
    check_dtype(logits, DType::f32, op, "logits");
    check_dtype(targets, DType::i32, op, "targets");
    check_same_device(logits, targets, op);
    ENG_CHECK(logits.dim() == 2, op, ": logits must be [N, C], got ", shape_str(logits.shape()),
              ". HINT: flatten the leading dims, e.g. reshape(logits, {-1, C})");
    ENG_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0), op, ": targets must be [N] = [",
              logits.size(0), "] to match logits ", shape_str(logits.shape()), ", got ", shape_str(targets.shape()));
}

CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
    check_ce_args(logits, targets);
    int64_t N = logits.size(0), C = logits.size(1);
    // Targets are range-checked on the host (a copy from the GPU: N ints).
    Tensor tc = targets.contiguous();
    Tensor th = tc.to(Device::CPU);
    const int32_t* pt = th.data<int32_t>();
    CrossEntropyResult r;
    for (int64_t i = 0; i < N; ++i) {
        if (pt[i] == ignore_index) continue;
        ENG_CHECK(pt[i] >= 0 && pt[i] < C, "cross_entropy: target ", pt[i], " at row ", i,
                  " is out of range for ", C, " classes (C = ", C, ", logits ", shape_str(logits.shape()),
                  "; ignore_index = ", ignore_index, ")");
        ++r.count;
    }
    Tensor lc = logits.contiguous();
    if (logits.is_cuda()) {
        TensorOptions opt{DType::f32, Device::CUDA};
        Tensor losses = empty({N}, opt);
        r.lse = empty({N}, opt);
        r.loss = empty({}, opt);
        cuda::crossentropy_forward(losses.data<float>(), r.lse.data<float>(), lc.data<float>(), tc.data<int32_t>(), N,
                                   C, ignore_index);
        if (r.count > 0) cuda::sum_scaled(r.loss.data<float>(), losses.data<float>(), N, 1.0 / double(r.count));
        else r.loss.fill_(std::nanf(""));
        return r;
    }
    Tensor losses = empty({N});
    r.lse = empty({N});
    cpu::crossentropy_forward(losses.data<float>(), r.lse.data<float>(), lc.data<float>(), pt, N, C, ignore_index);
    // The mean is summed serially in double, in row order (thread-count independent).
    double s = 0;
    const float* pl = losses.data<float>();
    for (int64_t i = 0; i < N; ++i) s += pl[i];
    r.loss = full({}, r.count > 0 ? float(s / double(r.count)) : std::nanf(""));
    return r;
}

Tensor cross_entropy_backward(const Tensor& grad, const Tensor& logits, const Tensor& lse, const Tensor& targets,
                              int64_t ignore_index, int64_t count) {
    check_ce_args(logits, targets);
    ENG_CHECK(grad.numel() == 1, "cross_entropy backward: the upstream gradient must be a scalar, got ",
              shape_str(grad.shape()));
    int64_t N = logits.size(0), C = logits.size(1);
    Tensor dx = zeros(logits.shape(), TensorOptions{DType::f32, logits.device()});
    if (count == 0) return dx;  // every row ignored: the loss does not depend on the logits
    float dloss = grad.item() / float(count);
    Tensor lc = logits.contiguous(), tc = targets.contiguous(), sc = lse.contiguous();
    if (logits.is_cuda()) {
        cuda::crossentropy_backward(dx.data<float>(), lc.data<float>(), sc.data<float>(), tc.data<int32_t>(), dloss,
                                    N, C, ignore_index);
        return dx;
    }
    cpu::crossentropy_backward(dx.data<float>(), lc.data<float>(), sc.data<float>(), tc.data<int32_t>(), dloss, N, C,
                               ignore_index);
    return dx;
}

}  // namespace eng::kernels
