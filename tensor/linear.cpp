// linear.cpp: fused linear layer kernels (see linear.h).  The CPU f32 path
// calls the GEMM directly; other devices and dtypes compose matmul and add.
#include "tensor/linear.h"

#include "tensor/check.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/reduce.h"
#include "tensor/kernels.h"

#include <algorithm>

namespace eng::kernels {

namespace {

bool cpu_f32(const Tensor& t) { return !t.defined() || (t.device() == Device::CPU && t.dtype() == DType::f32); }

}  // namespace

Tensor linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, bool weight_in_out) {
    ENG_CHECK(x.dim() == 2 && weight.dim() == 2, "linear: expected x [N, in] and a 2-D weight, got x ",
              shape_str(x.shape()), " and weight ", shape_str(weight.shape()));
    int64_t N = x.size(0), in = x.size(1);
    int64_t out = weight_in_out ? weight.size(1) : weight.size(0);
    ENG_CHECK((weight_in_out ? weight.size(0) : weight.size(1)) == in, "linear: x ", shape_str(x.shape()),
              " does not match weight ", shape_str(weight.shape()));
    ENG_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == out), "linear: bias ",
              bias.defined() ? shape_str(bias.shape()) : std::string(), " does not match ", out, " outputs");
    if (!(cpu_f32(x) && cpu_f32(weight) && cpu_f32(bias))) {
        Tensor y = matmul(x, weight_in_out ? weight : raw_transpose(weight, 0, 1));
        return bias.defined() ? binary(Binary::Add, y, bias) : y;
    }
    Tensor X = x.contiguous(), W = weight.contiguous();
    Tensor y = empty({N, out});
    float* Y = y.data<float>();
    // y = X · op(W) (+ bias, added in the GEMM's last write of y): W [out, in]
    // is used transposed; [in, out] as stored.
    const int64_t ldw = weight_in_out ? out : in;
    if (bias.defined()) {
        Tensor b = bias.contiguous();
        cpu::gemm_bias(false, !weight_in_out, N, out, in, 1.0f, X.data<float>(), in, W.data<float>(), ldw,
                       b.data<float>(), Y, out);
    } else {
        cpu::gemm(false, !weight_in_out, N, out, in, 1.0f, X.data<float>(), in, W.data<float>(), ldw, 0.0f, Y,
                  out);
    }
    return y;
}

LinearGrads linear_backward(const Tensor& g, const Tensor& x, const Tensor& weight, bool weight_in_out,
                            bool need_x, bool need_weight, bool need_bias) {
    LinearGrads r;
    ENG_CHECK(!need_x || weight.defined(), "linear backward: the input's gradient needs the weight");
    ENG_CHECK(!need_weight || x.defined(), "linear backward: the weight's gradient needs the input");
    if (!(cpu_f32(g) && cpu_f32(x) && cpu_f32(weight))) {
        // Same products as below, through the general matmul.
        if (need_x) r.x = matmul(g, weight_in_out ? raw_transpose(weight, 0, 1) : weight);  // G · W[out, in]
        if (need_weight) {
            Tensor gw = matmul(raw_transpose(g, 0, 1), x);  // [out, in]
            r.weight = weight_in_out ? raw_transpose(gw, 0, 1).contiguous() : gw;
        }
        if (need_bias) r.bias = sum_to(g, {g.size(1)});
        return r;
    }
    Tensor G = g.contiguous();
    int64_t N = G.size(0), out = G.size(1);
    int64_t in = x.defined() ? x.size(1) : weight.size(weight_in_out ? 0 : 1);
    const float* Gp = G.data<float>();
    if (need_x) {
        // dx [N, in] = G [N, out] · W [out, in]  (with [in, out] storage: G · Wᵀ)
        Tensor W = weight.contiguous();
        r.x = empty({N, in});
        cpu::gemm(false, weight_in_out, N, in, out, 1.0f, Gp, out, W.data<float>(), weight_in_out ? out : in,
                  0.0f, r.x.data<float>(), in);
    }
    if (need_weight) {
        // dW [out, in] = Gᵀ · X;  [in, out] storage: dW = Xᵀ · G.  One GEMM with K = N.
        Tensor X = x.contiguous();
        if (weight_in_out) {
            r.weight = empty({in, out});
            cpu::gemm(true, false, in, out, N, 1.0f, X.data<float>(), in, Gp, out, 0.0f, r.weight.data<float>(), out);
        } else {
            r.weight = empty({out, in});
            cpu::gemm(true, false, out, in, N, 1.0f, Gp, out, X.data<float>(), in, 0.0f, r.weight.data<float>(), in);
        }
    }
    if (need_bias) {
        r.bias = empty({out});
        cpu::sum_leading(r.bias.data<float>(), Gp, N, out, 1.0);
    }
    return r;
}

}  // namespace eng::kernels
