// index.cu: CUDA embedding (forward and scatter-add backward), dropout, and the
// index ops index_select / index_add / gather / scatter_add (contracts of
// tensor/cpu/embedding.h, dropout.h and index_ops.h).
//
// Determinism without atomics: every accumulating kernel gives each output
// element exactly one thread, which adds its contributions in the CPU's order
// (embedding backward: one thread per column walking the ids in order; index_add:
// one thread per (outer, column); scatter_add: one thread per "line" of positions
// that differ only along dim).  So these match the CPU bit for bit.
// Dropout draws element i from hash(seed, offset + i) with the formula of
// tensor/random.h (cuda/common.cuh), so its mask equals the CPU's exactly.
#include "cuda/common.cuh"
#include "tensor/cpu/index_ops.h"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

// ---- embedding -----------------------------------------------------------------------------------

__global__ void embedding_forward_kernel(float* out, const float* weight, const int32_t* ids, int64_t n, int64_t D) {
    CUDA_KERNEL_LOOP(i, n * D) {
        int64_t r = i / D, j = i - r * D;
        out[i] = weight[int64_t(ids[r]) * D + j];
    }
}

void embedding_forward(float* out, const float* weight, const int32_t* ids, int64_t n, int64_t D) {
    if (n * D == 0) return;
    embedding_forward_kernel<<<blocks_for(n * D, kThreads), kThreads>>>(out, weight, ids, n, D);
    check_launch("embedding");
}

// One thread per column j: dweight[ids[i], j] += dout[i, j] for i in order.
__global__ void embedding_backward_kernel(float* dweight, const float* dout, const int32_t* ids, int64_t n,
                                          int64_t D) {
    CUDA_KERNEL_LOOP(j, D) {
        for (int64_t i = 0; i < n; ++i) dweight[int64_t(ids[i]) * D + j] += dout[i * D + j];
    }
}

void embedding_backward(float* dweight, const float* dout, const int32_t* ids, int64_t n, int64_t D) {
    if (n * D == 0) return;
    embedding_backward_kernel<<<blocks_for(D, 128), 128>>>(dweight, dout, ids, n, D);
    check_launch("embedding backward");
}

// ---- dropout -------------------------------------------------------------------------------------

__global__ void dropout_kernel(float* out, float* mask, const float* inp, uint64_t seed, uint64_t offset, float keep,
                               float scale, int64_t n) {
    CUDA_KERNEL_LOOP(i, n) {
        float m = word_to_uniform_dev(random_word_dev(seed, offset + uint64_t(i))) < keep ? scale : 0.0f;
        mask[i] = m;
        out[i] = inp[i] * m;
    }
}

void dropout_forward(float* out, float* mask, const float* inp, uint64_t seed, uint64_t offset, float p, int64_t n) {
    if (n == 0) return;
    float keep = 1.0f - p;
    float scale = keep > 0.0f ? 1.0f / keep : 0.0f;  // p == 1: nothing is kept
    dropout_kernel<<<blocks_for(n, kThreads), kThreads>>>(out, mask, inp, seed, offset, keep, scale, n);
    check_launch("dropout");
}

// ---- index_select / index_add --------------------------------------------------------------------

template <typename T>
__global__ void index_select_kernel(T* out, const T* x, const int32_t* index, int64_t outer, int64_t n_in,
                                    int64_t n_idx, int64_t inner) {
    CUDA_KERNEL_LOOP(e, outer * n_idx * inner) {
        int64_t k = e % inner, r = e / inner;
        int64_t o = r / n_idx, i = r - o * n_idx;
        out[e] = x[(o * n_in + index[i]) * inner + k];
    }
}

void index_select_forward(void* out, const void* x, const int32_t* index, int64_t outer, int64_t n_in,
                          int64_t n_idx, int64_t inner, size_t elem) {
    int64_t total = outer * n_idx * inner;
    if (total == 0) return;
    int blocks = blocks_for(total, kThreads);
    if (elem == 2)
        index_select_kernel<<<blocks, kThreads>>>(static_cast<uint16_t*>(out), static_cast<const uint16_t*>(x),
                                                  index, outer, n_in, n_idx, inner);
    else
        index_select_kernel<<<blocks, kThreads>>>(static_cast<uint32_t*>(out), static_cast<const uint32_t*>(x),
                                                  index, outer, n_in, n_idx, inner);
    check_launch("index_select");
}

__global__ void index_add_kernel(float* out, const float* src, const int32_t* index, int64_t outer, int64_t n_out,
                                 int64_t n_idx, int64_t inner) {
    CUDA_KERNEL_LOOP(t, outer * inner) {
        int64_t o = t / inner, k = t - o * inner;
        for (int64_t i = 0; i < n_idx; ++i) out[(o * n_out + index[i]) * inner + k] += src[(o * n_idx + i) * inner + k];
    }
}

void index_add(float* out, const float* src, const int32_t* index, int64_t outer, int64_t n_out, int64_t n_idx,
               int64_t inner) {
    if (outer * inner * n_idx == 0) return;
    index_add_kernel<<<blocks_for(outer * inner, kThreads), kThreads>>>(out, src, index, outer, n_out, n_idx, inner);
    check_launch("index_add");
}

// ---- gather / scatter_add ------------------------------------------------------------------------

// A "line" is the set of index positions that differ only in coordinate `dim`
// (as in tensor/cpu/index_ops.cpp); each operand has its own packed strides.
struct Lines {
    int ndim, dim;
    int64_t len, count;
    int64_t shape[8], istr[8], xstr[8], sstr[8];
};

static void packed_strides(const int64_t* shape, int64_t n, int64_t* strides) {
    int64_t s = 1;
    for (int64_t d = n - 1; d >= 0; --d) {
        strides[d] = s;
        s *= shape[d];
    }
}

static Lines make_lines(const cpu::GatherShapes& s) {
    Lines L{};
    L.ndim = int(s.ndim);
    L.dim = int(s.dim);
    L.len = s.index[s.dim];
    L.count = 1;
    for (int64_t d = 0; d < s.ndim; ++d) {
        L.shape[d] = s.index[d];
        if (d != s.dim) L.count *= s.index[d];
    }
    packed_strides(s.index, s.ndim, L.istr);
    packed_strides(s.x, s.ndim, L.xstr);
    packed_strides(s.src, s.ndim, L.sstr);
    if (L.len == 0) L.count = 0;
    return L;
}

__device__ __forceinline__ void line_offsets(const Lines& L, int64_t line, int64_t& io, int64_t& xo, int64_t& so) {
    io = xo = so = 0;
    for (int d = L.ndim - 1; d >= 0; --d) {
        if (d == L.dim) continue;
        int64_t c = line % L.shape[d];
        line /= L.shape[d];
        io += c * L.istr[d];
        xo += c * L.xstr[d];
        so += c * L.sstr[d];
    }
}

// One thread per index position.
template <typename T>
__global__ void gather_kernel(T* out, const T* x, const int32_t* index, Lines L) {
    CUDA_KERNEL_LOOP(e, L.count * L.len) {
        int64_t line = e / L.len, j = e - line * L.len;
        int64_t io, xo, so;
        line_offsets(L, line, io, xo, so);
        int64_t ip = io + j * L.istr[L.dim];
        out[ip] = x[xo + int64_t(index[ip]) * L.xstr[L.dim]];
    }
}

void gather_forward(void* out, const void* x, const int32_t* index, const cpu::GatherShapes& s, size_t elem) {
    Lines L = make_lines(s);
    int64_t total = L.count * L.len;
    if (total == 0) return;
    int blocks = blocks_for(total, kThreads);
    if (elem == 2)
        gather_kernel<<<blocks, kThreads>>>(static_cast<uint16_t*>(out), static_cast<const uint16_t*>(x), index, L);
    else
        gather_kernel<<<blocks, kThreads>>>(static_cast<uint32_t*>(out), static_cast<const uint32_t*>(x), index, L);
    check_launch("gather");
}

// One thread per line, walking j in order: lines never share an output element.
__global__ void scatter_add_kernel(float* out, const float* src, const int32_t* index, Lines L) {
    CUDA_KERNEL_LOOP(line, L.count) {
        int64_t io, xo, so;
        line_offsets(L, line, io, xo, so);
        const int64_t is = L.istr[L.dim], xs = L.xstr[L.dim], ss = L.sstr[L.dim];
        for (int64_t j = 0; j < L.len; ++j) out[xo + int64_t(index[io + j * is]) * xs] += src[so + j * ss];
    }
}

void scatter_add(float* out, const float* src, const int32_t* index, const cpu::GatherShapes& s) {
    Lines L = make_lines(s);
    if (L.count == 0) return;
    scatter_add_kernel<<<blocks_for(L.count, kThreads), kThreads>>>(out, src, index, L);
    check_launch("scatter_add");
}

}  // namespace eng::cuda
