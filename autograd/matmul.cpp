// matmul.cpp: autograd wrapper of matmul.
//
// For C = A·B with upstream G = dL/dC:
//   dA = G · Bᵀ   and   dB = Aᵀ · G,
// each summed over the batch dims that broadcasting added.  The transposes are
// views, which the GEMM consumes directly.  1-D operands are lifted to 2-D
// first so the same rule applies, and the gradient is reshaped back.
#include "autograd/matmul.h"

#include "autograd/node.h"
#include "autograd/profile.h"
#include "tensor/kernels.h"

namespace eng {

Tensor matmul(const Tensor& a, const Tensor& b) {
    profile::Scope profile_scope("matmul");
    Tensor out = kernels::matmul(a, b);
    if (!autograd::any_requires_grad({a, b})) return out;
    Tensor sa = a.detach(), sb = b.detach();
    bool need_a = a.requires_grad(), need_b = b.requires_grad();
    return autograd::record("matmul", out, {a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
        Tensor A = sa.dim() == 1 ? raw_unsqueeze(sa, 0) : sa;
        Tensor B = sb.dim() == 1 ? raw_unsqueeze(sb, 1) : sb;
        // Restore the dims that 1-D operands dropped from the output.
        Tensor G = g;
        if (sa.dim() == 1) G = raw_unsqueeze(G, G.dim() - (sb.dim() == 1 ? 0 : 1));
        if (sb.dim() == 1) G = raw_unsqueeze(G, G.dim());
        Tensor ga, gb;
        if (need_a) ga = raw_reshape(kernels::sum_to(kernels::matmul(G, raw_transpose(B, -1, -2)), A.shape()), sa.shape());
        if (need_b) gb = raw_reshape(kernels::sum_to(kernels::matmul(raw_transpose(A, -1, -2), G), B.shape()), sb.shape());
        return {ga, gb};
    });
}

}  // namespace eng
