// gemm.h: the one internal matrix-multiply entry point of the CPU backend.
//
// Row-major single-precision GEMM:  C = alpha · op(A) · op(B) + beta · C
//   op(A) is [M, K]: A itself ([M, K], row stride lda) or, with trans_a, the
//   transpose of a stored [K, M] matrix (row stride lda).  Likewise op(B) is
//   [K, N]: B ([K, N], ldb) or, with trans_b, the transpose of a stored [N, K].
//   C is [M, N] with row stride ldc.  beta == 0 means C is overwritten (its old
//   contents, even NaN, are ignored), as in BLAS.
// Every matmul of the engine (forward and both backward products) goes through
// these two functions, so the kernel behind them can be swapped freely.
#pragma once
#include <cstdint>

namespace eng::cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// C = alpha · op(A) · op(B) + bias, the bias (N values) added to every row:
// a linear layer's forward.  The bias enters in the micro-kernel's final
// update of C, fma(alpha, acc, bias), so C is written once and never read;
// the result equals filling C with the bias and calling gemm with beta = 1.
void gemm_bias(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, const float* bias, float* C, int64_t ldc);

// `batch` independent GEMMs; matrix i starts at A + i·stride_a (and so on).
// A stride of 0 reuses one matrix for every batch entry (broadcasting).
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                  float beta, float* C, int64_t ldc, int64_t stride_c);

// Precision of the products.  fp32 (the default) is exact single precision.
// bf16 rounds both operands to bfloat16 and accumulates in f32 (products of
// bf16 values are exact in f32), the numerics of GPU bf16 autocast.  On AMD's
// Zen 4 and 5 it multiplies with the AVX512-BF16 dot-product instruction, at
// about twice the f32 arithmetic rate; Intel's cores run that instruction at
// half the rate, so there the f32 kernel multiplies the rounded operands (the
// same operand values, summed in another order within pairs of k, and with
// subnormals kept where the dot route flushes them to zero: results differ
// between the two routes by f32 rounding).  Results stay bitwise independent
// of the thread count in every mode.
enum class GemmPrecision { fp32, bf16 };
// Throws eng::Error for bf16 on a CPU without AVX512-BF16 (gemm_bf16_supported).
void set_gemm_precision(GemmPrecision p);
GemmPrecision gemm_precision();
bool gemm_bf16_supported();

// Name of the micro-kernel in use: "avx512", "avx2" or "scalar" (chosen at
// run time from the CPU's features; tests can force one, see gemm_kernels.h),
// or under bf16 "avx512-bf16" (the dot-product route) or "avx512-bf16-fma".
const char* gemm_kernel_name();

}  // namespace eng::cpu
