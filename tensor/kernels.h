// kernels.h: the raw tensor operations (no autograd) that autograd/ builds on.
//
// Each function checks its arguments (messages name the op and the shapes),
// allocates the output on the inputs' device, and dispatches once to the CPU
// (tensor/cpu/) or CUDA (cuda/) implementation.  Inputs may be strided views;
// outputs are always packed.  Compute dtype is f32.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace eng::kernels {

// ---- elementwise --------------------------------------------------------------------
enum class Unary { Neg, Exp, Log, Sqrt, Rsqrt, Abs, Tanh, Sigmoid, Relu, GeluErf, GeluTanh, PowScalar, Clamp };
const char* unary_name(Unary op);
// a, b: parameters (PowScalar: exponent a; Clamp: [a, b]).
Tensor unary(Unary op, const Tensor& x, float a = 0.0f, float b = 0.0f);
// Which forward values f'(x) is written with (tensor/cpu/elementwise.cpp):
// the input x (log, relu, GELU, ...), the output y (exp, sqrt, tanh, sigmoid),
// both (rsqrt) or neither (neg).  Autograd saves only these.
struct UnaryReads {
    bool x, y;
};
UnaryReads unary_backward_reads(Unary op);
// dL/dx = dL/dy · f'(x); x is the input and y the output of the forward.
// Either may be undefined when unary_backward_reads says it is not read.
Tensor unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& grad_y, float a = 0.0f,
                      float b = 0.0f);

enum class Binary { Add, Sub, Mul, Div, Pow };
const char* binary_name(Binary op);
Tensor binary(Binary op, const Tensor& a, const Tensor& b);  // NumPy broadcasting
Tensor scale(const Tensor& x, float s);                      // x · s
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond != 0 ? a : b, broadcasting
void add_(const Tensor& dst, const Tensor& src);              // dst += src (same shape, dst packed)
// Every element of t (packed f32) replaced by the nearest bf16 number, ties to
// even (bf16-true, tensor/precision.h).  Any other dtype is left alone.
void round_to_bf16_(const Tensor& t);

// Sums `g` over the dims that broadcasting expanded, giving a tensor of `shape`.
Tensor sum_to(const Tensor& g, const Shape& shape);
// sum_to(g·a, shape) for g and a of one shape: the gradient of a broadcast
// factor of a product.  When shape is a trailing block of g's shape (a
// per-channel scale such as LayerScale's γ) the products are summed as they
// are formed, with no temporary of g's size (CPU f32).
Tensor mul_sum_to(const Tensor& g, const Tensor& a, const Shape& shape);

// ---- reductions -----------------------------------------------------------------------
enum class Reduce { Sum, Mean, Max, Min, LogSumExp, Var };
const char* reduce_name(Reduce op);
// dims empty = all dims.  Max/Min fill *indices (i32, output shape) with the
// position of the extreme value within the flattened reduced dims (first on ties).
// Var uses `correction` (1 = unbiased, as torch.var's default).
Tensor reduce(Reduce op, const Tensor& x, std::vector<int64_t> dims, bool keepdim, Tensor* indices = nullptr,
              int64_t correction = 1);
// √(Σ x²) over all elements, as a 0-d f32 tensor on x's device (f32 or bf16
// input).  On the CPU the squares are summed in double, in a fixed order for
// any thread count; on the GPU it is reduce(Sum) of x·x in f32, so there a
// norm above about 1.8e19 reads as inf (on the CPU only above 3.4e38).
// Non-finite when any element is (what gradient clipping and the NaN guard of
// training ask).
Tensor l2_norm(const Tensor& x);
// Normalises a dims list (wraps negatives, sorts, rejects repeats); empty = all.
std::vector<int64_t> reduce_dims(const Shape& shape, const std::vector<int64_t>& dims, const char* op);
// The output shape of a reduction.
Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim);

// ---- matmul ---------------------------------------------------------------------------
// a [..., M, K] · b [..., K, N] with batch broadcasting; 1-D operands as in
// torch.matmul.  Transposed views are passed to the GEMM as transposes (no copy).
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace eng::kernels
