// reduce.cu: CUDA reductions over the rows of a packed [rows, len] matrix (the
// front-end tensor/reduce.cpp permutes the reduced dims last and packs them).
//
// Long rows: one block per row, each thread accumulating a strided slice, then a
// fixed-shape tree (cuda/common.cuh), so the result is the same on every run.
// Short rows (len <= 32): one thread per row, summing in index order.
// Sums accumulate in double like the CPU rows, so the two agree to f32 rounding.
// Max/Min keep the CPU's rule: the first NaN wins, else the extreme with the
// smallest index.
#include <cmath>

#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

using kernels::Reduce;

// (value, index) candidate of a max/min: is `b` preferred over `a`?
// NaN beats everything (lowest index among NaNs), then the better value, then the lower index.
__device__ __forceinline__ bool extreme_better(bool is_max, float bv, int64_t bi, float av, int64_t ai) {
    bool an = isnan(av), bn = isnan(bv);
    if (an || bn) return bn && (!an || bi < ai);
    if (bv == av) return bi < ai;
    return is_max ? bv > av : bv < av;
}

__device__ float empty_row_value(Reduce op) {
    if (op == Reduce::LogSumExp) return -INFINITY;
    if (op == Reduce::Mean) return NAN;
    return 0.0f;
}

// One thread per row, in index order.  (The CPU vectorises its row sums and its
// exp, so the two agree to f32 rounding, not bit for bit.)
__global__ void reduce_short_kernel(Reduce op, float* out, int32_t* indices, const float* x, int64_t rows,
                                    int64_t len, int64_t correction) {
    CUDA_KERNEL_LOOP(r, rows) {
        const float* p = x + r * len;
        if (len == 0) {
            out[r] = empty_row_value(op);
            continue;
        }
        switch (op) {
            case Reduce::Sum:
            case Reduce::Mean: {
                double s = 0;
                for (int64_t i = 0; i < len; ++i) s += p[i];
                out[r] = float(op == Reduce::Mean ? s / double(len) : s);
                break;
            }
            case Reduce::Max:
            case Reduce::Min: {
                int64_t best = 0;
                for (int64_t i = 1; i < len; ++i)
                    if (extreme_better(op == Reduce::Max, p[i], i, p[best], best)) best = i;
                out[r] = p[best];
                if (indices) indices[r] = int32_t(best);
                break;
            }
            case Reduce::LogSumExp: {
                // The maximum with NaN kept (fmaxf drops it): a NaN anywhere gives NaN, as on the CPU.
                float m = -INFINITY;
                for (int64_t i = 0; i < len; ++i) m = (p[i] != p[i] || p[i] > m) ? p[i] : m;
                if (isinf(m) || isnan(m)) {
                    out[r] = m;
                    break;
                }
                double s = 0;
                for (int64_t i = 0; i < len; ++i) s += exp(double(p[i] - m));
                out[r] = m + float(log(s));
                break;
            }
            case Reduce::Var: {
                double mean = 0;
                for (int64_t i = 0; i < len; ++i) mean += p[i];
                mean /= double(len);
                double ss = 0;
                for (int64_t i = 0; i < len; ++i) ss += (p[i] - mean) * (p[i] - mean);
                int64_t dof = len - correction > 0 ? len - correction : 0;
                out[r] = float(ss / double(dof));
                break;
            }
        }
    }
}

// One block per row.
__global__ void reduce_long_kernel(Reduce op, float* out, int32_t* indices, const float* x, int64_t len,
                                   int64_t correction) {
    __shared__ double dsh[32];
    __shared__ float fsh[32];
    __shared__ float best_v[32];
    __shared__ int64_t best_i[32];
    const int64_t r = blockIdx.x;
    const float* p = x + r * len;
    const int tid = threadIdx.x;
    switch (op) {
        case Reduce::Sum:
        case Reduce::Mean: {
            double s = 0;
            for (int64_t i = tid; i < len; i += blockDim.x) s += p[i];
            s = block_sum(s, dsh);
            if (tid == 0) out[r] = float(op == Reduce::Mean ? s / double(len) : s);
            break;
        }
        case Reduce::Max:
        case Reduce::Min: {
            const bool is_max = op == Reduce::Max;
            float bv = p[tid < len ? tid : 0];
            int64_t bi = tid < len ? tid : 0;
            for (int64_t i = tid + blockDim.x; i < len; i += blockDim.x)
                if (extreme_better(is_max, p[i], i, bv, bi)) {
                    bv = p[i];
                    bi = i;
                }
            // warp, then block: pairwise with the same preference rule (associative and commutative)
            for (int o = 16; o > 0; o >>= 1) {
                float ov = __shfl_xor_sync(0xffffffffu, bv, o);
                int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
                if (extreme_better(is_max, ov, oi, bv, bi)) {
                    bv = ov;
                    bi = oi;
                }
            }
            const int lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;
            if (lane == 0) {
                best_v[warp] = bv;
                best_i[warp] = bi;
            }
            __syncthreads();
            if (tid == 0) {
                for (int w = 1; w < nwarps; ++w)
                    if (extreme_better(is_max, best_v[w], best_i[w], bv, bi)) {
                        bv = best_v[w];
                        bi = best_i[w];
                    }
                out[r] = bv;
                if (indices) indices[r] = int32_t(bi);
            }
            break;
        }
        case Reduce::LogSumExp: {
            // A NaN anywhere gives NaN, as on the CPU: fmaxf and block_max drop
            // NaN, so the threads' NaN flags are reduced alongside.
            float m = -INFINITY, nan = 0.0f;
            for (int64_t i = tid; i < len; i += blockDim.x) {
                m = fmaxf(m, p[i]);
                if (p[i] != p[i]) nan = 1.0f;
            }
            m = block_max(m, fsh, -INFINITY);
            if (block_max(nan, fsh, 0.0f) != 0.0f) m = NAN;
            if (isinf(m) || isnan(m)) {
                if (tid == 0) out[r] = m;
                break;
            }
            double s = 0;
            for (int64_t i = tid; i < len; i += blockDim.x) s += exp(double(p[i] - m));
            s = block_sum(s, dsh);
            if (tid == 0) out[r] = m + float(log(s));
            break;
        }
        case Reduce::Var: {
            double s = 0;
            for (int64_t i = tid; i < len; i += blockDim.x) s += p[i];
            double mean = block_sum(s, dsh) / double(len);
            double ss = 0;
            for (int64_t i = tid; i < len; i += blockDim.x) ss += (p[i] - mean) * (p[i] - mean);
            ss = block_sum(ss, dsh);
            int64_t dof = len - correction > 0 ? len - correction : 0;
            if (tid == 0) out[r] = float(ss / double(dof));
            break;
        }
    }
}

void reduce_rows(Reduce op, float* out, int32_t* indices, const float* x, int64_t rows, int64_t len,
                 int64_t correction) {
    if (rows == 0) return;
    if (len <= 32) {
        reduce_short_kernel<<<blocks_for(rows, kThreads), kThreads>>>(op, out, indices, x, rows, len, correction);
    } else {
        ENG_CHECK(rows < (int64_t(1) << 31), kernels::reduce_name(op), ": too many rows (", rows, ") for CUDA");
        reduce_long_kernel<<<unsigned(rows), kThreads>>>(op, out, indices, x, len, correction);
    }
    check_launch(kernels::reduce_name(op));
}

__global__ void scatter_rows_kernel(float* out, const float* g, const int32_t* idx, int64_t rows, int64_t len) {
    CUDA_KERNEL_LOOP(r, rows) out[r * len + idx[r]] = g[r];
}

void scatter_rows(float* out, const float* g, const int32_t* idx, int64_t rows, int64_t len) {
    if (rows == 0) return;
    scatter_rows_kernel<<<blocks_for(rows, kThreads), kThreads>>>(out, g, idx, rows, len);
    check_launch("max/min backward");
}

__global__ void sum_scaled_kernel(float* out, const float* x, int64_t n, double scale) {
    __shared__ double sh[32];
    double s = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) out[0] = float(s * scale);
}

void sum_scaled(float* out, const float* x, int64_t n, double scale) {
    sum_scaled_kernel<<<1, 1024>>>(out, x, n, scale);
    check_launch("sum_scaled");
}

}  // namespace eng::cuda
