// dropout.cpp: autograd wrapper of dropout.
//
// Dropout, y = x ⊙ m with the saved mask m ∈ {0, 1/(1-p)}: dx = g ⊙ m, so the
// backward drops exactly the elements the forward dropped and scales the rest alike.
#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/nn_ops.h"
#include "tensor/kernels.h"
#include "tensor/nn_kernels.h"

namespace eng {

Tensor dropout(const Tensor& x, float p, bool training, Generator* g) {
    profile::Scope profile_scope("dropout");
    ENG_CHECK(p >= 0.0f && p <= 1.0f, "dropout: probability p = ", p, " is outside [0, 1] (input ",
              shape_str(x.shape()), ")");
    if (!training || p == 0.0f) return x;
    Tensor mask;
    Tensor y = kernels::dropout(x, p, g, &mask);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(y, {x});
    return autograd::record("dropout", y, {x}, [=](const Tensor& gy) -> std::vector<Tensor> {
        return {kernels::binary(kernels::Binary::Mul, gy, mask)};
    });
}

}  // namespace eng
