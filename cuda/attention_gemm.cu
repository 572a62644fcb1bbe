// attention_gemm.cu: scaled dot-product attention on the GPU through cuBLAS
// (the default CUDA path, cuda_backend.h's AttentionKernel::gemm).
//
// The fused kernels of attention.cu never store T×S, but they compute on the
// f32 CUDA cores, a warp per row: a few TFLOP/s.  Here the two products of each
// head run as batched GEMMs on the tensor cores (at the matmul precision), and
// the scores of a chunk of heads live in a workspace bounded by kWorkspaceBytes,
// so memory still does not grow with the number of heads or the batch (a
// single head's T×S is the floor: at 32768 tokens that is 4 GiB, a case for
// the fused or flash kernels):
//
//   forward, per chunk of (b, h):  W = c·Q·Kᵀ  (GEMM)
//                                  P = softmax over visible keys, lse  (one block per row)
//                                  O = P·V  (GEMM)
//   backward (the maths of autograd/attention.cpp):
//                                  W = c·Q·Kᵀ, P = exp(W − lse) on visible keys  (GEMM, kernel)
//                                  dP = dO·Vᵀ  (GEMM)
//                                  dS = P ⊙ (dP − D),  D_i = Σ_j P_ij dP_ij   (= dO_i·O_i; one block per row)
//                                  dV += Pᵀ·dO,  dQ += c·dS·K,  dK += c·dSᵀ·Q  (GEMMs)
// Heads are addressed through arrays of pointers built on the device (q, k, v
// may be strided views: one stride between batches, another between heads).
// Masks, the causal rule and the fully-masked-row convention (O = 0,
// lse = −inf, zero gradient) are those of tensor/cpu/attention.h.
#include <algorithm>
#include <cmath>

#include "cuda/attention.cuh"
#include "cuda/common.cuh"

namespace eng::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t(1) << 30;  // scores of one chunk of heads (×2 in backward)

// ptr[i] = base + (bh / H)·sb + (bh % H)·sh for bh = first + i.
__global__ void head_pointers_kernel(const float** ptr, const float* base, int64_t sb, int64_t sh, int64_t H,
                                     int64_t first, int64_t count) {
    CUDA_KERNEL_LOOP(i, count) {
        const int64_t bh = first + i;
        ptr[i] = base + (bh / H) * sb + (bh % H) * sh;
    }
}

__device__ __forceinline__ bool visible(const uint8_t* keep, bool causal, int64_t S, int64_t b, int64_t i,
                                        int64_t j) {
    return !(causal && j > i) && !(keep && !keep[b * S + j]);
}

// Rows of up to kCached keys stay in registers between the passes of the row
// kernels below (each thread always touches the same columns j = tid + t·blockDim),
// so a row is read once and written once; longer rows are re-read from memory.
constexpr int kPerThread = 8;
constexpr int64_t kCached = int64_t(kPerThread) * kThreads;

// One block per score row (bh − first, i) of W [count, T, S]: in place,
// W = softmax over the visible keys (0 elsewhere) and lse = log Σ exp(W).
template <bool CACHED>
__global__ void softmax_rows_kernel(float* W, float* lse, const uint8_t* keep, bool causal, int64_t H, int64_t T,
                                    int64_t S, int64_t first) {
    __shared__ float red[32];
    const int64_t r = blockIdx.x, bh = first + r / T, b = bh / H, i = r % T;
    float* w = W + r * S;
    float x[CACHED ? kPerThread : 1];
    float m = -INFINITY;
    if (CACHED) {
#pragma unroll
        for (int t = 0; t < kPerThread; ++t) {
            const int64_t j = threadIdx.x + int64_t(t) * blockDim.x;
            x[t] = j < S && visible(keep, causal, S, b, i, j) ? w[j] : -INFINITY;
            m = fmaxf(m, x[t]);
        }
    } else {
        for (int64_t j = threadIdx.x; j < S; j += blockDim.x)
            if (visible(keep, causal, S, b, i, j)) m = fmaxf(m, w[j]);
    }
    m = block_max(m, red, -INFINITY);
    float l = 0.0f;
    if (CACHED) {
#pragma unroll
        for (int t = 0; t < kPerThread; ++t) {
            x[t] = (m != -INFINITY && x[t] != -INFINITY) ? expf(x[t] - m) : 0.0f;
            l += x[t];
        }
    } else if (m != -INFINITY) {
        for (int64_t j = threadIdx.x; j < S; j += blockDim.x)
            if (visible(keep, causal, S, b, i, j)) l += expf(w[j] - m);
    }
    l = block_sum(l, red);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    if (CACHED) {
#pragma unroll
        for (int t = 0; t < kPerThread; ++t) {
            const int64_t j = threadIdx.x + int64_t(t) * blockDim.x;
            if (j < S) w[j] = x[t] * inv;
        }
    } else {
        for (int64_t j = threadIdx.x; j < S; j += blockDim.x)
            w[j] = (m != -INFINITY && visible(keep, causal, S, b, i, j)) ? expf(w[j] - m) * inv : 0.0f;
    }
    if (threadIdx.x == 0) lse[bh * T + i] = l > 0.0f ? m + logf(l) : -INFINITY;
}

// One block per row: P = exp(W − lse) on visible keys (in W), then
// dS = P ⊙ (dP − D) with D = Σ_j P_ij dP_ij (in dP).
template <bool CACHED>
__global__ void softmax_grad_rows_kernel(float* W, float* dP, const float* lse, const uint8_t* keep, bool causal,
                                         int64_t H, int64_t T, int64_t S, int64_t first) {
    __shared__ float red[32];
    const int64_t r = blockIdx.x, bh = first + r / T, b = bh / H, i = r % T;
    float* w = W + r * S;
    float* g = dP + r * S;
    const float L = lse[bh * T + i];
    float p[CACHED ? kPerThread : 1], gv[CACHED ? kPerThread : 1];
    float D = 0.0f;
    if (CACHED) {
#pragma unroll
        for (int t = 0; t < kPerThread; ++t) {
            const int64_t j = threadIdx.x + int64_t(t) * blockDim.x;
            p[t] = (j < S && L != -INFINITY && visible(keep, causal, S, b, i, j)) ? expf(w[j] - L) : 0.0f;
            gv[t] = j < S ? g[j] : 0.0f;
            if (j < S) w[j] = p[t];
            D += p[t] * gv[t];
        }
    } else {
        for (int64_t j = threadIdx.x; j < S; j += blockDim.x) {
            const float pj = (L != -INFINITY && visible(keep, causal, S, b, i, j)) ? expf(w[j] - L) : 0.0f;
            w[j] = pj;
            D += pj * g[j];
        }
    }
    D = block_sum(D, red);
    if (CACHED) {
#pragma unroll
        for (int t = 0; t < kPerThread; ++t) {
            const int64_t j = threadIdx.x + int64_t(t) * blockDim.x;
            if (j < S) g[j] = p[t] * (gv[t] - D);
        }
    } else {
        for (int64_t j = threadIdx.x; j < S; j += blockDim.x) g[j] = w[j] * (g[j] - D);
    }
}

// Device pointer arrays for one chunk: the operands' heads and the workspace slices.
struct HeadPointers {
    const float** a;
    size_t bytes;
    explicit HeadPointers(int64_t n_arrays, int64_t count)
        : a(static_cast<const float**>(alloc(size_t(n_arrays * count) * sizeof(float*)))),
          bytes(size_t(n_arrays * count) * sizeof(float*)) {}
    ~HeadPointers() { free(a); }
    HeadPointers(const HeadPointers&) = delete;
    HeadPointers& operator=(const HeadPointers&) = delete;
};

void fill(const float** dst, const float* base, int64_t sb, int64_t sh, int64_t H, int64_t first, int64_t count) {
    head_pointers_kernel<<<blocks_for(count, kThreads), kThreads>>>(dst, base, sb, sh, H, first, count);
    check_launch("attention (head pointers)");
}

// Heads per chunk: the score workspaces (`buffers` of them, T×S each) within kWorkspaceBytes.
int64_t chunk_heads(const cpu::AttnDims& n, int buffers) {
    const size_t per_head = size_t(n.T) * size_t(n.S) * sizeof(float) * size_t(buffers);
    return std::max<int64_t>(1, std::min<int64_t>(n.B * n.H, int64_t(kWorkspaceBytes / std::max<size_t>(per_head, 1))));
}

}  // namespace

void attention_forward_gemm(float* out, float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                            const cpu::AttnOperand& v, const cpu::AttnDims& n) {
    const int64_t BH = n.B * n.H;
    if (BH * n.T == 0) return;
    if (n.S == 0) {  // no keys at all: every row fully masked
        fill_f32(out, 0.0f, BH * n.T * n.dv);
        fill_f32(lse, -INFINITY, BH * n.T);
        return;
    }
    const int64_t chunk = chunk_heads(n, 1);
    float* W = static_cast<float*>(alloc(size_t(chunk * n.T * n.S) * sizeof(float)));
    HeadPointers p(5, chunk);  // q, k, v, out, W
    const float **pq = p.a, **pk = p.a + chunk, **pv = p.a + 2 * chunk, **po = p.a + 3 * chunk,
                **pw = p.a + 4 * chunk;
    for (int64_t first = 0; first < BH; first += chunk) {
        const int64_t c = std::min(chunk, BH - first);
        fill(pq, q.p, q.sb, q.sh, n.H, first, c);
        fill(pk, k.p, k.sb, k.sh, n.H, first, c);
        fill(pv, v.p, v.sb, v.sh, n.H, first, c);
        fill(po, out, n.H * n.T * n.dv, n.T * n.dv, n.H, first, c);
        fill(pw, W, n.T * n.S, 0, 1, 0, c);  // slice i of the workspace
        gemm_batched_pointers(false, true, c, n.T, n.S, n.d, n.scale, pq, q.st, pk, k.st, 0.0f,
                              const_cast<float* const*>(pw), n.S);
        if (n.S <= kCached)
            softmax_rows_kernel<true><<<unsigned(c * n.T), kThreads>>>(W, lse, n.keep, n.causal, n.H, n.T, n.S, first);
        else
            softmax_rows_kernel<false><<<unsigned(c * n.T), kThreads>>>(W, lse, n.keep, n.causal, n.H, n.T, n.S, first);
        check_launch("attention (softmax rows)");
        gemm_batched_pointers(false, false, c, n.T, n.dv, n.S, 1.0f, pw, n.S, pv, v.st, 0.0f,
                              const_cast<float* const*>(po), n.dv);
    }
    free(W);
}

void attention_backward_gemm(float* dq, float* dk, float* dv, const float* dout, const float* lse,
                             const cpu::AttnOperand& q, const cpu::AttnOperand& k, const cpu::AttnOperand& v,
                             const cpu::AttnDims& n) {
    const int64_t BH = n.B * n.H;
    if (BH * n.T * n.S == 0) return;
    const int64_t chunk = chunk_heads(n, 2);
    float* W = static_cast<float*>(alloc(size_t(chunk * n.T * n.S) * sizeof(float)));
    float* G = static_cast<float*>(alloc(size_t(chunk * n.T * n.S) * sizeof(float)));
    HeadPointers p(9, chunk);
    const float** a[9];
    for (int i = 0; i < 9; ++i) a[i] = p.a + i * chunk;
    const float **pq = a[0], **pk = a[1], **pv = a[2], **pdo = a[3], **pw = a[4], **pg = a[5], **pdq = a[6],
                **pdk = a[7], **pdv = a[8];
    auto out_ptrs = [](const float** x) { return const_cast<float* const*>(x); };
    for (int64_t first = 0; first < BH; first += chunk) {
        const int64_t c = std::min(chunk, BH - first);
        fill(pq, q.p, q.sb, q.sh, n.H, first, c);
        fill(pk, k.p, k.sb, k.sh, n.H, first, c);
        fill(pv, v.p, v.sb, v.sh, n.H, first, c);
        fill(pdo, dout, n.H * n.T * n.dv, n.T * n.dv, n.H, first, c);
        fill(pw, W, n.T * n.S, 0, 1, 0, c);
        fill(pg, G, n.T * n.S, 0, 1, 0, c);
        fill(pdq, dq, n.H * n.T * n.d, n.T * n.d, n.H, first, c);
        fill(pdk, dk, n.H * n.S * n.d, n.S * n.d, n.H, first, c);
        fill(pdv, dv, n.H * n.S * n.dv, n.S * n.dv, n.H, first, c);
        gemm_batched_pointers(false, true, c, n.T, n.S, n.d, n.scale, pq, q.st, pk, k.st, 0.0f, out_ptrs(pw), n.S);
        gemm_batched_pointers(false, true, c, n.T, n.S, n.dv, 1.0f, pdo, n.dv, pv, v.st, 0.0f, out_ptrs(pg), n.S);
        if (n.S <= kCached)
            softmax_grad_rows_kernel<true>
                <<<unsigned(c * n.T), kThreads>>>(W, G, lse, n.keep, n.causal, n.H, n.T, n.S, first);
        else
            softmax_grad_rows_kernel<false>
                <<<unsigned(c * n.T), kThreads>>>(W, G, lse, n.keep, n.causal, n.H, n.T, n.S, first);
        check_launch("attention (softmax gradient rows)");
        gemm_batched_pointers(true, false, c, n.S, n.dv, n.T, 1.0f, pw, n.S, pdo, n.dv, 1.0f, out_ptrs(pdv), n.dv);
        gemm_batched_pointers(false, false, c, n.T, n.d, n.S, n.scale, pg, n.S, pk, k.st, 1.0f, out_ptrs(pdq), n.d);
        gemm_batched_pointers(true, false, c, n.S, n.d, n.T, n.scale, pg, n.S, pq, q.st, 1.0f, out_ptrs(pdk), n.d);
    }
    free(W);
    free(G);
}

}  // namespace eng::cuda
