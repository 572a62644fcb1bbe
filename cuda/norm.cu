// norm.cu: CUDA layer norm, batch norm and L2 normalisation (contracts of
// tensor/cpu/norm.h; the gradient formulas are derived in autograd/norm.cpp).
//
// Layer norm: one block per row for the statistics and dx.  dweight/dbias are
// sums over rows: chunks of rows are summed per column into a partial buffer,
// then the chunks are added in order, so the result is deterministic (no atomics).
// Batch norm: one block per channel (statistics, and the whole backward).
// L2 norm: one thread per normalised line.  Sums accumulate in double as on the CPU.
#include <cmath>

#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

constexpr int kRowThreads = 256;
constexpr int64_t kRowsPerChunk = 256;  // rows per partial sum of the column reductions

static void check_grid(int64_t n, const char* op) {
    ENG_CHECK(n < (int64_t(1) << 31), op, ": too many rows (", n, ") for CUDA");
}

// ---- layer norm ----------------------------------------------------------------------------------

__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                         const float* bias, int64_t C, float eps) {
    __shared__ double dsh[32];
    const int64_t i = blockIdx.x;
    const float* x = inp + i * C;
    float* y = out + i * C;
    double m = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) m += x[j];
    m = block_sum(m, dsh) / double(C);
    double v = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) v += (x[j] - m) * (x[j] - m);
    v = block_sum(v, dsh) / double(C);
    float s = float(1.0 / sqrt(v + double(eps)));
    float fm = float(m);
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
        float xhat = (x[j] - fm) * s;
        y[j] = xhat * (weight ? weight[j] : 1.0f) + (bias ? bias[j] : 0.0f);
    }
    if (threadIdx.x == 0) {
        mean[i] = fm;
        rstd[i] = s;
    }
}

__global__ void layernorm_dx_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                    const float* mean, const float* rstd, int64_t C) {
    __shared__ double dsh[32];
    const int64_t i = blockIdx.x;
    const float* g = dout + i * C;
    const float* x = inp + i * C;
    float* dx = dinp + i * C;
    const float mi = mean[i], ri = rstd[i];
    // the two row means of the dx formula: mean(dxhat) and mean(dxhat · xhat)
    double a = 0, b = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
        float dxhat = g[j] * (weight ? weight[j] : 1.0f);
        float xhat = (x[j] - mi) * ri;
        a += dxhat;
        b += double(dxhat) * xhat;
    }
    a = block_sum(a, dsh);
    b = block_sum(b, dsh);
    float ma = float(a / double(C)), mb = float(b / double(C));
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
        float dxhat = g[j] * (weight ? weight[j] : 1.0f);
        float xhat = (x[j] - mi) * ri;
        dx[j] = ri * (dxhat - ma - xhat * mb);  // written, as the CPU kernel (tensor/cpu/norm.h)
    }
}

// partial_w/partial_b: [chunks, C] doubles; chunk c sums rows [c·R, (c+1)·R).
__global__ void layernorm_dwb_partial_kernel(double* partial_w, double* partial_b, const float* dout,
                                             const float* inp, const float* mean, const float* rstd, int64_t N,
                                             int64_t C) {
    const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t chunk = blockIdx.y;
    if (j >= C) return;
    const int64_t r0 = chunk * kRowsPerChunk, r1 = r0 + kRowsPerChunk < N ? r0 + kRowsPerChunk : N;
    double sw = 0, sb = 0;
    for (int64_t i = r0; i < r1; ++i) {
        float g = dout[i * C + j];
        sw += double(g) * ((inp[i * C + j] - mean[i]) * rstd[i]);
        sb += g;
    }
    partial_w[chunk * C + j] = sw;
    partial_b[chunk * C + j] = sb;
}

__global__ void column_finish_kernel(float* dweight, float* dbias, const double* partial_w, const double* partial_b,
                                     int64_t chunks, int64_t C) {
    CUDA_KERNEL_LOOP(j, C) {
        double sw = 0, sb = 0;
        for (int64_t c = 0; c < chunks; ++c) {
            sw += partial_w[c * C + j];
            sb += partial_b[c * C + j];
        }
        if (dweight) dweight[j] += float(sw);
        if (dbias) dbias[j] += float(sb);
    }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps) {
    if (N == 0) return;
    check_grid(N, "layer_norm");
    layernorm_forward_kernel<<<unsigned(N), kRowThreads>>>(out, mean, rstd, inp, weight, bias, C, eps);
    check_launch("layer_norm");
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
    if (N == 0 || C == 0) return;
    check_grid(N, "layer_norm backward");
    if (dinp) {
        layernorm_dx_kernel<<<unsigned(N), kRowThreads>>>(dinp, dout, inp, weight, mean, rstd, C);
        check_launch("layer_norm backward (dx)");
    }
    if (!dweight && !dbias) return;
    const int64_t chunks = (N + kRowsPerChunk - 1) / kRowsPerChunk;
    ENG_CHECK(chunks < 65536, "layer_norm backward: too many rows (", N, ") for CUDA");
    double* partial = static_cast<double*>(alloc(size_t(2 * chunks * C) * sizeof(double)));
    dim3 grid(unsigned((C + kRowThreads - 1) / kRowThreads), unsigned(chunks));
    layernorm_dwb_partial_kernel<<<grid, kRowThreads>>>(partial, partial + chunks * C, dout, inp, mean, rstd, N, C);
    check_launch("layer_norm backward (dweight, dbias partial sums)");
    column_finish_kernel<<<blocks_for(C, kRowThreads), kRowThreads>>>(dweight, dbias, partial, partial + chunks * C,
                                                                      chunks, C);
    check_launch("layer_norm backward (dweight, dbias)");
    free(partial);  // the caching allocator reuses it only for later (stream-ordered) work
}

// ---- batch norm: channel c of sample n is the run inp[(n·C + c)·L .. +L] ------------------------------

__device__ __forceinline__ int64_t bn_index(int64_t k, int64_t c, int64_t C, int64_t L) {
    int64_t n = k / L, l = k - n * L;
    return (n * C + c) * L + l;
}

__global__ void batchnorm_stats_kernel(float* mean, float* var, const float* inp, int64_t N, int64_t C, int64_t L) {
    __shared__ double dsh[32];
    const int64_t c = blockIdx.x, M = N * L;
    double m = 0;
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) m += inp[bn_index(k, c, C, L)];
    m = block_sum(m, dsh) / double(M);
    double v = 0;
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
        double d = inp[bn_index(k, c, C, L)] - m;
        v += d * d;
    }
    v = block_sum(v, dsh);
    if (threadIdx.x == 0) {
        mean[c] = float(m);
        var[c] = float(v / double(M));
    }
}

__global__ void batchnorm_rstd_kernel(float* rstd, const float* var, int64_t C, float eps) {
    CUDA_KERNEL_LOOP(c, C) rstd[c] = float(1.0 / sqrt(double(var[c]) + double(eps)));
}

__global__ void batchnorm_forward_kernel(float* out, const float* inp, const float* mean, const float* rstd,
                                         const float* weight, const float* bias, int64_t total, int64_t C,
                                         int64_t L) {
    CUDA_KERNEL_LOOP(i, total) {
        int64_t c = (i / L) % C;
        float w = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f;
        out[i] = (inp[i] - mean[c]) * rstd[c] * w + b;
    }
}

__global__ void batchnorm_backward_kernel(float* dinp, float* dweight, float* dbias, const float* dout,
                                          const float* inp, const float* weight, const float* mean,
                                          const float* rstd, int64_t N, int64_t C, int64_t L, bool training) {
    __shared__ double dsh[32];
    const int64_t c = blockIdx.x, M = N * L;
    const float w = weight ? weight[c] : 1.0f, mc = mean[c], rc = rstd[c];
    double sg = 0, sgx = 0;
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
        int64_t idx = bn_index(k, c, C, L);
        float g = dout[idx];
        sg += g;
        sgx += double(g) * ((inp[idx] - mc) * rc);
    }
    sg = block_sum(sg, dsh);
    sgx = block_sum(sgx, dsh);
    if (threadIdx.x == 0) {
        if (dweight) dweight[c] += float(sgx);
        if (dbias) dbias[c] += float(sg);
    }
    if (!dinp) return;
    const double count = double(M);
    float ma = training ? float(w * sg / count) : 0.0f;   // mean(dxhat)
    float mb = training ? float(w * sgx / count) : 0.0f;  // mean(dxhat · xhat)
    for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
        int64_t idx = bn_index(k, c, C, L);
        float xhat = (inp[idx] - mc) * rc;
        dinp[idx] += rc * (dout[idx] * w - ma - xhat * mb);
    }
}

void batchnorm_stats(float* mean, float* var, const float* inp, int64_t N, int64_t C, int64_t L) {
    if (C == 0) return;
    check_grid(C, "batch_norm");
    batchnorm_stats_kernel<<<unsigned(C), kRowThreads>>>(mean, var, inp, N, C, L);
    check_launch("batch_norm (statistics)");
}

void batchnorm_rstd(float* rstd, const float* var, int64_t C, float eps) {
    if (C == 0) return;
    batchnorm_rstd_kernel<<<blocks_for(C, kThreads), kThreads>>>(rstd, var, C, eps);
    check_launch("batch_norm (rstd)");
}

void batchnorm_forward(float* out, const float* inp, const float* mean, const float* rstd, const float* weight,
                       const float* bias, int64_t N, int64_t C, int64_t L) {
    int64_t total = N * C * L;
    if (total == 0) return;
    batchnorm_forward_kernel<<<blocks_for(total, kThreads), kThreads>>>(out, inp, mean, rstd, weight, bias, total, C,
                                                                        L);
    check_launch("batch_norm");
}

void batchnorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C, int64_t L,
                        bool training) {
    if (C == 0) return;
    check_grid(C, "batch_norm backward");
    batchnorm_backward_kernel<<<unsigned(C), kRowThreads>>>(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N,
                                                            C, L, training);
    check_launch("batch_norm backward");
}

// ---- L2 normalisation: line (o, i) is inp[o·C·inner + k·inner + i], k < C ----------------------------

__global__ void l2norm_forward_kernel(float* out, float* norm, const float* inp, int64_t outer, int64_t C,
                                      int64_t inner, float eps) {
    CUDA_KERNEL_LOOP(line, outer * inner) {
        int64_t o = line / inner, i = line - o * inner;
        const float* x = inp + o * C * inner + i;
        float* y = out + o * C * inner + i;
        double ss = 0;
        for (int64_t k = 0; k < C; ++k) ss += double(x[k * inner]) * x[k * inner];
        float n = float(sqrt(ss));
        norm[line] = n;
        float inv = 1.0f / (n < eps ? eps : n);  // std::max(n, eps), NaN kept
        for (int64_t k = 0; k < C; ++k) y[k * inner] = x[k * inner] * inv;
    }
}

__global__ void l2norm_backward_kernel(float* dinp, const float* dout, const float* inp, const float* norm,
                                       int64_t outer, int64_t C, int64_t inner, float eps) {
    CUDA_KERNEL_LOOP(line, outer * inner) {
        int64_t o = line / inner, i = line - o * inner;
        const float* x = inp + o * C * inner + i;
        const float* g = dout + o * C * inner + i;
        float* dx = dinp + o * C * inner + i;
        float n = norm[line];
        if (!(n > eps)) {  // y = x / eps: a constant scale
            for (int64_t k = 0; k < C; ++k) dx[k * inner] += g[k * inner] / eps;
            continue;
        }
        double dot = 0;  // Σ g·x
        for (int64_t k = 0; k < C; ++k) dot += double(g[k * inner]) * x[k * inner];
        float inv = 1.0f / n;
        float c2 = float(dot / (double(n) * n * n));
        for (int64_t k = 0; k < C; ++k) dx[k * inner] += g[k * inner] * inv - x[k * inner] * c2;
    }
}

void l2norm_forward(float* out, float* norm, const float* inp, int64_t outer, int64_t C, int64_t inner, float eps) {
    int64_t lines = outer * inner;
    if (lines == 0) return;
    l2norm_forward_kernel<<<blocks_for(lines, kThreads), kThreads>>>(out, norm, inp, outer, C, inner, eps);
    check_launch("l2_normalize");
}

void l2norm_backward(float* dinp, const float* dout, const float* inp, const float* norm, int64_t outer, int64_t C,
                     int64_t inner, float eps) {
    int64_t lines = outer * inner;
    if (lines == 0) return;
    l2norm_backward_kernel<<<blocks_for(lines, kThreads), kThreads>>>(dinp, dout, inp, norm, outer, C, inner, eps);
    check_launch("l2_normalize backward");
}

}  // namespace eng::cuda
