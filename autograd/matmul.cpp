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
#include "autograd/saved.h"
#include "tensor/kernels.h"

namespace eng {

Tensor matmul(const Tensor& a, const Tensor& b) {
    profile::Scope profile_scope("matmul");
    Tensor out = kernels::matmul(a, b);
    if (!autograd::any_requires_grad({a, b})) return autograd::untracked(out, {a, b});
    bool need_a = a.requires_grad(), need_b = b.requires_grad();
    // dA reads B and dB reads A: keep only those (a frozen operand's partner is freed).
    using autograd::SavedTensor;
    SavedTensor saved_a = need_b ? SavedTensor::for_products(a, !a.is_leaf()) : SavedTensor(),
                saved_b = need_a ? SavedTensor::for_products(b, !b.is_leaf()) : SavedTensor();
    Shape a_shape = a.shape(), b_shape = b.shape();
    return autograd::record("matmul", out, {a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
        // 1-D operands act as a row (A) or a column (B) matrix.
        const bool a_vec = a_shape.size() == 1, b_vec = b_shape.size() == 1;
        Shape A_shape = a_vec ? Shape{1, a_shape[0]} : a_shape, B_shape = b_vec ? Shape{b_shape[0], 1} : b_shape;
        // Restore the dims that 1-D operands dropped from the output.
        Tensor G = g;
        if (a_vec) G = raw_unsqueeze(G, G.dim() - (b_vec ? 0 : 1));
        if (b_vec) G = raw_unsqueeze(G, G.dim());
        const Tensor sa = saved_a.get(), sb = saved_b.get();
        Tensor ga, gb;
        if (need_a) {
            Tensor B = b_vec ? raw_unsqueeze(sb, 1) : sb;
            ga = raw_reshape(kernels::sum_to(kernels::matmul(G, raw_transpose(B, -1, -2)), A_shape), a_shape);
        }
        if (need_b) {
            Tensor A = a_vec ? raw_unsqueeze(sa, 0) : sa;
            gb = raw_reshape(kernels::sum_to(kernels::matmul(raw_transpose(A, -1, -2), G), B_shape), b_shape);
        }
        return {ga, gb};
    });
}

}  // namespace eng
