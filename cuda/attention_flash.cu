// attention_flash.cu: flash attention on the tensor cores, forward and
// backward (contract of tensor/cpu/attention.h; the maths is derived in
// tensor/cpu/attention.cpp).
//
// A block of 4 warps takes 64 rows of one (batch, head): query rows for the
// forward and dQ, key rows for dK and dV.  Each warp owns 16 of them for the
// whole kernel.  The other side streams through shared memory in tiles of 64
// rows, rounded to bf16 as it is loaded (head dims padded with zeros to a
// multiple of 16).  Every product is a 16×16×16 WMMA with f32 accumulation:
//   forward   S = Q·Kᵀ, online softmax of S in f32, O += P·V  (over key tiles)
//   dK, dV    Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ, dV += Pᵀ·dO, dK += dSᵀ·Q  (over query tiles)
//   dQ        S = Q·Kᵀ,  dP = dO·Vᵀ,  dQ += dS·K                (over key tiles)
// with P = exp(s − lse) recomputed from the forward's lse, D = rowsum(dO∘O)
// and dS = P∘(dP − D).  Dropout on the probabilities (training GPT-2) draws
// the CPU kernels' mask Z from the same counters: O = (P∘Z)·V, and in the
// backward dV uses P∘Z and dP becomes (dO·Vᵀ)∘Z (tensor/cpu/attention.cpp).  P and dS are rounded to bf16 for their products, as
// in bf16 autocast attention; scores, softmax, D and every accumulator stay
// f32 (the accumulators live in shared memory, each row owned by one warp).
// The bf16 P and dS overwrite the f32 scores they come from, row by row, which
// keeps the backward's shared memory small (two blocks per H200 SM up to
// head dim 64).
// Nothing of size T×S exists, and every gradient element is summed by one
// warp in a fixed order: no atomics, the same bits on every run.
//
// Limits: compute capability 8.0 or later (bf16 WMMA), head dims up to 128,
// and the backward's shared memory within the card's opt-in limit
// (attention_flash_fits; otherwise the gemm path runs).  At d = dv the dK/dV
// kernel takes 57 KB (16), 107 KB (64), 156 KB (112) and 173 KB (128): all of
// them fit an H100/H200 (227 KB), up to 112 an A100 (163 KB), up to 48 an
// sm_86/89 card (99 KB).
#include <cuda_bf16.h>
#include <mma.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "cuda/attention.cuh"
#include "cuda/common.cuh"

namespace eng::cuda {

namespace {

using namespace nvcuda;
using bf16 = __nv_bfloat16;

constexpr int kWarps = 4;
constexpr int kRows = 64;       // rows of a tile (the block's own and the streamed ones)
constexpr int kWarpRows = 16;   // rows a warp owns: one WMMA tile high
constexpr int kFlashThreads = kWarps * 32;
constexpr int kMaxHeadDim = 128;

// Row pitches in elements.  WMMA wants 32-byte aligned tile starts and a
// pitch that is a multiple of 16 bytes; the extra 16 bytes spread the rows
// over the shared-memory banks.
__host__ __device__ inline int pad16(int64_t x) { return int((x + 15) / 16 * 16); }
__host__ __device__ inline int bf16_pitch(int width) { return width + 8; }
__host__ __device__ inline int f32_pitch(int width) { return width + 4; }

// Consecutive arrays in dynamic shared memory, each starting on 128 bytes.
// The host runs the same sequence without memory (base null) to learn the
// total size.  The pointers are derived from the kernel's __shared__ array
// itself (not through an integer), so the compiler knows they are shared
// memory and emits ld.shared / st.shared rather than generic accesses.
struct Carve {
    char* base;
    size_t at = 0;
    template <typename T>
    __host__ __device__ T* take(int64_t count) {
        T* p = base ? reinterpret_cast<T*>(base + at) : nullptr;
        at += (size_t(count) * sizeof(T) + 127) / 128 * 128;
        return p;
    }
};

// ---- warp-level products ---------------------------------------------------------------------------

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// C [16 × 16·nf] (f32, row-major, ldc) = or += A · B for A [16 × K] (bf16,
// row-major, lda) and B [K × 16·nf], given either as X stored [16·nf × K]
// row-major with B = Xᵀ (kTransposed) or stored [K × 16·nf] row-major (ldb).
// K is a multiple of 16.  One warp; the tiles of C are loaded and stored.
template <bool kTransposed>
__device__ void warp_product(float* C, int ldc, const bf16* A, int lda, const bf16* B, int ldb, int K, int nf,
                             bool accumulate) {
    using Layout = typename std::conditional<kTransposed, wmma::col_major, wmma::row_major>::type;
    for (int f = 0; f < nf; ++f) {
        FragC acc;
        if (accumulate) wmma::load_matrix_sync(acc, C + 16 * f, ldc, wmma::mem_row_major);
        else wmma::fill_fragment(acc, 0.0f);
        for (int k = 0; k < K; k += 16) {
            FragA a;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, Layout> b;
            wmma::load_matrix_sync(a, A + k, lda);
            // Column-major B at X + 16f·ldb + k: element (k', n) = X[16f + n][k + k'].
            wmma::load_matrix_sync(b, kTransposed ? B + 16 * f * ldb + k : B + k * ldb + 16 * f, ldb);
            wmma::mma_sync(acc, a, b, acc);
        }
        wmma::store_matrix_sync(C + 16 * f, acc, ldc, wmma::mem_row_major);
    }
}

// Rows [r0, r0 + 64) of a [rows, cols] operand of (b, h) into dst (bf16,
// `pitch`), `width` columns; rows past `rows` and columns past `cols` are zero.
__device__ void load_tile(bf16* dst, int pitch, const Operand& x, int64_t b, int64_t h, int64_t r0, int64_t rows,
                          int64_t cols, int width) {
    for (int e = threadIdx.x; e < kRows * width; e += blockDim.x) {
        const int r = e / width, c = e - r * width;
        const float v = r0 + r < rows && c < cols ? x.row(b, h, r0 + r)[c] : 0.0f;
        dst[r * pitch + c] = __float2bfloat16_rn(v);
    }
}

__device__ void fill(float* p, int n, float value) {
    for (int e = threadIdx.x; e < n; e += blockDim.x) p[e] = value;
}

// Per-row values of a tile of 64 rows from [B·H, rows] arrays (lse or D),
// with `outside` for rows past the end.
__device__ void load_rows(float* dst, const float* src, int64_t bh, int64_t r0, int64_t rows, float outside) {
    for (int r = threadIdx.x; r < kRows; r += blockDim.x) dst[r] = r0 + r < rows ? src[bh * rows + r0 + r] : outside;
}

// P = exp(scale·s − lse) for query i and key j (0 where j is hidden from i,
// or i is past the end, or the row had no visible key: lse = -inf).
__device__ __forceinline__ float prob(const Dims& n, int64_t b, int64_t i, int64_t j, float s, float lse) {
    if (i >= n.T || lse == -INFINITY || !key_visible(n, b, i, j)) return 0.0f;
    return __expf(s * n.scale - lse);
}

// Row `row` of a f32 tile (pitch ps) reused as a row of bf16 values: the
// same bytes, so the bf16 tile has pitch 2·ps.  A warp reads its values of
// the row into registers and __syncwarp()s before writing it.
__device__ __forceinline__ bf16* as_bf16(float* tile, int ps, int row) {
    return reinterpret_cast<bf16*>(tile + row * ps);
}

// ---- forward ---------------------------------------------------------------------------------------

struct ForwardSmem {
    bf16 *q, *k, *v;
    float *s, *o, *m, *l;  // s: the scores, then (as bf16) the probabilities P
    int pq, pv, ps, po;
    __host__ __device__ ForwardSmem(char* base, int d16, int dv16)
        : pq(bf16_pitch(d16)), pv(bf16_pitch(dv16)), ps(f32_pitch(kRows)), po(f32_pitch(dv16)) {
        Carve c{base};
        q = c.take<bf16>(kRows * pq), k = c.take<bf16>(kRows * pq), v = c.take<bf16>(kRows * pv);
        s = c.take<float>(kRows * ps), o = c.take<float>(kRows * po);
        m = c.take<float>(kRows), l = c.take<float>(kRows);
        bytes = c.at;
    }
    size_t bytes;
};

// grid (B·H, ceil(T / 64)), 128 threads.
__global__ void __launch_bounds__(kFlashThreads) flash_forward_kernel(float* out, float* lse, Operand q, Operand k,
                                                                      Operand v, Dims n, int d16, int dv16) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    extern __shared__ __align__(128) char smem[];
    ForwardSmem t(smem, d16, dv16);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, w0 = warp * kWarpRows;
    const int64_t bh = blockIdx.x, b = bh / n.H, h = bh % n.H, i0 = int64_t(blockIdx.y) * kRows;
    load_tile(t.q, t.pq, q, b, h, i0, n.T, n.d, d16);
    fill(t.o, kRows * t.po, 0.0f);
    fill(t.m, kRows, -INFINITY);
    fill(t.l, kRows, 0.0f);
    const int64_t last = i0 + kRows < n.T ? i0 + kRows : n.T;  // one past the block's last row
    const int64_t kend = n.causal ? (last < n.S ? last : n.S) : n.S;
    for (int64_t j0 = 0; j0 < kend; j0 += kRows) {
        __syncthreads();  // the previous K, V tiles are no longer read (and the setup above is done)
        load_tile(t.k, t.pq, k, b, h, j0, n.S, n.d, d16);
        load_tile(t.v, t.pv, v, b, h, j0, n.S, n.dv, dv16);
        __syncthreads();
        // S = Q·Kᵀ for the warp's 16 rows and the 64 keys of the tile.
        warp_product<true>(t.s + w0 * t.ps, t.ps, t.q + w0 * t.pq, t.pq, t.k, t.pq, d16, kRows / 16, false);
        __syncwarp();
        // Online softmax, one row at a time, two keys a lane (see attention.cpp).
        for (int r = 0; r < kWarpRows; ++r) {
            const int row = w0 + r;
            const int64_t i = i0 + row;
            float s[2];
            for (int u = 0; u < 2; ++u) {
                const int col = lane + 32 * u;
                s[u] = i < n.T && key_visible(n, b, i, j0 + col) ? t.s[row * t.ps + col] * n.scale : -INFINITY;
            }
            const float m_old = t.m[row];
            const float m_new = fmaxf(m_old, warp_max(fmaxf(s[0], s[1])));
            float p[2] = {0.0f, 0.0f}, corr = 1.0f;
            if (m_new != -INFINITY) {  // else every key so far is hidden: nothing changes
                p[0] = __expf(s[0] - m_new), p[1] = __expf(s[1] - m_new);
                corr = __expf(m_old - m_new);  // 0 while m_old = -inf
            }
            const float sum = warp_sum(p[0] + p[1]);
            __syncwarp();  // every lane has read the f32 row and m_old before they are replaced
            // Dropout after l has summed the kept and the dropped alike (softmax,
            // then dropout): only the product with V sees the mask.
            bf16* prow = as_bf16(t.s, t.ps, row);
            for (int u = 0; u < 2; ++u)
                prow[lane + 32 * u] = __float2bfloat16_rn(p[u] * dropout_factor(n, b, h, i, j0 + lane + 32 * u));
            if (corr != 1.0f)
                for (int c = lane; c < dv16; c += 32) t.o[row * t.po + c] *= corr;
            if (lane == 0) t.l[row] = t.l[row] * corr + sum, t.m[row] = m_new;
        }
        __syncwarp();
        // O += P·V for the warp's rows.
        warp_product<false>(t.o + w0 * t.po, t.po, as_bf16(t.s, t.ps, w0), 2 * t.ps, t.v, t.pv, kRows, dv16 / 16,
                            true);
    }
    __syncthreads();  // (with no key tile at all, the rows were filled by other threads)
    for (int r = 0; r < kWarpRows; ++r) {
        const int row = w0 + r;
        const int64_t i = i0 + row;
        if (i >= n.T) break;
        const float l = t.l[row], inv = l > 0.0f ? 1.0f / l : 0.0f;  // a fully masked row: O = 0
        float* o = out + (bh * n.T + i) * n.dv;
        for (int c = lane; c < n.dv; c += 32) o[c] = t.o[row * t.po + c] * inv;
        if (lane == 0) lse[bh * n.T + i] = l > 0.0f ? t.m[row] + logf(l) : -INFINITY;
    }
#endif
}

// ---- backward: dK and dV ---------------------------------------------------------------------------

struct KeySideSmem {
    bf16 *k, *v, *q, *dout;
    float *st, *dpt, *dk, *dv, *lse, *D;  // st: Sᵀ, then (bf16) Pᵀ; dpt: dPᵀ, then (bf16) dSᵀ
    int pq, pv, ps, pdk, pdv;
    __host__ __device__ KeySideSmem(char* base, int d16, int dv16)
        : pq(bf16_pitch(d16)), pv(bf16_pitch(dv16)), ps(f32_pitch(kRows)), pdk(f32_pitch(d16)),
          pdv(f32_pitch(dv16)) {
        Carve c{base};
        k = c.take<bf16>(kRows * pq), v = c.take<bf16>(kRows * pv);
        q = c.take<bf16>(kRows * pq), dout = c.take<bf16>(kRows * pv);
        st = c.take<float>(kRows * ps), dpt = c.take<float>(kRows * ps);
        dk = c.take<float>(kRows * pdk), dv = c.take<float>(kRows * pdv);
        lse = c.take<float>(kRows), D = c.take<float>(kRows);
        bytes = c.at;
    }
    size_t bytes;
};

// grid (B·H, ceil(S / 64)), 128 threads; dk, dv packed [B, H, S, ·], added to.
__global__ void __launch_bounds__(kFlashThreads) flash_dkdv_kernel(float* dk, float* dv, Operand dout,
                                                                   const float* lse, const float* D, Operand q,
                                                                   Operand k, Operand v, Dims n, int d16, int dv16) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    extern __shared__ __align__(128) char smem[];
    KeySideSmem t(smem, d16, dv16);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, w0 = warp * kWarpRows;
    const int64_t bh = blockIdx.x, b = bh / n.H, h = bh % n.H, j0 = int64_t(blockIdx.y) * kRows;
    load_tile(t.k, t.pq, k, b, h, j0, n.S, n.d, d16);
    load_tile(t.v, t.pv, v, b, h, j0, n.S, n.dv, dv16);
    fill(t.dk, kRows * t.pdk, 0.0f);
    fill(t.dv, kRows * t.pdv, 0.0f);
    // Causal: query i sees key j only if i >= j, so the tiles before j0's start nothing.
    const int64_t first = n.causal ? j0 / kRows * kRows : 0;
    for (int64_t i0 = first; i0 < n.T; i0 += kRows) {
        __syncthreads();  // the previous query tile is no longer read
        load_tile(t.q, t.pq, q, b, h, i0, n.T, n.d, d16);
        load_tile(t.dout, t.pv, dout, b, h, i0, n.T, n.dv, dv16);
        load_rows(t.lse, lse, bh, i0, n.T, -INFINITY);
        load_rows(t.D, D, bh, i0, n.T, 0.0f);
        __syncthreads();
        // Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ for the warp's 16 keys and the 64 queries.
        warp_product<true>(t.st + w0 * t.ps, t.ps, t.k + w0 * t.pq, t.pq, t.q, t.pq, d16, kRows / 16, false);
        warp_product<true>(t.dpt + w0 * t.ps, t.ps, t.v + w0 * t.pv, t.pv, t.dout, t.pv, dv16, kRows / 16, false);
        __syncwarp();
        for (int r = 0; r < kWarpRows; ++r) {
            const int row = w0 + r;
            // With dropout Z: dV uses (P∘Z)ᵀ and dP is (dO·Vᵀ)∘Z; D and dS keep their form.
            float pz[2], ds[2];
            for (int u = 0; u < 2; ++u) {
                const int col = lane + 32 * u;  // query i0 + col
                const float p = prob(n, b, i0 + col, j0 + row, t.st[row * t.ps + col], t.lse[col]);
                const float z = dropout_factor(n, b, h, i0 + col, j0 + row);
                pz[u] = p * z;
                ds[u] = p * (t.dpt[row * t.ps + col] * z - t.D[col]);
            }
            __syncwarp();  // the f32 row is read before its bf16 replacement is written
            for (int u = 0; u < 2; ++u) {
                as_bf16(t.st, t.ps, row)[lane + 32 * u] = __float2bfloat16_rn(pz[u]);
                as_bf16(t.dpt, t.ps, row)[lane + 32 * u] = __float2bfloat16_rn(ds[u]);
            }
        }
        __syncwarp();
        // dV += Pᵀ·dO and dK += dSᵀ·Q (the scale is applied once, at the end).
        warp_product<false>(t.dv + w0 * t.pdv, t.pdv, as_bf16(t.st, t.ps, w0), 2 * t.ps, t.dout, t.pv, kRows,
                            dv16 / 16, true);
        warp_product<false>(t.dk + w0 * t.pdk, t.pdk, as_bf16(t.dpt, t.ps, w0), 2 * t.ps, t.q, t.pq, kRows,
                            d16 / 16, true);
    }
    __syncthreads();
    for (int r = 0; r < kWarpRows; ++r) {
        const int64_t j = j0 + w0 + r;
        if (j >= n.S) break;
        float* gk = dk + (bh * n.S + j) * n.d;
        float* gv = dv + (bh * n.S + j) * n.dv;
        for (int c = lane; c < n.d; c += 32) gk[c] += n.scale * t.dk[(w0 + r) * t.pdk + c];
        for (int c = lane; c < n.dv; c += 32) gv[c] += t.dv[(w0 + r) * t.pdv + c];
    }
#endif
}

// ---- backward: dQ ----------------------------------------------------------------------------------

struct QuerySideSmem {
    bf16 *q, *dout, *k, *v;
    float *s, *dp, *dq, *lse, *D;  // s: S, then (bf16) dS
    int pq, pv, ps, pdq;
    __host__ __device__ QuerySideSmem(char* base, int d16, int dv16)
        : pq(bf16_pitch(d16)), pv(bf16_pitch(dv16)), ps(f32_pitch(kRows)), pdq(f32_pitch(d16)) {
        Carve c{base};
        q = c.take<bf16>(kRows * pq), dout = c.take<bf16>(kRows * pv);
        k = c.take<bf16>(kRows * pq), v = c.take<bf16>(kRows * pv);
        s = c.take<float>(kRows * ps), dp = c.take<float>(kRows * ps), dq = c.take<float>(kRows * pdq);
        lse = c.take<float>(kRows), D = c.take<float>(kRows);
        bytes = c.at;
    }
    size_t bytes;
};

// grid (B·H, ceil(T / 64)), 128 threads; dq packed [B, H, T, d], added to.
__global__ void __launch_bounds__(kFlashThreads) flash_dq_kernel(float* dq, Operand dout, const float* lse,
                                                                 const float* D, Operand q, Operand k, Operand v,
                                                                 Dims n, int d16, int dv16) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    extern __shared__ __align__(128) char smem[];
    QuerySideSmem t(smem, d16, dv16);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, w0 = warp * kWarpRows;
    const int64_t bh = blockIdx.x, b = bh / n.H, h = bh % n.H, i0 = int64_t(blockIdx.y) * kRows;
    load_tile(t.q, t.pq, q, b, h, i0, n.T, n.d, d16);
    load_tile(t.dout, t.pv, dout, b, h, i0, n.T, n.dv, dv16);
    load_rows(t.lse, lse, bh, i0, n.T, -INFINITY);
    load_rows(t.D, D, bh, i0, n.T, 0.0f);
    fill(t.dq, kRows * t.pdq, 0.0f);
    const int64_t last = i0 + kRows < n.T ? i0 + kRows : n.T;
    const int64_t kend = n.causal ? (last < n.S ? last : n.S) : n.S;
    for (int64_t j0 = 0; j0 < kend; j0 += kRows) {
        __syncthreads();
        load_tile(t.k, t.pq, k, b, h, j0, n.S, n.d, d16);
        load_tile(t.v, t.pv, v, b, h, j0, n.S, n.dv, dv16);
        __syncthreads();
        // S = Q·Kᵀ and dP = dO·Vᵀ for the warp's 16 queries and the 64 keys.
        warp_product<true>(t.s + w0 * t.ps, t.ps, t.q + w0 * t.pq, t.pq, t.k, t.pq, d16, kRows / 16, false);
        warp_product<true>(t.dp + w0 * t.ps, t.ps, t.dout + w0 * t.pv, t.pv, t.v, t.pv, dv16, kRows / 16, false);
        __syncwarp();
        for (int r = 0; r < kWarpRows; ++r) {
            const int row = w0 + r;
            float ds[2];
            for (int u = 0; u < 2; ++u) {
                const int col = lane + 32 * u;  // key j0 + col
                const float p = prob(n, b, i0 + row, j0 + col, t.s[row * t.ps + col], t.lse[row]);
                const float z = dropout_factor(n, b, h, i0 + row, j0 + col);
                ds[u] = p * (t.dp[row * t.ps + col] * z - t.D[row]);
            }
            __syncwarp();  // the f32 row is read before its bf16 replacement is written
            for (int u = 0; u < 2; ++u) as_bf16(t.s, t.ps, row)[lane + 32 * u] = __float2bfloat16_rn(ds[u]);
        }
        __syncwarp();
        // dQ += dS·K (scaled at the end).
        warp_product<false>(t.dq + w0 * t.pdq, t.pdq, as_bf16(t.s, t.ps, w0), 2 * t.ps, t.k, t.pq, kRows, d16 / 16,
                            true);
    }
    __syncthreads();
    for (int r = 0; r < kWarpRows; ++r) {
        const int64_t i = i0 + w0 + r;
        if (i >= n.T) break;
        float* g = dq + (bh * n.T + i) * n.d;
        for (int c = lane; c < n.d; c += 32) g[c] += n.scale * t.dq[(w0 + r) * t.pdq + c];
    }
#endif
}

}  // namespace

bool attention_flash_fits(const cpu::AttnDims& n) {
    // The kernels' code is compiled for compute capability 8.0 and later only:
    // a build for an older GPU_ARCH, JIT-compiled on a newer card, holds empty
    // bodies, so the PTX version decides, not the card.
    // A binary with no image this card can load fails the query: answer "does
    // not fit" rather than throw here (the other paths' kernels live in the
    // same binary, so the call then fails there, with that path's message).
    static const bool compiled = [] {
        cudaFuncAttributes a;
        if (cudaFuncGetAttributes(&a, flash_forward_kernel) != cudaSuccess) {
            (void)cudaGetLastError();  // clear the (non-sticky) error
            return false;
        }
        return a.ptxVersion >= 80;
    }();
    static const size_t smem_limit = [] {
        int device = 0, bytes = 0;
        CUDA_CHECK(cudaGetDevice(&device));
        CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
        return size_t(bytes);
    }();
    if (!compiled || n.d > kMaxHeadDim || n.dv > kMaxHeadDim) return false;
    const int d16 = pad16(n.d), dv16 = pad16(n.dv);
    return std::max({ForwardSmem(nullptr, d16, dv16).bytes, KeySideSmem(nullptr, d16, dv16).bytes,
                     QuerySideSmem(nullptr, d16, dv16).bytes}) <= smem_limit;
}

void attention_forward_flash(float* out, float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                             const cpu::AttnOperand& v, const cpu::AttnDims& n) {
    if (n.B * n.H * n.T == 0) return;
    const int d16 = pad16(n.d), dv16 = pad16(n.dv);
    const size_t bytes = ForwardSmem(nullptr, d16, dv16).bytes;
    allow_smem(flash_forward_kernel, bytes);
    const dim3 grid = attention_grid(n.T, kRows, n);
    flash_forward_kernel<<<grid, kFlashThreads, bytes>>>(out, lse, to_dev(q), to_dev(k), to_dev(v), to_dev(n), d16,
                                                         dv16);
    check_launch("scaled_dot_product_attention (flash forward)");
}

void attention_backward_flash(float* dq, float* dk, float* dv, const float* dout, const float* out,
                              const float* lse, const cpu::AttnOperand& q, const cpu::AttnOperand& k,
                              const cpu::AttnOperand& v, const cpu::AttnDims& n) {
    if (n.B * n.H * n.T * n.S == 0) return;
    const int d16 = pad16(n.d), dv16 = pad16(n.dv);
    float* D = attention_row_dots(dout, out, n);
    const Operand go{dout, n.H * n.T * n.dv, n.T * n.dv, n.dv};  // packed [B, H, T, dv]

    const size_t bytes_kv = KeySideSmem(nullptr, d16, dv16).bytes;
    allow_smem(flash_dkdv_kernel, bytes_kv);
    const dim3 grid_kv = attention_grid(n.S, kRows, n);
    flash_dkdv_kernel<<<grid_kv, kFlashThreads, bytes_kv>>>(dk, dv, go, lse, D, to_dev(q), to_dev(k), to_dev(v),
                                                            to_dev(n), d16, dv16);
    check_launch("scaled_dot_product_attention (flash backward, dk and dv)");

    const size_t bytes_q = QuerySideSmem(nullptr, d16, dv16).bytes;
    allow_smem(flash_dq_kernel, bytes_q);
    const dim3 grid_q = attention_grid(n.T, kRows, n);
    flash_dq_kernel<<<grid_q, kFlashThreads, bytes_q>>>(dq, go, lse, D, to_dev(q), to_dev(k), to_dev(v), to_dev(n),
                                                        d16, dv16);
    check_launch("scaled_dot_product_attention (flash backward, dq)");
    free(D);
}

}  // namespace eng::cuda
