// softmax.cu: CUDA softmax, log_softmax and the fused cross-entropy over the rows
// of a packed [N, C] buffer (contracts of tensor/cpu/softmax.h).
//
// One block per row.  As on the CPU, exp is only taken of x - max(x) <= 0 (no
// overflow) and row sums accumulate in double, so results agree with the CPU to
// f32 rounding; the fixed block shape makes every run give the same bits.
// Backward kernels accumulate (+=) into the gradient buffer.
#include <cmath>

#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

constexpr int kRowThreads = 256;

// max_j x_j over the row (NaN ignored, as the CPU's row_max).
__device__ float row_max(const float* x, int64_t C, float* fsh) {
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) m = x[j] > m ? x[j] : m;
    return block_max(m, fsh, -INFINITY);
}

// log Σ exp(x) = m + log Σ exp(x - m), as its two parts (m, returned in
// every thread, and log_s): as on the CPU they are kept apart, since their
// float sum would lose log_s's low bits when the logits are large.
__device__ float row_log_sumexp_shifted(const float* x, int64_t C, float* fsh, double* dsh, float& m) {
    m = row_max(x, C, fsh);
    double s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) s += exp(double(x[j] - m));
    s = block_sum(s, dsh);
    return float(log(s));
}

__global__ void softmax_forward_kernel(float* out, const float* inp, int64_t C, bool log_form) {
    __shared__ float fsh[32];
    __shared__ double dsh[32];
    const float* x = inp + int64_t(blockIdx.x) * C;
    float* y = out + int64_t(blockIdx.x) * C;
    if (log_form) {
        float m;
        const float log_s = row_log_sumexp_shifted(x, C, fsh, dsh, m);
        for (int64_t j = threadIdx.x; j < C; j += blockDim.x) y[j] = (x[j] - m) - log_s;
        return;
    }
    float m = row_max(x, C, fsh);
    double s = 0;
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
        float e = expf(x[j] - m);
        y[j] = e;
        s += e;
    }
    s = block_sum(s, dsh);
    float inv = float(1.0 / s);
    // Each thread rescales the entries it wrote itself, so no barrier is needed.
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) y[j] *= inv;
}

__global__ void softmax_backward_kernel(float* dinp, const float* dout, const float* out, int64_t C, bool log_form) {
    __shared__ double dsh[32];
    const int64_t row = int64_t(blockIdx.x) * C;
    const float* g = dout + row;
    const float* y = out + row;
    float* dx = dinp + row;
    double s = 0;  // softmax: Σ g·y; log_softmax: Σ g
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) s += log_form ? double(g[j]) : double(g[j]) * double(y[j]);
    float fs = float(block_sum(s, dsh));
    if (log_form) {
        for (int64_t j = threadIdx.x; j < C; j += blockDim.x) dx[j] += g[j] - expf(y[j]) * fs;
    } else {
        for (int64_t j = threadIdx.x; j < C; j += blockDim.x) dx[j] += y[j] * (g[j] - fs);
    }
}

static void check_rows(int64_t N, const char* op) {
    ENG_CHECK(N < (int64_t(1) << 31), op, ": too many rows (", N, ") for CUDA");
}

void softmax_forward(float* out, const float* inp, int64_t N, int64_t C) {
    if (N == 0 || C == 0) return;
    check_rows(N, "softmax");
    softmax_forward_kernel<<<unsigned(N), kRowThreads>>>(out, inp, C, false);
    check_launch("softmax");
}

void log_softmax_forward(float* out, const float* inp, int64_t N, int64_t C) {
    if (N == 0 || C == 0) return;
    check_rows(N, "log_softmax");
    softmax_forward_kernel<<<unsigned(N), kRowThreads>>>(out, inp, C, true);
    check_launch("log_softmax");
}

void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C) {
    if (N == 0 || C == 0) return;
    check_rows(N, "softmax backward");
    softmax_backward_kernel<<<unsigned(N), kRowThreads>>>(dinp, dout, out, C, false);
    check_launch("softmax backward");
}

void log_softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C) {
    if (N == 0 || C == 0) return;
    check_rows(N, "log_softmax backward");
    softmax_backward_kernel<<<unsigned(N), kRowThreads>>>(dinp, dout, out, C, true);
    check_launch("log_softmax backward");
}

__global__ void crossentropy_forward_kernel(float* losses, float* lse, const float* logits, const int32_t* targets,
                                            int64_t C, int64_t ignore_index) {
    __shared__ float fsh[32];
    __shared__ double dsh[32];
    const int64_t i = blockIdx.x;
    const float* x = logits + i * C;
    float m;
    const float log_s = row_log_sumexp_shifted(x, C, fsh, dsh, m);
    if (threadIdx.x == 0) {
        lse[i] = m + log_s;
        // -log softmax(x)[t] = lse - x[t] = (m - x[t]) + log_s
        losses[i] = targets[i] == ignore_index ? 0.0f : (m - x[targets[i]]) + log_s;
    }
}

// The forward's lse is not read: as on the CPU, softmax(x) = exp((x - m) -
// log_s) is recomputed from the row to keep log_s's low bits.
__global__ void crossentropy_backward_kernel(float* dlogits, const float* logits, const int32_t* targets,
                                             float dloss, int64_t C, int64_t ignore_index) {
    __shared__ float fsh[32];
    __shared__ double dsh[32];
    const int64_t i = blockIdx.x;
    if (targets[i] == ignore_index) return;  // the whole block returns: contributes nothing to the mean
    const float* x = logits + i * C;
    float* dx = dlogits + i * C;
    const int64_t t = targets[i];
    float m;
    const float log_s = row_log_sumexp_shifted(x, C, fsh, dsh, m);
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
        float d = dloss * expf((x[j] - m) - log_s);
        // The CPU adds the softmax term, then subtracts dloss at the target: same order here.
        if (j == t) dx[j] = (dx[j] + d) - dloss;
        else dx[j] += d;
    }
}

void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                          int64_t C, int64_t ignore_index) {
    if (N == 0) return;
    check_rows(N, "cross_entropy");
    crossentropy_forward_kernel<<<unsigned(N), kRowThreads>>>(losses, lse, logits, targets, C, ignore_index);
    check_launch("cross_entropy");
}

void crossentropy_backward(float* dlogits, const float* logits, const float* /*lse: recomputed*/,
                           const int32_t* targets, float dloss, int64_t N, int64_t C, int64_t ignore_index) {
    if (N == 0 || C == 0) return;
    check_rows(N, "cross_entropy backward");
    crossentropy_backward_kernel<<<unsigned(N), kRowThreads>>>(dlogits, logits, targets, dloss, C, ignore_index);
    check_launch("cross_entropy backward");
}

}  // namespace eng::cuda
