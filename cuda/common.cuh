// common.cuh: what every CUDA file of the backend shares: error checking for
// CUDA calls and kernel launches, launch-size helpers, warp/block reductions,
// and the device copy of the engine's counter-based random hash.
//
// CUDA_CHECK wraps every runtime call; after each kernel launch, check_launch()
// reads the launch error and, when the environment variable ENG_CUDA_SYNC=1 is
// set, synchronises so that an asynchronous fault is reported at the kernel that
// caused it rather than at some later call.
//
// All kernels run on the default stream, in order, so a buffer freed to the
// caching allocator can be handed out again at once: any later kernel that
// writes the reused block is queued after every kernel that read it.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/check.h"

#define CUDA_CHECK(call)                                                                               \
    do {                                                                                               \
        cudaError_t err_ = (call);                                                                     \
        if (err_ != cudaSuccess) ENG_FAIL("CUDA error in ", #call, ": ", cudaGetErrorString(err_));    \
    } while (0)

namespace eng::cuda {

void check_launch(const char* kernel);  // defined in device.cu

constexpr int kThreads = 256;  // the default block size (a multiple of 32: the reductions need full warps)

// Blocks for n elements with `threads` per block, capped so that grid-stride
// loops cover the rest (the cap keeps the grid inside CUDA's limits).
inline int blocks_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    const int64_t cap = int64_t(1) << 20;
    return int(b < 1 ? 1 : (b > cap ? cap : b));
}

// Grid-stride loop over [0, n).
#define CUDA_KERNEL_LOOP(i, n)                                                                   \
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);                    \
         i += int64_t(blockDim.x) * gridDim.x)

// ---- reductions inside a warp and a block ---------------------------------------------

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
    for (int o = 16; o > 0; o >>= 1) {
        T w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    return v;
}

// Sum over the whole block; every thread receives the total.  `shared` holds
// 32 entries.  blockDim.x must be a multiple of 32.  The leading barrier makes
// it safe to call several times in a row with the same buffer.  The order of
// additions is fixed by the block size, so results are reproducible.
template <typename T>
__device__ T block_sum(T v, T* shared) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    T r = lane < nwarps ? shared[lane] : T(0);
    return warp_sum(r);
}

template <typename T>
__device__ T block_max(T v, T* shared, T lowest) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    T r = lane < nwarps ? shared[lane] : lowest;
    return warp_max(r);
}

// ---- the counter-based generator (tensor/random.h), bit for bit ------------------------
// random_word(seed, k) and word_to_uniform must stay identical to the host
// versions: a dropout mask drawn on the GPU equals the CPU's (tests check it).
__device__ __forceinline__ uint64_t random_word_dev(uint64_t seed, uint64_t counter) {
    uint64_t z = seed + (counter + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
__device__ __forceinline__ float word_to_uniform_dev(uint64_t w) { return float(w >> 40) * (1.0f / 16777216.0f); }

}  // namespace eng::cuda

// ---- strided operands ----------------------------------------------------------------------
namespace eng::cuda {

constexpr int kMaxDims = 8;

// K operands read (or written) through strides over one iteration shape.  Built
// on the host by collapse_dims; passed to kernels by value.
template <int K>
struct StridedDims {
    int ndim = 0;
    int64_t numel = 1;
    int64_t shape[kMaxDims] = {};
    int64_t stride[K][kMaxDims] = {};
};

// The row-major strides of a packed tensor of `shape`: the output operand of
// the strided kernels (their first operand), next to the inputs' own strides.
struct PackedStrides {
    int64_t stride[64];
    PackedStrides(int ndim, const int64_t* shape, const char* op) {
        ENG_CHECK(ndim <= 64, op, ": too many dimensions (", ndim, ")");
        int64_t s = 1;
        for (int d = ndim - 1; d >= 0; --d) {
            stride[d] = s;
            s *= shape[d];
        }
    }
};

// Drops size-1 dims and merges neighbours that every operand walks as one
// (stride[d] == stride[d+1]·shape[d+1]), so most views collapse to 1-3 dims and
// views of more than 8 dims usually still fit.
template <int K>
StridedDims<K> collapse_dims(int ndim, const int64_t* shape, const int64_t* const (&strides)[K], const char* op) {
    StridedDims<K> v;
    int64_t sh[64], st[K][64];
    ENG_CHECK(ndim <= 64, op, ": too many dimensions (", ndim, ")");
    int n = 0;
    for (int d = 0; d < ndim; ++d) {
        v.numel *= shape[d];
        if (shape[d] == 1) continue;
        bool merge = n > 0;
        for (int k = 0; k < K && merge; ++k) merge = st[k][n - 1] == strides[k][d] * shape[d];
        if (merge) {
            sh[n - 1] *= shape[d];
            for (int k = 0; k < K; ++k) st[k][n - 1] = strides[k][d];
        } else {
            sh[n] = shape[d];
            for (int k = 0; k < K; ++k) st[k][n] = strides[k][d];
            ++n;
        }
    }
    ENG_CHECK(n <= kMaxDims, op, ": views that cannot be collapsed to ", kMaxDims,
              " dimensions are not supported on CUDA (", n, " after collapsing). HINT: call contiguous() first");
    v.ndim = n;
    for (int d = 0; d < n; ++d) {
        v.shape[d] = sh[d];
        for (int k = 0; k < K; ++k) v.stride[k][d] = st[k][d];
    }
    return v;
}

// Offsets of element i (row-major over v.shape) in each operand.  The index is
// decoded with 32-bit division whenever the view has fewer than 2^32 elements:
// a 64-bit division is a long software sequence on the GPU, and with it the
// strided copies and broadcasts ran at a fraction of memory bandwidth.
template <int K>
__device__ __forceinline__ void strided_offsets(const StridedDims<K>& v, int64_t i, int64_t (&off)[K]) {
    for (int k = 0; k < K; ++k) off[k] = 0;
    if (v.numel <= int64_t(0xffffffffu)) {
        uint32_t j = uint32_t(i);
        for (int d = v.ndim - 1; d >= 0; --d) {
            const uint32_t n = uint32_t(v.shape[d]), idx = j % n;
            j /= n;
            for (int k = 0; k < K; ++k) off[k] += int64_t(idx) * v.stride[k][d];
        }
        return;
    }
    for (int d = v.ndim - 1; d >= 0; --d) {
        int64_t idx = i % v.shape[d];
        i /= v.shape[d];
        for (int k = 0; k < K; ++k) off[k] += idx * v.stride[k][d];
    }
}

// Row-major C_i = alpha·op(A_i)·op(B_i) + beta·C_i for i < batch, where A_i, B_i,
// C_i come from DEVICE arrays of pointers (cuBLAS's GemmBatchedEx; the f32
// precision mode of set_matmul_precision applies).  For operands that no single
// stride describes, e.g. attention heads of views [B, H, T, d] (cuda/gemm.cu).
void gemm_batched_pointers(bool trans_a, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                           const float* const* A, int64_t lda, const float* const* B, int64_t ldb, float beta,
                           float* const* C, int64_t ldc);

}  // namespace eng::cuda
