// norm.cpp: front-ends of layer_norm, batch_norm and l2_normalize (see
// tensor/nn_kernels.h): argument checks, packing, allocation, the running
// statistics update of batch norm, and dispatch to tensor/cpu/norm.cpp.
#include <cmath>
#include <vector>

#include "tensor/cpu/norm.h"
#include "tensor/cuda_backend.h"
#include "tensor/nn_kernels.h"

namespace eng::kernels {

// Packed f32 tensors on x's device.
static Tensor empty_on(const Shape& s, const Tensor& x) { return empty(s, TensorOptions{DType::f32, x.device()}); }
static Tensor zeros_on(const Shape& s, const Tensor& x) { return zeros(s, TensorOptions{DType::f32, x.device()}); }

// An optional per-channel parameter: undefined, or f32 [C] on x's device.
static void check_param(const Tensor& p, int64_t C, const Tensor& x, const char* op, const char* name) {
    if (!p.defined()) return;
    check_dtype(p, DType::f32, op, name);
    check_same_device(x, p, op);
    ENG_CHECK(p.dim() == 1 && p.size(0) == C, op, ": ", name, " must have shape [", C, "] for input ",
              shape_str(x.shape()), ", got ", shape_str(p.shape()));
}

// Packed data pointer of an optional tensor (null when undefined).
static const float* ptr_or_null(const Tensor& packed) { return packed.defined() ? packed.data<float>() : nullptr; }
static Tensor pack(const Tensor& t) { return t.defined() ? t.contiguous() : Tensor(); }

// ---- layer norm --------------------------------------------------------------------------

NormResult layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
    const char* op = "layer_norm";
    check_dtype(x, DType::f32, op, "input");
    ENG_CHECK(x.dim() >= 1 && x.size(-1) > 0, op, ": input must be [..., C] with C > 0, got ", shape_str(x.shape()));
    int64_t C = x.size(-1), N = x.numel() / C;
    check_param(weight, C, x, op, "weight");
    check_param(bias, C, x, op, "bias");
    Tensor xc = x.contiguous(), wc = pack(weight), bc = pack(bias);
    NormResult r{empty_on(x.shape(), x), empty_on({N}, x), empty_on({N}, x)};
    (x.is_cuda() ? cuda::layernorm_forward : cpu::layernorm_forward)(r.out.data<float>(), r.mean.data<float>(), r.rstd.data<float>(), xc.data<float>(),
                           ptr_or_null(wc), ptr_or_null(bc), N, C, eps);
    return r;
}

NormGrads layer_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                              const Tensor& rstd, bool need_x, bool need_weight, bool need_bias) {
    const char* op = "layer_norm backward";
    ENG_CHECK(grad_y.shape() == x.shape(), op, ": gradient shape ", shape_str(grad_y.shape()),
              " differs from the input's ", shape_str(x.shape()));
    check_same_device(x, grad_y, op);
    int64_t C = x.size(-1), N = x.numel() / C;
    Tensor gc = grad_y.contiguous(), xc = x.contiguous(), wc = pack(weight);
    NormGrads g;
    if (need_x) g.dx = empty_on(x.shape(), x);  // the kernels write dx (and add to dweight, dbias)
    if (need_weight) g.dweight = zeros_on({C}, x);
    if (need_bias) g.dbias = zeros_on({C}, x);
    (x.is_cuda() ? cuda::layernorm_backward : cpu::layernorm_backward)(need_x ? g.dx.data<float>() : nullptr, need_weight ? g.dweight.data<float>() : nullptr,
                            need_bias ? g.dbias.data<float>() : nullptr, gc.data<float>(), xc.data<float>(),
                            ptr_or_null(wc), mean.data<float>(), rstd.data<float>(), N, C);
    return g;
}

// ---- batch norm ----------------------------------------------------------------------------

static void batch_dims(const Tensor& x, const char* op, int64_t* N, int64_t* C, int64_t* L) {
    ENG_CHECK(x.dim() == 2 || x.dim() == 3, op, ": input must be [N, C] or [N, C, L], got ", shape_str(x.shape()));
    *N = x.size(0);
    *C = x.size(1);
    *L = x.dim() == 3 ? x.size(2) : 1;
}

// The CUDA path of batch_norm: statistics and normalisation on the device; the
// running-buffer update (C values) goes through the host with the CPU's formula.
static NormResult batch_norm_cuda(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                                  const Tensor& weight, const Tensor& bias, bool training, float momentum, float eps) {
    const char* op = "batch_norm";
    int64_t N, C, L;
    batch_dims(x, op, &N, &C, &L);
    int64_t M = N * L;
    NormResult r{empty_on(x.shape(), x), empty_on({C}, x), empty_on({C}, x)};
    Tensor xc = x.contiguous();
    if (training) {
        ENG_CHECK(M > 1, op, ": expected more than 1 value per channel when training, got input ",
                  shape_str(x.shape()), ". HINT: use a larger batch, or evaluation mode");
        Tensor var = empty_on({C}, x);
        cuda::batchnorm_stats(r.mean.data<float>(), var.data<float>(), xc.data<float>(), N, C, L);
        cuda::batchnorm_rstd(r.rstd.data<float>(), var.data<float>(), C, eps);
        if (running_mean.defined()) {
            std::vector<float> rm = running_mean.to_vector(), rv = running_var.to_vector();
            std::vector<float> pm = r.mean.to_vector(), pv = var.to_vector();
            double unbias = double(M) / double(M - 1);
            for (size_t c = 0; c < size_t(C); ++c) {
                rm[c] = float((1.0 - momentum) * rm[c] + double(momentum) * pm[c]);
                rv[c] = float((1.0 - momentum) * rv[c] + double(momentum) * pv[c] * unbias);
            }
            Tensor(running_mean).copy_(from_vector(rm, {C}));
            Tensor(running_var).copy_(from_vector(rv, {C}));
        }
    } else {
        ENG_CHECK(running_mean.defined(), op, ": evaluation mode needs running_mean and running_var (input ",
                  shape_str(x.shape()), "). HINT: pass the buffers, or training = true to use batch statistics");
        r.mean.copy_(running_mean);  // copies: a later in-place update of the buffers cannot change backward
        cuda::batchnorm_rstd(r.rstd.data<float>(), running_var.contiguous().data<float>(), C, eps);
    }
    Tensor wc = pack(weight), bc = pack(bias);
    cuda::batchnorm_forward(r.out.data<float>(), xc.data<float>(), r.mean.data<float>(), r.rstd.data<float>(),
                            ptr_or_null(wc), ptr_or_null(bc), N, C, L);
    return r;
}

NormResult batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                      const Tensor& bias, bool training, float momentum, float eps) {
    const char* op = "batch_norm";
    check_dtype(x, DType::f32, op, "input");
    int64_t N, C, L;
    batch_dims(x, op, &N, &C, &L);
    check_param(weight, C, x, op, "weight");
    check_param(bias, C, x, op, "bias");
    check_param(running_mean, C, x, op, "running_mean");
    check_param(running_var, C, x, op, "running_var");
    ENG_CHECK(running_mean.defined() == running_var.defined(), op,
              ": running_mean and running_var must both be given or both be undefined");
    int64_t M = N * L;  // values per channel
    if (x.is_cuda()) return batch_norm_cuda(x, running_mean, running_var, weight, bias, training, momentum, eps);
    NormResult r{empty(x.shape()), empty({C}), empty({C})};
    Tensor xc = x.contiguous();
    float* pm = r.mean.data<float>();
    float* pr = r.rstd.data<float>();
    if (training) {
        ENG_CHECK(M > 1, op, ": expected more than 1 value per channel when training, got input ",
                  shape_str(x.shape()), ". HINT: use a larger batch, or evaluation mode");
        Tensor var = empty({C});
        float* pv = var.data<float>();
        cpu::batchnorm_stats(pm, pv, xc.data<float>(), N, C, L);
        for (int64_t c = 0; c < C; ++c) pr[c] = float(1.0 / std::sqrt(double(pv[c]) + double(eps)));
        if (running_mean.defined()) {
            // PyTorch semantics: the running variance tracks the UNBIASED batch
            // variance (·M/(M-1)), while normalisation used the biased one.
            std::vector<float> rm = running_mean.to_vector(), rv = running_var.to_vector();
            double unbias = double(M) / double(M - 1);
            for (int64_t c = 0; c < C; ++c) {
                rm[size_t(c)] = float((1.0 - momentum) * rm[size_t(c)] + double(momentum) * pm[c]);
                rv[size_t(c)] = float((1.0 - momentum) * rv[size_t(c)] + double(momentum) * pv[c] * unbias);
            }
            Tensor(running_mean).copy_(from_vector(rm, {C}));  // a handle on the same storage
            Tensor(running_var).copy_(from_vector(rv, {C}));
        }
    } else {
        ENG_CHECK(running_mean.defined(), op, ": evaluation mode needs running_mean and running_var (input ",
                  shape_str(x.shape()), "). HINT: pass the buffers, or training = true to use batch statistics");
        // Copies, so that a later in-place update of the buffers cannot change what backward sees.
        std::vector<float> rm = running_mean.to_vector(), rv = running_var.to_vector();
        for (int64_t c = 0; c < C; ++c) {
            pm[c] = rm[size_t(c)];
            pr[c] = float(1.0 / std::sqrt(double(rv[size_t(c)]) + double(eps)));
        }
    }
    Tensor wc = pack(weight), bc = pack(bias);
    cpu::batchnorm_forward(r.out.data<float>(), xc.data<float>(), pm, pr, ptr_or_null(wc), ptr_or_null(bc), N, C, L);
    return r;
}

NormGrads batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                              const Tensor& rstd, bool training, bool need_x, bool need_weight, bool need_bias) {
    const char* op = "batch_norm backward";
    ENG_CHECK(grad_y.shape() == x.shape(), op, ": gradient shape ", shape_str(grad_y.shape()),
              " differs from the input's ", shape_str(x.shape()));
    check_same_device(x, grad_y, op);
    int64_t N, C, L;
    batch_dims(x, op, &N, &C, &L);
    Tensor gc = grad_y.contiguous(), xc = x.contiguous(), wc = pack(weight);
    NormGrads g;
    if (need_x) g.dx = zeros_on(x.shape(), x);
    if (need_weight) g.dweight = zeros_on({C}, x);
    if (need_bias) g.dbias = zeros_on({C}, x);
    (x.is_cuda() ? cuda::batchnorm_backward : cpu::batchnorm_backward)(need_x ? g.dx.data<float>() : nullptr, need_weight ? g.dweight.data<float>() : nullptr,
                            need_bias ? g.dbias.data<float>() : nullptr, gc.data<float>(), xc.data<float>(),
                            ptr_or_null(wc), mean.data<float>(), rstd.data<float>(), N, C, L, training);
    return g;
}

// ---- L2 normalisation ----------------------------------------------------------------------

// Splits x's shape around `dim` into [outer, C, inner].
static void split_at(const Shape& s, int64_t dim, int64_t* outer, int64_t* C, int64_t* inner) {
    *outer = 1;
    *inner = 1;
    for (int64_t d = 0; d < dim; ++d) *outer *= s[size_t(d)];
    *C = s[size_t(dim)];
    for (size_t d = size_t(dim) + 1; d < s.size(); ++d) *inner *= s[d];
}

Tensor l2_normalize(const Tensor& x, int64_t dim_in, float eps, Tensor* norm) {
    const char* op = "l2_normalize";
    check_dtype(x, DType::f32, op, "input");
    ENG_CHECK(x.dim() >= 1, op, ": needs at least one dimension, got a scalar of shape ", shape_str(x.shape()));
    ENG_CHECK(eps > 0.0f, op, ": eps must be positive, got ", eps);
    int64_t dim = normalize_dim(dim_in, x.dim(), op);
    int64_t outer, C, inner;
    split_at(x.shape(), dim, &outer, &C, &inner);
    Shape norm_shape = x.shape();
    norm_shape.erase(norm_shape.begin() + dim);
    Tensor xc = x.contiguous();
    Tensor y = empty_on(x.shape(), x), n = empty_on(norm_shape, x);
    (x.is_cuda() ? cuda::l2norm_forward : cpu::l2norm_forward)(y.data<float>(), n.data<float>(), xc.data<float>(), outer, C, inner, eps);
    if (norm) *norm = n;
    return y;
}

Tensor l2_normalize_backward(const Tensor& grad_y, const Tensor& x, const Tensor& norm, int64_t dim_in, float eps) {
    const char* op = "l2_normalize backward";
    ENG_CHECK(grad_y.shape() == x.shape(), op, ": gradient shape ", shape_str(grad_y.shape()),
              " differs from the input's ", shape_str(x.shape()));
    check_same_device(x, grad_y, op);
    int64_t dim = normalize_dim(dim_in, x.dim(), op);
    int64_t outer, C, inner;
    split_at(x.shape(), dim, &outer, &C, &inner);
    Tensor gc = grad_y.contiguous(), xc = x.contiguous(), nc = norm.contiguous();
    Tensor dx = zeros_on(x.shape(), x);
    (x.is_cuda() ? cuda::l2norm_backward : cpu::l2norm_backward)(dx.data<float>(), gc.data<float>(), xc.data<float>(), nc.data<float>(), outer, C, inner, eps);
    return dx;
}

}  // namespace eng::kernels
