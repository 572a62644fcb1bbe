// attention.cu: CUDA scaled dot-product attention, forward and backward, tiled
// with an online softmax; nothing of size T×S is ever stored (contract and
// notation of tensor/cpu/attention.h; the maths is derived in tensor/cpu/attention.cpp).
//
// Forward: a block handles kRows query rows of one (batch, head), one warp per
// row.  Keys are walked in tiles of 32: the block loads the K and V tile into
// shared memory, each lane scores one key of the tile against its warp's query
// (s_ij = scale·q_i·k_j, -inf where masked), and the warp updates the running
// maximum m, the running sum l = Σ exp(s - m) and the accumulator
// acc = Σ exp(s - m)·v_j (rescaled by exp(m_old - m_new) when m grows).  At the
// end O_i = acc / l and lse_i = m + log l.
//
// Backward (P = exp(s - lse) recomputed from the saved lse, D_i = dO_i·O_i):
//   dQ_i = scale Σ_j P_ij (dO_i·v_j - D_i) k_j        one warp per query row (tiles of keys)
//   dV_j = Σ_i P_ij dO_i,  dK_j = scale Σ_i P_ij (dO_i·v_j - D_i) q_i
//                                                     one warp per key row (tiles of queries)
// Every gradient element is owned by one lane and summed in a fixed order: no
// atomics, the same bits on every run.
//
// Lanes own output columns c = lane + 32·t (t < 8), so d and dv are at most 256.
// A fully masked query row gives O = 0, lse = -inf and zero gradients, as on the CPU.
#include <algorithm>
#include <cmath>

#include "cuda/attention.cuh"
#include "cuda/common.cuh"
#include "tensor/cpu/attention.h"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

namespace {

constexpr int kRows = 8;        // query (or key) rows per block: one warp each
constexpr int kTile = 32;       // keys (or queries) per shared-memory tile: one per lane
constexpr int kMaxChunks = 8;   // columns per lane: d, dv <= 32·8 = 256
constexpr int kBlock = kRows * 32;

// Loads rows [r0, r0 + kTile) of a [rows, cols] operand of (b, h) into shared
// memory with row pitch `pitch`; rows past `rows` are zero (so 0·value stays 0).
__device__ void load_tile(float* dst, int pitch, const Operand& x, int64_t b, int64_t h, int64_t r0, int64_t rows,
                          int64_t cols) {
    for (int64_t e = threadIdx.x; e < kTile * cols; e += blockDim.x) {
        int64_t r = e / cols, c = e - r * cols;
        dst[r * pitch + c] = r0 + r < rows ? x.row(b, h, r0 + r)[c] : 0.0f;
    }
}

// ---- forward -----------------------------------------------------------------------------------------

// grid (B·H, ceil(T / kRows)); dynamic shared: sQ [kRows][d], sK [kTile][d+1], sV [kTile][dv].
__global__ void __launch_bounds__(kBlock) attention_forward_kernel(float* out, float* lse, Operand q, Operand k,
                                                                  Operand v, Dims n) {
    extern __shared__ float smem[];
    const int dp = int(n.d) + 1;
    float* sQ = smem;
    float* sK = sQ + kRows * n.d;
    float* sV = sK + kTile * dp;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t bh = blockIdx.x, b = bh / n.H, h = bh % n.H;
    const int64_t i0 = int64_t(blockIdx.y) * kRows, i = i0 + warp;
    const bool active = i < n.T;

    for (int64_t c = lane; c < n.d; c += 32) sQ[warp * n.d + c] = active ? q.row(b, h, i)[c] : 0.0f;
    float acc[kMaxChunks];
#pragma unroll
    for (int t = 0; t < kMaxChunks; ++t) acc[t] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    const int64_t last = i0 + kRows < n.T ? i0 + kRows : n.T;  // one past the block's last row
    const int64_t kend = n.causal ? (last < n.S ? last : n.S) : n.S;
    for (int64_t j0 = 0; j0 < kend; j0 += kTile) {
        __syncthreads();  // the previous tile is no longer read (and sQ is written)
        load_tile(sK, dp, k, b, h, j0, n.S, n.d);
        load_tile(sV, int(n.dv), v, b, h, j0, n.S, n.dv);
        __syncthreads();
        if (!active) continue;
        const int64_t j = j0 + lane;
        float s = -INFINITY;
        if (key_visible(n, b, i, j)) {
            float dot = 0.0f;
            for (int64_t c = 0; c < n.d; ++c) dot += sQ[warp * n.d + c] * sK[lane * dp + c];
            s = dot * n.scale;
        }
        const float m_new = fmaxf(m, warp_max(s));
        if (m_new == -INFINITY) continue;  // every key so far masked: nothing to add
        const float p = expf(s - m_new);   // 0 for masked keys
        const float corr = expf(m - m_new);  // 0 while m = -inf
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int t = 0; t < kMaxChunks; ++t) acc[t] *= corr;
        for (int jj = 0; jj < kTile; ++jj) {
            const float pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
            for (int t = 0; t < kMaxChunks; ++t) {
                const int64_t c = lane + 32 * t;
                if (c < n.dv) acc[t] += pj * sV[jj * n.dv + c];
            }
        }
        m = m_new;
    }
    if (!active) return;
    float* o = out + (bh * n.T + i) * n.dv;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int t = 0; t < kMaxChunks; ++t) {
        const int64_t c = lane + 32 * t;
        if (c < n.dv) o[c] = acc[t] * inv;
    }
    if (lane == 0) lse[bh * n.T + i] = l > 0.0f ? m + logf(l) : -INFINITY;
}

// ---- backward ----------------------------------------------------------------------------------------

// D[bh·T + i] = dO_i · O_i (both packed [B, H, T, dv]); one warp per row.
__global__ void attention_rowdot_kernel(float* D, const float* dout, const float* out, int64_t rows, int64_t dv) {
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
    // Whole warps walk the rows together (r is the same for all lanes of a warp).
    for (int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
        float s = 0.0f;
        for (int64_t c = lane; c < dv; c += 32) s += dout[r * dv + c] * out[r * dv + c];
        s = warp_sum(s);
        if (lane == 0) D[r] = s;
    }
}

// dQ: grid (B·H, ceil(T / kRows)); shared: sQ [kRows][d], sdO [kRows][dv], sK [kTile][d+1], sV [kTile][dv+1].
__global__ void __launch_bounds__(kBlock) attention_dq_kernel(float* dq, const float* dout, const float* lse,
                                                             const float* D, Operand q, Operand k, Operand v, Dims n) {
    extern __shared__ float smem[];
    const int dp = int(n.d) + 1, vp = int(n.dv) + 1;
    float* sQ = smem;
    float* sdO = sQ + kRows * n.d;
    float* sK = sdO + kRows * n.dv;
    float* sV = sK + kTile * dp;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t bh = blockIdx.x, b = bh / n.H, h = bh % n.H;
    const int64_t i0 = int64_t(blockIdx.y) * kRows, i = i0 + warp;
    const bool active = i < n.T;
    const float L = active ? lse[bh * n.T + i] : -INFINITY;
    const float Di = active ? D[bh * n.T + i] : 0.0f;
    const bool live = active && L != -INFINITY;  // a fully masked row has zero gradient

    for (int64_t c = lane; c < n.d; c += 32) sQ[warp * n.d + c] = active ? q.row(b, h, i)[c] : 0.0f;
    for (int64_t c = lane; c < n.dv; c += 32) sdO[warp * n.dv + c] = active ? dout[(bh * n.T + i) * n.dv + c] : 0.0f;
    float acc[kMaxChunks];
#pragma unroll
    for (int t = 0; t < kMaxChunks; ++t) acc[t] = 0.0f;

    const int64_t last = i0 + kRows < n.T ? i0 + kRows : n.T;
    const int64_t kend = n.causal ? (last < n.S ? last : n.S) : n.S;
    for (int64_t j0 = 0; j0 < kend; j0 += kTile) {
        __syncthreads();
        load_tile(sK, dp, k, b, h, j0, n.S, n.d);
        load_tile(sV, vp, v, b, h, j0, n.S, n.dv);
        __syncthreads();
        if (!live) continue;
        const int64_t j = j0 + lane;
        float ds = 0.0f;
        if (key_visible(n, b, i, j)) {
            float dot = 0.0f, dpv = 0.0f;
            for (int64_t c = 0; c < n.d; ++c) dot += sQ[warp * n.d + c] * sK[lane * dp + c];
            for (int64_t c = 0; c < n.dv; ++c) dpv += sdO[warp * n.dv + c] * sV[lane * vp + c];
            const float p = expf(dot * n.scale - L);
            ds = p * (dpv - Di);
        }
        for (int jj = 0; jj < kTile; ++jj) {
            const float dsj = __shfl_sync(0xffffffffu, ds, jj);
#pragma unroll
            for (int t = 0; t < kMaxChunks; ++t) {
                const int64_t c = lane + 32 * t;
                if (c < n.d) acc[t] += dsj * sK[jj * dp + c];
            }
        }
    }
    if (!live) return;
    float* g = dq + (bh * n.T + i) * n.d;
#pragma unroll
    for (int t = 0; t < kMaxChunks; ++t) {
        const int64_t c = lane + 32 * t;
        if (c < n.d) g[c] += n.scale * acc[t];
    }
}

// Loads rows [r0, r0 + kTile) of a packed [rows, cols] buffer (row stride cols).
__device__ void load_packed_tile(float* dst, int pitch, const float* x, int64_t r0, int64_t rows, int64_t cols) {
    for (int64_t e = threadIdx.x; e < kTile * cols; e += blockDim.x) {
        int64_t r = e / cols, c = e - r * cols;
        dst[r * pitch + c] = r0 + r < rows ? x[(r0 + r) * cols + c] : 0.0f;
    }
}

// dK, dV: grid (B·H, ceil(S / kRows)); one warp per key row j, tiles of 32 queries.
// shared: sK [kRows][d], sVr [kRows][dv], sQ [kTile][d+1], sdO [kTile][dv+1], sL [kTile], sD [kTile].
__global__ void __launch_bounds__(kBlock) attention_dkdv_kernel(float* dk, float* dv, const float* dout,
                                                               const float* lse, const float* D, Operand q, Operand k,
                                                               Operand v, Dims n) {
    extern __shared__ float smem[];
    const int dp = int(n.d) + 1, vp = int(n.dv) + 1;
    float* sK = smem;
    float* sVr = sK + kRows * n.d;
    float* sQ = sVr + kRows * n.dv;
    float* sdO = sQ + kTile * dp;
    float* sL = sdO + kTile * vp;
    float* sD = sL + kTile;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t bh = blockIdx.x, b = bh / n.H, h = bh % n.H;
    const int64_t j0 = int64_t(blockIdx.y) * kRows, j = j0 + warp;
    const bool active = j < n.S && (!n.keep || n.keep[b * n.S + j]);  // a masked key gets zero gradient

    for (int64_t c = lane; c < n.d; c += 32) sK[warp * n.d + c] = j < n.S ? k.row(b, h, j)[c] : 0.0f;
    for (int64_t c = lane; c < n.dv; c += 32) sVr[warp * n.dv + c] = j < n.S ? v.row(b, h, j)[c] : 0.0f;
    float acc_k[kMaxChunks], acc_v[kMaxChunks];
#pragma unroll
    for (int t = 0; t < kMaxChunks; ++t) acc_k[t] = acc_v[t] = 0.0f;

    const float* dO = dout + bh * n.T * n.dv;
    // Causal: only queries i >= j see key j, so start at the block's first key.
    const int64_t istart = n.causal ? j0 : 0;
    for (int64_t t0 = istart; t0 < n.T; t0 += kTile) {
        __syncthreads();
        load_tile(sQ, dp, q, b, h, t0, n.T, n.d);
        load_packed_tile(sdO, vp, dO, t0, n.T, n.dv);
        if (threadIdx.x < kTile) {
            const int64_t ii = t0 + threadIdx.x;
            sL[threadIdx.x] = ii < n.T ? lse[bh * n.T + ii] : -INFINITY;
            sD[threadIdx.x] = ii < n.T ? D[bh * n.T + ii] : 0.0f;
        }
        __syncthreads();
        if (!active) continue;
        const int64_t i = t0 + lane;
        float p = 0.0f, ds = 0.0f;
        if (i < n.T && !(n.causal && j > i) && sL[lane] != -INFINITY) {
            float dot = 0.0f, dpv = 0.0f;
            for (int64_t c = 0; c < n.d; ++c) dot += sQ[lane * dp + c] * sK[warp * n.d + c];
            for (int64_t c = 0; c < n.dv; ++c) dpv += sdO[lane * vp + c] * sVr[warp * n.dv + c];
            p = expf(dot * n.scale - sL[lane]);
            ds = p * (dpv - sD[lane]);
        }
        for (int ii = 0; ii < kTile; ++ii) {
            const float pi = __shfl_sync(0xffffffffu, p, ii);
            const float dsi = __shfl_sync(0xffffffffu, ds, ii);
#pragma unroll
            for (int t = 0; t < kMaxChunks; ++t) {
                const int64_t c = lane + 32 * t;
                if (c < n.dv) acc_v[t] += pi * sdO[ii * vp + c];
                if (c < n.d) acc_k[t] += dsi * sQ[ii * dp + c];
            }
        }
    }
    if (!active) return;
    float* gk = dk + (bh * n.S + j) * n.d;
    float* gv = dv + (bh * n.S + j) * n.dv;
#pragma unroll
    for (int t = 0; t < kMaxChunks; ++t) {
        const int64_t c = lane + 32 * t;
        if (c < n.d) gk[c] += n.scale * acc_k[t];
        if (c < n.dv) gv[c] += acc_v[t];
    }
}

void check_dims(const cpu::AttnDims& n) {
    ENG_CHECK(n.d <= 32 * kMaxChunks && n.dv <= 32 * kMaxChunks,
              "scaled_dot_product_attention: head dims d = ", n.d, ", dv = ", n.dv,
              " exceed the CUDA kernel's limit of ", 32 * kMaxChunks);
}

}  // namespace

void attention_forward_fused(float* out, float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                             const cpu::AttnOperand& v, const cpu::AttnDims& n) {
    check_dims(n);
    if (n.B * n.H * n.T == 0) return;
    size_t bytes = sizeof(float) * size_t(kRows * n.d + kTile * (n.d + 1) + kTile * n.dv);
    allow_smem(attention_forward_kernel, bytes);
    const dim3 grid = attention_grid(n.T, kRows, n);
    attention_forward_kernel<<<grid, kBlock, bytes>>>(out, lse, to_dev(q), to_dev(k), to_dev(v), to_dev(n));
    check_launch("scaled_dot_product_attention (forward)");
}

void attention_backward_fused(float* dq, float* dk, float* dv, const float* dout, const float* out,
                              const float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                              const cpu::AttnOperand& v, const cpu::AttnDims& n) {
    check_dims(n);
    if (n.B * n.H * n.T * n.S == 0) return;
    float* D = attention_row_dots(dout, out, n);

    size_t bytes_q = sizeof(float) * size_t(kRows * (n.d + n.dv) + kTile * (n.d + 1) + kTile * (n.dv + 1));
    allow_smem(attention_dq_kernel, bytes_q);
    const dim3 grid_q = attention_grid(n.T, kRows, n);
    attention_dq_kernel<<<grid_q, kBlock, bytes_q>>>(dq, dout, lse, D, to_dev(q), to_dev(k), to_dev(v), to_dev(n));
    check_launch("scaled_dot_product_attention (backward, dq)");

    size_t bytes_kv =
        sizeof(float) * size_t(kRows * (n.d + n.dv) + kTile * (n.d + 1) + kTile * (n.dv + 1) + 2 * kTile);
    allow_smem(attention_dkdv_kernel, bytes_kv);
    const dim3 grid_kv = attention_grid(n.S, kRows, n);
    attention_dkdv_kernel<<<grid_kv, kBlock, bytes_kv>>>(dk, dv, dout, lse, D, to_dev(q), to_dev(k), to_dev(v),
                                                         to_dev(n));
    check_launch("scaled_dot_product_attention (backward, dk and dv)");
    free(D);
}

float* attention_row_dots(const float* dout, const float* out, const cpu::AttnDims& n) {
    const int64_t rows = n.B * n.H * n.T;
    float* D = static_cast<float*>(alloc(size_t(std::max<int64_t>(rows, 1)) * sizeof(float)));
    attention_rowdot_kernel<<<blocks_for(rows * 32, kThreads), kThreads>>>(D, dout, out, rows, n.dv);
    check_launch("scaled_dot_product_attention (backward, rowsum dO·O)");
    return D;
}

// ---- the public entry points: one of the implementations ----------------------------------------

static AttentionKernel g_attention_kernel = AttentionKernel::gemm;
void set_attention_kernel(AttentionKernel kernel) { g_attention_kernel = kernel; }
AttentionKernel attention_kernel() { return g_attention_kernel; }

// The implementation that runs problem n: the selected one, except that flash
// hands the problems it does not take (attention_flash_fits) to the gemm path.
static AttentionKernel kernel_for(const cpu::AttnDims& n) {
    if (g_attention_kernel == AttentionKernel::flash && !attention_flash_fits(n)) return AttentionKernel::gemm;
    return g_attention_kernel;
}

bool attention_fused_dropout(const cpu::AttnDims& n) { return kernel_for(n) == AttentionKernel::flash; }

// kernel_for(n), which must apply n's dropout if there is any (the front end
// checks this first with attention_fused_dropout).
static AttentionKernel checked_kernel_for(const cpu::AttnDims& n) {
    const AttentionKernel k = kernel_for(n);
    ENG_CHECK(n.dropout.p == 0.0f || k == AttentionKernel::flash,
              "scaled_dot_product_attention: dropout inside the CUDA attention needs the flash kernel (internal error)");
    return k;
}

void attention_forward(float* out, float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                       const cpu::AttnOperand& v, const cpu::AttnDims& n) {
    switch (checked_kernel_for(n)) {
        case AttentionKernel::gemm: return attention_forward_gemm(out, lse, q, k, v, n);
        case AttentionKernel::fused: return attention_forward_fused(out, lse, q, k, v, n);
        case AttentionKernel::flash: return attention_forward_flash(out, lse, q, k, v, n);
    }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                        const cpu::AttnOperand& q, const cpu::AttnOperand& k, const cpu::AttnOperand& v,
                        const cpu::AttnDims& n) {
    // Any backward pairs with any forward: all save the same lse.
    switch (checked_kernel_for(n)) {
        case AttentionKernel::gemm: return attention_backward_gemm(dq, dk, dv, dout, lse, q, k, v, n);
        case AttentionKernel::fused: return attention_backward_fused(dq, dk, dv, dout, out, lse, q, k, v, n);
        case AttentionKernel::flash: return attention_backward_flash(dq, dk, dv, dout, out, lse, q, k, v, n);
    }
}

}  // namespace eng::cuda
