// linear.cpp: autograd wrapper of the fused linear layer.
//
// With the leading dims flattened, y [N, out] = X [N, in] · Wᵀ + 1·bᵀ, and for
// upstream G = dL/dy:
//   dX = G · W          (each output row mixes back through the weights)
//   dW = Gᵀ · X         (sum over the N rows of the outer products g_n x_nᵀ)
//   db = Gᵀ · 1         (the column sums of G: b is added to every row)
// For GPT-2's [in, out] storage the weight gradient is the transpose, Xᵀ · G.
#include "autograd/linear.h"

#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/saved.h"
#include "tensor/linear.h"

namespace eng {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, bool weight_in_out) {
    profile::Scope profile_scope("linear");
    ENG_CHECK(x.dim() >= 1, "linear: input must have at least one dim");
    int64_t in = x.size(-1);
    Shape lead(x.shape().begin(), x.shape().end() - 1);
    Tensor x2 = raw_reshape(x, {x.numel() / std::max<int64_t>(in, 1), in});
    Tensor y2 = kernels::linear_forward(x2, weight, bias, weight_in_out);
    Shape out_shape = lead;
    out_shape.push_back(y2.size(1));
    Tensor y = raw_reshape(y2, out_shape);
    if (!autograd::any_requires_grad({x, weight, bias})) return autograd::untracked(y, {x, weight, bias});
    bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
    // Keep only what the wanted gradients read: dX needs W, dW needs X.  A
    // frozen weight (LoRA's base layers) thus does not keep its input alive:
    // in a wholly frozen GPT-2 block that frees the LayerNorm and GELU outputs
    // (with LoRA on c_attn, lora_A's trainable weight still keeps ln_1's).
    // X is read only by the dW product (x2 is an untracked reshape of x: an
    // activation exactly when x is).
    autograd::SavedTensor sx = need_w ? autograd::SavedTensor::for_products(x2, !x.is_leaf()) : autograd::SavedTensor();
    autograd::SavedTensor sw = need_x ? autograd::SavedTensor(weight) : autograd::SavedTensor();
    const int64_t rows = x2.size(0);
    Shape x_shape = x.shape();
    return autograd::record("linear", y, {x, weight, bias}, [=](const Tensor& g) -> std::vector<Tensor> {
        Tensor g2 = raw_reshape(g, {rows, g.size(-1)});
        kernels::LinearGrads d = kernels::linear_backward(g2, sx.get(), sw.get(), weight_in_out, need_x, need_w, need_b);
        return {d.x.defined() ? raw_reshape(d.x, x_shape) : d.x, d.weight, d.bias};
    });
}

}  // namespace eng
