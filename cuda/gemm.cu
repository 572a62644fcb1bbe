// gemm.cu: the engine's GEMM on the GPU, through cuBLAS.
//
// The engine is row-major, cuBLAS column-major.  A row-major [R, C] matrix with
// row stride ld is, read column-major, its transpose [C, R] with the same ld.
// So the row-major product C = op(A)·op(B) is computed as the column-major
//   Cᵀ = op(B)ᵀ·op(A)ᵀ
// by passing B first and A second, with m = N, n = M, and each operand's own
// transpose flag unchanged (a stored row-major [K, N] B is, column-major, the
// [N, K] matrix Bᵀ that the product wants as its first factor: op N; a stored
// [N, K] B with trans_b is read column-major as [K, N] = B, whose transpose
// is wanted: op T).  No operand is copied for the layout (bf16 mode may copy
// large ones to bf16, below).
//
// One cuBLAS handle per device, created on first use.  f32 GEMMs use plain
// FP32 maths by default (CUBLAS_COMPUTE_32F: no TF32), so results agree with the
// CPU GEMM to f32 rounding; set_matmul_precision(tf32 | bf16) selects the tensor
// cores through the compute types CUBLAS_COMPUTE_32F_FAST_TF32 / _FAST_16BF,
// which round the f32 operands inside cuBLAS (below kNativeBf16Flops in bf16 mode).
// bf16 GEMMs take bf16 A and B, accumulate and write f32 (cublasGemmStridedBatchedEx
// with CUBLAS_COMPUTE_32F).
//
// In bf16 mode a large f32 product does not use _FAST_16BF: measured on an
// H200 it ran no faster than TF32 (BENCHMARKS.md, "GPU"), because cuBLAS
// converts the f32 operands itself on the way.  Instead both operands are
// rounded to bf16 copies first (round to nearest even, as the CPU's bf16
// GEMM does) and the product runs as a native bf16 GEMM with f32
// accumulation.  The copies cost one read and a half-size write of each
// operand, small next to a product of at least kNativeBf16Flops.
#include <cublas_v2.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <string>

#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

static const char* cublas_status_name(cublasStatus_t s) {
    switch (s) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
        default: return "unknown cuBLAS status";
    }
}

#define CUBLAS_CHECK(call)                                                                          \
    do {                                                                                            \
        cublasStatus_t st_ = (call);                                                                \
        if (st_ != CUBLAS_STATUS_SUCCESS) ENG_FAIL("cuBLAS error in ", #call, ": ", cublas_status_name(st_)); \
    } while (0)

static MatmulPrecision g_precision = MatmulPrecision::fp32;
void set_matmul_precision(MatmulPrecision p) { g_precision = p; }
MatmulPrecision matmul_precision() { return g_precision; }

static cublasComputeType_t compute_type() {
    switch (g_precision) {
        case MatmulPrecision::tf32: return CUBLAS_COMPUTE_32F_FAST_TF32;
        case MatmulPrecision::bf16: return CUBLAS_COMPUTE_32F_FAST_16BF;
        default: return CUBLAS_COMPUTE_32F;
    }
}

static cublasHandle_t handle() {
    constexpr int kMaxDevices = 16;
    static cublasHandle_t handles[kMaxDevices] = {};
    static std::mutex mu;
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    ENG_CHECK(dev >= 0 && dev < kMaxDevices, "cuBLAS: device index ", dev, " is beyond the supported ", kMaxDevices);
    std::lock_guard<std::mutex> lock(mu);
    if (!handles[dev]) CUBLAS_CHECK(cublasCreate(&handles[dev]));
    // Default stream, like every kernel of the backend (so ordering is implicit).
    CUBLAS_CHECK(cublasSetStream(handles[dev], 0));
    return handles[dev];
}

static int to_int(int64_t v, const char* what) {
    ENG_CHECK(v >= 0 && v <= INT_MAX, "gemm: ", what, " = ", v, " does not fit cuBLAS's 32-bit int");
    return int(v);
}

// C = beta·C for a K == 0 product (cuBLAS would do the same, but being explicit
// avoids relying on its handling of k = 0).
__global__ void scale_matrices_kernel(float* C, int64_t batch, int64_t M, int64_t N, int64_t ldc, int64_t stride_c,
                                      float beta) {
    CUDA_KERNEL_LOOP(i, batch * M * N) {
        int64_t b = i / (M * N), r = (i / N) % M, c = i % N;
        float* p = C + b * stride_c + r * ldc + c;
        *p = beta == 0.0f ? 0.0f : beta * *p;
    }
}

struct GemmArgs {
    cublasOperation_t op_first, op_second;  // for B, then A (see the file comment)
    int m, n, k, lda, ldb, ldc;
};

static bool prepare(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float beta, float* C,
                    int64_t ldc, int64_t stride_c, int64_t lda, int64_t ldb, GemmArgs* g) {
    if (batch == 0 || M == 0 || N == 0) return false;
    ENG_CHECK(batch == 1 || stride_c != 0, "gemm: the output stride of a batched GEMM must not be 0");
    if (K == 0) {
        scale_matrices_kernel<<<blocks_for(batch * M * N, kThreads), kThreads>>>(C, batch, M, N, ldc, stride_c, beta);
        check_launch("gemm (K = 0)");
        return false;
    }
    g->op_first = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    g->op_second = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    g->m = to_int(N, "N");
    g->n = to_int(M, "M");
    g->k = to_int(K, "K");
    g->lda = to_int(lda, "lda");
    g->ldb = to_int(ldb, "ldb");
    g->ldc = to_int(ldc, "ldc");
    to_int(batch, "batch");
    return true;
}

// Both strided products: A and B of `in_type`, f32 C, the given compute type.
static void gemm_strided_ex(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                            const void* A, int64_t lda, int64_t stride_a, const void* B, int64_t ldb, int64_t stride_b,
                            float beta, float* C, int64_t ldc, int64_t stride_c, cudaDataType in_type,
                            cublasComputeType_t compute, const char* name) {
    GemmArgs g;
    if (!prepare(trans_a, trans_b, batch, M, N, K, beta, C, ldc, stride_c, lda, ldb, &g)) return;
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(handle(), g.op_first, g.op_second, g.m, g.n, g.k, &alpha, B, in_type, g.ldb,
                                            (long long)stride_b, A, in_type, g.lda, (long long)stride_a, &beta, C,
                                            CUDA_R_32F, g.ldc, (long long)stride_c, int(batch), compute,
                                            CUBLAS_GEMM_DEFAULT));
    check_launch(name);
}

// Products of at least this many FLOPs take the native bf16 path in bf16 mode
// (unless set_bf16_copies(false) or ENG_CUDA_BF16_COPIES=0 turns it off).
constexpr double kNativeBf16Flops = 1e9;
static bool g_bf16_copies = [] {
    const char* e = std::getenv("ENG_CUDA_BF16_COPIES");
    return !(e && std::string(e) == "0");
}();
void set_bf16_copies(bool on) { g_bf16_copies = on; }
bool bf16_copies() { return g_bf16_copies; }

// Elements from an operand's first element to its last: batch matrices of
// rows × cols, row stride ld, matrix stride `stride` (0: one shared matrix).
static int64_t operand_span(int64_t batch, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
    return (batch - 1) * stride + (rows - 1) * ld + cols;
}

// A bf16 copy of an f32 operand's whole span (the gaps between strided rows
// are converted too: they lie inside the operand's storage, and are never read
// by the product), from the caching allocator, given back when it goes out of
// scope (also when the second copy or the product throws).
struct Bf16Copy {
    void* p;
    Bf16Copy(const float* x, int64_t n) : p(alloc(size_t(n) * 2)) { convert(p, DType::bf16, x, DType::f32, n); }
    ~Bf16Copy() { free(p); }  // the caching allocator hands the block out again only to later kernels on the stream
    Bf16Copy(const Bf16Copy&) = delete;
    Bf16Copy& operator=(const Bf16Copy&) = delete;
};

void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b,
                  float beta, float* C, int64_t ldc, int64_t stride_c) {
    const double flops = 2.0 * double(batch) * double(M) * double(N) * double(K);
    if (g_precision == MatmulPrecision::bf16 && g_bf16_copies && K > 0 && flops >= kNativeBf16Flops) {
        const Bf16Copy a16(A, operand_span(batch, stride_a, trans_a ? K : M, trans_a ? M : K, lda));
        const Bf16Copy b16(B, operand_span(batch, stride_b, trans_b ? N : K, trans_b ? K : N, ldb));
        gemm_strided_ex(trans_a, trans_b, batch, M, N, K, alpha, a16.p, lda, stride_a, b16.p, ldb, stride_b, beta, C,
                        ldc, stride_c, CUDA_R_16BF, CUBLAS_COMPUTE_32F, "gemm_batched (bf16 copies of f32 operands)");
        return;
    }
    gemm_strided_ex(trans_a, trans_b, batch, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc,
                    stride_c, CUDA_R_32F, compute_type(), "gemm_batched (cublasGemmStridedBatchedEx, f32)");
}

void gemm_batched_bf16(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                       const void* A, int64_t lda, int64_t stride_a, const void* B, int64_t ldb, int64_t stride_b,
                       float beta, float* C, int64_t ldc, int64_t stride_c) {
    gemm_strided_ex(trans_a, trans_b, batch, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc,
                    stride_c, CUDA_R_16BF, CUBLAS_COMPUTE_32F, "gemm_batched_bf16 (cublasGemmStridedBatchedEx)");
}

void gemm_batched_pointers(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                           const float* const* A, int64_t lda, const float* const* B, int64_t ldb, float beta,
                           float* const* C, int64_t ldc) {
    ENG_CHECK(K > 0, "gemm_batched_pointers: K must be positive");
    GemmArgs g;
    if (!prepare(trans_a, trans_b, batch, M, N, K, beta, nullptr, ldc, 1, lda, ldb, &g)) return;
    CUBLAS_CHECK(cublasGemmBatchedEx(handle(), g.op_first, g.op_second, g.m, g.n, g.k, &alpha,
                                     reinterpret_cast<const void* const*>(B), CUDA_R_32F, g.ldb,
                                     reinterpret_cast<const void* const*>(A), CUDA_R_32F, g.lda, &beta,
                                     reinterpret_cast<void* const*>(C), CUDA_R_32F, g.ldc, int(batch), compute_type(),
                                     CUBLAS_GEMM_DEFAULT));
    check_launch("gemm_batched_pointers (cublasGemmBatchedEx)");
}

}  // namespace eng::cuda
