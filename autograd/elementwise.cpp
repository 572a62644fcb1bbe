// elementwise.cpp: autograd wrappers of the elementwise kernels.
//
// Binary ops with broadcasting: the gradient for an input that was broadcast is
// the upstream gradient summed over the broadcast dims (kernels::sum_to).
//   add: da = g,        db = g
//   sub: da = g,        db = -g
//   mul: da = g·b,      db = g·a
//   div: da = g/b,      db = -g·a/b²
//   pow: da = g·b·a^(b-1) (0 where b = 0), db = g·a^b·ln a (0 where a = 0)
#include "autograd/elementwise.h"

#include "autograd/node.h"
#include "autograd/profile.h"
#include "autograd/saved.h"
#include "tensor/kernels.h"

namespace eng {

using kernels::Binary;
using kernels::Unary;

static Tensor scalar_like(float s, const Tensor& t) { return scalar_tensor(s, TensorOptions{DType::f32, t.device()}); }

static Tensor binary_op(Binary op, const Tensor& a, const Tensor& b) {
    profile::Scope profile_scope(kernels::binary_name(op));
    Tensor out = kernels::binary(op, a, b);
    if (!autograd::any_requires_grad({a, b})) return autograd::untracked(out, {a, b});
    bool need_a = a.requires_grad(), need_b = b.requires_grad();
    // Save only what the wanted gradients read (add and sub: nothing but the
    // shapes), so that e.g. a residual sum or a LayerScale product that
    // nothing else needs is freed after the forward.
    bool keep_a = (op == Binary::Mul && need_b) || (op == Binary::Pow);
    bool keep_b = (op == Binary::Mul && need_a) || (op == Binary::Div) || (op == Binary::Pow);
    bool keep_out = (op == Binary::Div || op == Binary::Pow) && need_b;
    using autograd::SavedTensor;
    SavedTensor saved_a = keep_a ? SavedTensor(a) : SavedTensor(), saved_b = keep_b ? SavedTensor(b) : SavedTensor(),
                saved_out = keep_out ? SavedTensor(out, true) : SavedTensor();
    Shape a_shape = a.shape(), b_shape = b.shape();
    return autograd::record(kernels::binary_name(op), out, {a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
        const Tensor sa = saved_a.get(), sb = saved_b.get(), so = saved_out.get();
        Tensor ga, gb;
        switch (op) {
            case Binary::Add:
                if (need_a) ga = g;
                if (need_b) gb = g;
                break;
            case Binary::Sub:
                if (need_a) ga = g;
                if (need_b) gb = kernels::unary(Unary::Neg, g);
                break;
            case Binary::Mul: {
                // g·other summed to this input's shape.  An input that was
                // broadcast against a full-size other (LayerScale's γ) gets
                // the sum formed as the products are: no temporary of g's size.
                auto factor_grad = [&g](const Tensor& other, const Shape& shape) {
                    return shape != g.shape() && other.shape() == g.shape() ? kernels::mul_sum_to(g, other, shape)
                                                                            : kernels::binary(Binary::Mul, g, other);
                };
                if (need_a) ga = factor_grad(sb, a_shape);
                if (need_b) gb = factor_grad(sa, b_shape);
                break;
            }
            case Binary::Div:
                if (need_a) ga = kernels::binary(Binary::Div, g, sb);
                // -g·a/b² = -g·out/b
                if (need_b) gb = kernels::unary(Unary::Neg, kernels::binary(Binary::Div, kernels::binary(Binary::Mul, g, so), sb));
                break;
            case Binary::Pow: {
                // At a = 0 the formulas read 0·0⁻¹ (b = 0) and 0ᵇ·ln 0; as
                // PyTorch, da is 0 where b = 0 (a⁰ is constant) and db is 0
                // where a = 0 and b ≥ 0 (0ᵇ is constant there; for b < 0 it
                // stays -inf).  where(c, x, y) takes x where c ≠ 0.
                const Tensor zero = scalar_like(0.0f, sa);
                if (need_a) {
                    Tensor bm1 = kernels::binary(Binary::Sub, sb, scalar_like(1.0f, sb));
                    ga = kernels::binary(Binary::Mul, g, kernels::binary(Binary::Mul, sb, kernels::binary(Binary::Pow, sa, bm1)));
                    ga = kernels::where(sb, ga, zero);
                }
                if (need_b) {
                    gb = kernels::binary(Binary::Mul, g, kernels::binary(Binary::Mul, so, kernels::unary(Unary::Log, sa)));
                    // relu(-b) ≠ 0 exactly where b < 0.
                    const Tensor b_negative = kernels::unary(Unary::Relu, kernels::unary(Unary::Neg, sb));
                    gb = kernels::where(sa, gb, kernels::where(b_negative, gb, zero));
                }
                break;
            }
        }
        if (ga.defined()) ga = kernels::sum_to(ga, a_shape);
        if (gb.defined()) gb = kernels::sum_to(gb, b_shape);
        return {ga, gb};
    });
}

Tensor add(const Tensor& a, const Tensor& b) { return binary_op(Binary::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op(Binary::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(Binary::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(Binary::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary_op(Binary::Pow, a, b); }
Tensor add(const Tensor& a, float s) { return add(a, scalar_like(s, a)); }
Tensor sub(const Tensor& a, float s) { return sub(a, scalar_like(s, a)); }
Tensor mul(const Tensor& a, float s) { return mul(a, scalar_like(s, a)); }
Tensor div(const Tensor& a, float s) { return div(a, scalar_like(s, a)); }
Tensor rsub(float s, const Tensor& a) { return sub(scalar_like(s, a), a); }

static Tensor unary_op(Unary op, const Tensor& x, float a = 0.0f, float b = 0.0f) {
    profile::Scope profile_scope(kernels::unary_name(op));
    Tensor y = kernels::unary(op, x, a, b);
    if (!autograd::any_requires_grad({x})) return autograd::untracked(y, {x});
    // Save only what the derivative is written with (GELU: x; exp: y), so
    // an output that nothing else needs is freed after the forward.
    const kernels::UnaryReads reads = kernels::unary_backward_reads(op);
    using autograd::SavedTensor;
    SavedTensor sx = reads.x ? SavedTensor(x) : SavedTensor(), sy = reads.y ? SavedTensor(y, true) : SavedTensor();
    return autograd::record(kernels::unary_name(op), y, {x}, [=](const Tensor& g) -> std::vector<Tensor> {
        return {kernels::unary_backward(op, sx.get(), sy.get(), g, a, b)};
    });
}

Tensor neg(const Tensor& x) { return unary_op(Unary::Neg, x); }
Tensor exp(const Tensor& x) { return unary_op(Unary::Exp, x); }
Tensor log(const Tensor& x) { return unary_op(Unary::Log, x); }
Tensor sqrt(const Tensor& x) { return unary_op(Unary::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary_op(Unary::Rsqrt, x); }
Tensor abs(const Tensor& x) { return unary_op(Unary::Abs, x); }
Tensor tanh(const Tensor& x) { return unary_op(Unary::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary_op(Unary::Sigmoid, x); }
Tensor relu(const Tensor& x) { return unary_op(Unary::Relu, x); }
Tensor gelu(const Tensor& x, bool approximate) { return unary_op(approximate ? Unary::GeluTanh : Unary::GeluErf, x); }
Tensor pow(const Tensor& x, float exponent) { return unary_op(Unary::PowScalar, x, exponent); }
Tensor clamp(const Tensor& x, float lo, float hi) {
    ENG_CHECK(lo <= hi, "clamp: min ", lo, " is greater than max ", hi);
    return unary_op(Unary::Clamp, x, lo, hi);
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
    profile::Scope profile_scope("where");
    Tensor out = kernels::where(cond, a, b);
    if (!autograd::any_requires_grad({a, b})) return autograd::untracked(out, {a, b});
    Tensor sc = cond.detach();
    Shape sa = a.shape(), sb = b.shape();
    bool need_a = a.requires_grad(), need_b = b.requires_grad();
    // The gradient follows the selected branch: g where cond, else 0 (and vice versa).
    return autograd::record("where", out, {Tensor(), a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
        Tensor zero = scalar_like(0.0f, g), ga, gb;
        if (need_a) ga = kernels::sum_to(kernels::where(sc, g, zero), sa);
        if (need_b) gb = kernels::sum_to(kernels::where(sc, zero, g), sb);
        return {Tensor(), ga, gb};
    });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, float value) {
    return where(mask, scalar_like(value, x), x);
}

}  // namespace eng
