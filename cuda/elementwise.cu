// elementwise.cu: CUDA copies, fills, dtype conversion, and the elementwise ops
// (unary forward/backward, broadcasting binary ops, where, in-place add).
//
// One thread per output element (grid-stride loops).  The unary functions and
// their derivatives mirror tensor/cpu/elementwise.cpp formula for formula, using
// the IEEE-accurate CUDA maths functions (expf, erff, powf ... within 1-4 ulp),
// so results agree with the CPU to ~1e-6 relative.  Strided operands go through
// collapse_dims (cuda/common.cuh) so broadcasting costs one index decode per element.
#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

using kernels::Binary;
using kernels::Unary;

// ---- fills, copies, conversion ---------------------------------------------------------------

__global__ void fill_kernel(float* out, float value, int64_t n) {
    CUDA_KERNEL_LOOP(i, n) out[i] = value;
}

__global__ void add_kernel(float* out, const float* a, const float* b, int64_t n) {
    CUDA_KERNEL_LOOP(i, n) out[i] = a[i] + b[i];
}

void fill_f32(float* out, float value, int64_t n) {
    if (n == 0) return;
    fill_kernel<<<blocks_for(n, kThreads), kThreads>>>(out, value, n);
    check_launch("fill_f32");
}

void add_f32(float* out, const float* a, const float* b, int64_t n) {
    if (n == 0) return;
    add_kernel<<<blocks_for(n, kThreads), kThreads>>>(out, a, b, n);
    check_launch("add_f32");
}

template <typename T>
__global__ void copy2_kernel(T* dst, const T* src, StridedDims<2> v) {
    CUDA_KERNEL_LOOP(i, v.numel) {
        int64_t off[2];
        strided_offsets(v, i, off);
        dst[off[0]] = src[off[1]];
    }
}

static void launch_copy2(void* dst, const void* src, const StridedDims<2>& v, size_t elem, const char* name) {
    if (v.numel == 0) return;
    ENG_CHECK(elem == 2 || elem == 4, name, ": element size ", elem, " is not supported");
    int blocks = blocks_for(v.numel, kThreads);
    if (elem == 2)
        copy2_kernel<<<blocks, kThreads>>>(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), v);
    else
        copy2_kernel<<<blocks, kThreads>>>(static_cast<uint32_t*>(dst), static_cast<const uint32_t*>(src), v);
    check_launch(name);
}

void strided_copy(void* dst, const void* src, int ndim, const int64_t* shape, const int64_t* strides, int64_t n,
                  size_t elem_size) {
    if (n == 0) return;
    const PackedStrides packed(ndim, shape, "strided_copy");
    const int64_t* st[2] = {packed.stride, strides};
    launch_copy2(dst, src, collapse_dims<2>(ndim, shape, st, "strided_copy"), elem_size, "strided_copy");
}

void strided_copy2(void* dst, const int64_t* dst_strides, const void* src, const int64_t* src_strides, int ndim,
                   const int64_t* shape, size_t elem_size) {
    const int64_t* st[2] = {dst_strides, src_strides};
    launch_copy2(dst, src, collapse_dims<2>(ndim, shape, st, "copy_"), elem_size, "strided_copy2");
}

// (The rounding, f32_to_bf16_bits, is tensor/dtype.h's, shared with the host.)
__global__ void convert_kernel(void* dst, int dt, const void* src, int st, int64_t n) {
    CUDA_KERNEL_LOOP(i, n) {
        float v;
        if (st == int(DType::f32)) v = static_cast<const float*>(src)[i];
        else if (st == int(DType::bf16)) v = bf16_bits_to_f32(static_cast<const uint16_t*>(src)[i]);
        else v = float(static_cast<const int32_t*>(src)[i]);
        if (dt == int(DType::f32)) static_cast<float*>(dst)[i] = v;
        else static_cast<uint16_t*>(dst)[i] = f32_to_bf16_bits(v);
    }
}

void convert(void* dst, DType dt, const void* src, DType st, int64_t n) {
    ENG_CHECK(dt != DType::i32, "to(i32): conversion to i32 on CUDA goes through the host (internal error)");
    if (n == 0) return;
    convert_kernel<<<blocks_for(n, kThreads), kThreads>>>(dst, int(dt), src, int(st), n);
    check_launch("convert");
}

__global__ void round_to_bf16_kernel(float* x, int64_t n) {
    CUDA_KERNEL_LOOP(i, n) { x[i] = eng::round_to_bf16(x[i]); }
}

void round_to_bf16(float* x, int64_t n) {
    if (n == 0) return;
    round_to_bf16_kernel<<<blocks_for(n, kThreads), kThreads>>>(x, n);
    check_launch("round_to_bf16");
}

// ---- unary -------------------------------------------------------------------------------------

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

__device__ __forceinline__ float unary_apply(Unary op, float x, float a, float b) {
    switch (op) {
        case Unary::Neg: return -x;
        case Unary::Exp: return expf(x);
        case Unary::Log: return logf(x);
        case Unary::Sqrt: return sqrtf(x);
        case Unary::Rsqrt: return 1.0f / sqrtf(x);
        case Unary::Abs: return fabsf(x);
        case Unary::Tanh: return tanhf(x);
        case Unary::Sigmoid: return 1.0f / (1.0f + expf(-x));
        case Unary::Relu: return x > 0.0f ? x : 0.0f;
        case Unary::GeluErf: return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
        case Unary::GeluTanh: {
            float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
            return 0.5f * x * (1.0f + tanhf(u));
        }
        case Unary::PowScalar: return powf(x, a);
        case Unary::Clamp: {
            // std::min(std::max(x, a), b) exactly, so NaN propagates as on the CPU.
            float t = x < a ? a : x;
            return b < t ? b : t;
        }
    }
    return 0.0f;
}

__device__ __forceinline__ float unary_derivative(Unary op, float x, float y, float a, float b) {
    switch (op) {
        case Unary::Neg: return -1.0f;
        case Unary::Exp: return y;
        case Unary::Log: return 1.0f / x;
        case Unary::Sqrt: return 0.5f / y;
        case Unary::Rsqrt: return -0.5f * y / x;
        case Unary::Abs: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
        case Unary::Tanh: return 1.0f - y * y;
        case Unary::Sigmoid: return y * (1.0f - y);
        case Unary::Relu: return x > 0.0f ? 1.0f : 0.0f;
        case Unary::GeluErf: {
            float cdf = 0.5f * (1.0f + erff(x * kInvSqrt2));
            float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);
            return cdf + x * pdf;
        }
        case Unary::GeluTanh: {
            float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
            float t = tanhf(u);
            float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
            return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
        }
        case Unary::PowScalar: return a == 0.0f ? 0.0f : a * powf(x, a - 1.0f);
        case Unary::Clamp: return (x >= a && x <= b) ? 1.0f : 0.0f;
    }
    return 0.0f;
}

__global__ void unary_forward_kernel(Unary op, float* y, const float* x, int64_t n, float a, float b) {
    CUDA_KERNEL_LOOP(i, n) y[i] = unary_apply(op, x[i], a, b);
}

__global__ void unary_backward_kernel(Unary op, float* dx, const float* x, const float* y, const float* dy, int64_t n,
                                      float a, float b) {
    CUDA_KERNEL_LOOP(i, n) dx[i] = dy[i] * unary_derivative(op, x[i], y[i], a, b);
}

void unary_forward(Unary op, float* y, const float* x, int64_t n, float a, float b) {
    if (n == 0) return;
    unary_forward_kernel<<<blocks_for(n, kThreads), kThreads>>>(op, y, x, n, a, b);
    check_launch(kernels::unary_name(op));
}

void unary_backward(Unary op, float* dx, const float* x, const float* y, const float* dy, int64_t n, float a,
                    float b) {
    if (n == 0) return;
    unary_backward_kernel<<<blocks_for(n, kThreads), kThreads>>>(op, dx, x, y, dy, n, a, b);
    check_launch(kernels::unary_name(op));
}

// ---- binary with broadcasting ----------------------------------------------------------------------

template <Binary OP>
__device__ __forceinline__ float binary_apply(float a, float b) {
    switch (OP) {
        case Binary::Add: return a + b;
        case Binary::Sub: return a - b;
        case Binary::Mul: return a * b;
        case Binary::Div: return a / b;
        case Binary::Pow: return powf(a, b);
    }
    return 0.0f;
}

// Operand 0 is the packed output.
template <Binary OP>
__global__ void binary_kernel(float* out, const float* a, const float* b, StridedDims<3> v) {
    CUDA_KERNEL_LOOP(i, v.numel) {
        int64_t off[3];
        strided_offsets(v, i, off);
        out[off[0]] = binary_apply<OP>(a[off[1]], b[off[2]]);
    }
}

// Fast path: both inputs packed over the output (no index decode).
template <Binary OP>
__global__ void binary_packed_kernel(float* out, const float* a, const float* b, int64_t n) {
    CUDA_KERNEL_LOOP(i, n) out[i] = binary_apply<OP>(a[i], b[i]);
}

template <Binary OP>
static void launch_binary(float* out, const float* a, const float* b, const StridedDims<3>& v) {
    int blocks = blocks_for(v.numel, kThreads);
    bool packed = v.ndim <= 1 && (v.ndim == 0 || (v.stride[1][0] == 1 && v.stride[2][0] == 1));
    if (packed) binary_packed_kernel<OP><<<blocks, kThreads>>>(out, a, b, v.numel);
    else binary_kernel<OP><<<blocks, kThreads>>>(out, a, b, v);
}

void binary(Binary op, float* out, const float* a, const int64_t* a_strides, const float* b,
            const int64_t* b_strides, int ndim, const int64_t* shape) {
    const PackedStrides packed(ndim, shape, kernels::binary_name(op));
    const int64_t* st[3] = {packed.stride, a_strides, b_strides};
    StridedDims<3> v = collapse_dims<3>(ndim, shape, st, kernels::binary_name(op));
    if (v.numel == 0) return;
    switch (op) {
        case Binary::Add: launch_binary<Binary::Add>(out, a, b, v); break;
        case Binary::Sub: launch_binary<Binary::Sub>(out, a, b, v); break;
        case Binary::Mul: launch_binary<Binary::Mul>(out, a, b, v); break;
        case Binary::Div: launch_binary<Binary::Div>(out, a, b, v); break;
        case Binary::Pow: launch_binary<Binary::Pow>(out, a, b, v); break;
    }
    check_launch(kernels::binary_name(op));
}

__global__ void where_kernel(float* out, const float* c, const float* a, const float* b, StridedDims<4> v) {
    CUDA_KERNEL_LOOP(i, v.numel) {
        int64_t off[4];
        strided_offsets(v, i, off);
        out[off[0]] = c[off[1]] != 0.0f ? a[off[2]] : b[off[3]];
    }
}

void where(float* out, const float* cond, const int64_t* c_strides, const float* a, const int64_t* a_strides,
           const float* b, const int64_t* b_strides, int ndim, const int64_t* shape) {
    const PackedStrides packed(ndim, shape, "where");
    const int64_t* st[4] = {packed.stride, c_strides, a_strides, b_strides};
    StridedDims<4> v = collapse_dims<4>(ndim, shape, st, "where");
    if (v.numel == 0) return;
    where_kernel<<<blocks_for(v.numel, kThreads), kThreads>>>(out, cond, a, b, v);
    check_launch("where");
}

__global__ void add_inplace_kernel(float* dst, const float* src, StridedDims<2> v) {
    CUDA_KERNEL_LOOP(i, v.numel) {
        int64_t off[2];
        strided_offsets(v, i, off);
        dst[off[0]] += src[off[1]];
    }
}

void add_inplace(float* dst, const float* src, const int64_t* src_strides, int ndim, const int64_t* shape) {
    const PackedStrides packed(ndim, shape, "add_");
    const int64_t* st[2] = {packed.stride, src_strides};
    StridedDims<2> v = collapse_dims<2>(ndim, shape, st, "add_");
    if (v.numel == 0) return;
    add_inplace_kernel<<<blocks_for(v.numel, kThreads), kThreads>>>(dst, src, v);
    check_launch("add_");
}

}  // namespace eng::cuda
