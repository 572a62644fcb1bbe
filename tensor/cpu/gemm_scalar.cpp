// gemm_scalar.cpp: the portable GEMM micro-kernel (4 × 8 block, plain C++).
//
// Used when neither vector kernel can run (and by the tests, to check the
// driver independently of any intrinsics).  It follows the same per-element
// arithmetic as the vector kernels (one std::fma chain in increasing k, then
// the alpha/beta update with std::fma), so all kernels agree to rounding of
// the same operations.
#include <cmath>

#include "tensor/cpu/gemm_kernels.h"

namespace eng::cpu {
namespace {

constexpr int MR = 4;
constexpr int NR = 8;

void kernel_scalar(int64_t kc, const float* a, const float* b, float* C, int64_t ldc, float alpha, float beta,
                   const float* bias) {
    float acc[MR][NR] = {};
    for (int64_t k = 0; k < kc; ++k) {
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NR; ++j) acc[i][j] = std::fma(a[i], b[j], acc[i][j]);
        a += MR;
        b += NR;
    }
    for (int i = 0; i < MR; ++i) {
        float* cr = C + i * ldc;
        for (int j = 0; j < NR; ++j) {
            if (bias)
                cr[j] = std::fma(alpha, acc[i][j], bias[j]);
            else if (beta == 0.0f)
                cr[j] = alpha * acc[i][j];
            else if (beta == 1.0f)
                cr[j] = std::fma(alpha, acc[i][j], cr[j]);
            else
                cr[j] = std::fma(alpha, acc[i][j], beta * cr[j]);
        }
    }
}

}  // namespace

const GemmKernel kGemmScalar = {"scalar", MR, NR, kernel_scalar, nullptr};

}  // namespace eng::cpu
