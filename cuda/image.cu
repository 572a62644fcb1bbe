// image.cu: CUDA patchify and its adjoint (the index map of tensor/image_ops.h).
// Bicubic resizing on the GPU needs no kernel of its own: tensor/image_ops.cpp
// expresses each separable pass as a batched GEMM with the dense weight matrix
// of one axis (cuda::gemm_batched), which is exact and deterministic.
#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

// out [B, N, C·p·p] from x [B, C, H, W]: out[b, gy·GW + gx, (c·p + r)·p + s] = x[b, c, gy·p + r, gx·p + s].
// One thread per output element (consecutive threads read runs of p floats).
__global__ void patchify_forward_kernel(float* out, const float* x, int64_t B, int64_t C, int64_t H, int64_t W,
                                        int64_t p) {
    const int64_t GW = W / p, GH = H / p, D = C * p * p, total = B * GH * GW * D;
    CUDA_KERNEL_LOOP(e, total) {
        int64_t k = e % D, patch = e / D;
        int64_t s = k % p, r = (k / p) % p, c = k / (p * p);
        int64_t gx = patch % GW, gy = (patch / GW) % GH, b = patch / (GW * GH);
        out[e] = x[((b * C + c) * H + gy * p + r) * W + gx * p + s];
    }
}

// dx [B, C, H, W] += the matching element of dout (each dx element has exactly one source).
__global__ void patchify_backward_kernel(float* dx, const float* dout, int64_t B, int64_t C, int64_t H, int64_t W,
                                         int64_t p) {
    const int64_t GW = W / p, GH = H / p, D = C * p * p, total = B * C * H * W;
    CUDA_KERNEL_LOOP(e, total) {
        int64_t xw = e % W, yh = (e / W) % H, c = (e / (W * H)) % C, b = e / (W * H * C);
        int64_t gy = yh / p, r = yh % p, gx = xw / p, s = xw % p;
        dx[e] += dout[(b * GH * GW + gy * GW + gx) * D + (c * p + r) * p + s];
    }
}

void patchify_forward(float* out, const float* x, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
    int64_t total = B * C * H * W;
    if (total == 0) return;
    patchify_forward_kernel<<<blocks_for(total, kThreads), kThreads>>>(out, x, B, C, H, W, p);
    check_launch("patchify");
}

void patchify_backward(float* dx, const float* dout, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
    int64_t total = B * C * H * W;
    if (total == 0) return;
    patchify_backward_kernel<<<blocks_for(total, kThreads), kThreads>>>(dx, dout, B, C, H, W, p);
    check_launch("unpatchify");
}

}  // namespace eng::cuda
