// index_ops.cpp: CPU loops for index_select / index_add and gather / scatter_add.
#include "tensor/cpu/index_ops.h"

#include <cstring>

namespace eng::cpu {

void index_select_forward(void* out, const void* x, const int32_t* index, int64_t outer, int64_t n_in,
                          int64_t n_idx, int64_t inner, size_t elem) {
    // out [outer, n_idx, inner], x [outer, n_in, inner], index [n_idx]: each
    // (o, i) row of `inner` elements is one memcpy.
    const size_t row = size_t(inner) * elem;
    char* po = static_cast<char*>(out);
    const char* px = static_cast<const char*>(x);
#pragma omp parallel for schedule(static) if (outer * n_idx * inner > (1 << 16))
    for (int64_t r = 0; r < outer * n_idx; ++r) {
        int64_t o = r / n_idx, i = r % n_idx;
        std::memcpy(po + size_t(r) * row, px + size_t(o * n_in + index[i]) * row, row);
    }
}

void index_add(float* out, const float* src, const int32_t* index, int64_t outer, int64_t n_out, int64_t n_idx,
               int64_t inner) {
    // out [outer, n_out, inner], src [outer, n_idx, inner], index [n_idx].
    // Tasks are (o, block of 64 columns); each walks i in order, so repeated
    // indices add up in a fixed order whatever the thread count.
    const int64_t kb = 64, nkb = (inner + kb - 1) / kb;
#pragma omp parallel for schedule(static) if (outer * n_idx * inner > (1 << 16))
    for (int64_t t = 0; t < outer * nkb; ++t) {
        int64_t o = t / nkb, k0 = (t % nkb) * kb, k1 = k0 + kb < inner ? k0 + kb : inner;
        for (int64_t i = 0; i < n_idx; ++i) {
            float* dst = out + (o * n_out + index[i]) * inner;
            const float* s = src + (o * n_idx + i) * inner;
            for (int64_t k = k0; k < k1; ++k) dst[k] += s[k];
        }
    }
}

namespace {

// Row-major strides of a shape of rank n.
void packed_strides(const int64_t* shape, int64_t n, int64_t* strides) {
    int64_t s = 1;
    for (int64_t d = n - 1; d >= 0; --d) {
        strides[d] = s;
        s *= shape[d];
    }
}

// A "line" is the set of index positions that differ only in coordinate `dim`.
// Given a line number, returns the offsets of its first element in index, x
// and src (each with its own packed strides).
struct Lines {
    int64_t ndim, dim, len, count;
    int64_t shape[8], istr[8], xstr[8], sstr[8];
    explicit Lines(const GatherShapes& s) : ndim(s.ndim), dim(s.dim), len(s.index[s.dim]), count(1) {
        for (int64_t d = 0; d < ndim; ++d) {
            shape[d] = s.index[d];
            if (d != dim) count *= s.index[d];
        }
        packed_strides(s.index, ndim, istr);
        packed_strides(s.x, ndim, xstr);
        packed_strides(s.src, ndim, sstr);
        if (len == 0) count = 0;
    }
    void offsets(int64_t line, int64_t& io, int64_t& xo, int64_t& so) const {
        io = xo = so = 0;
        for (int64_t d = ndim - 1; d >= 0; --d) {
            if (d == dim) continue;
            int64_t c = line % shape[d];
            line /= shape[d];
            io += c * istr[d];
            xo += c * xstr[d];
            so += c * sstr[d];
        }
    }
};

template <typename T>
void gather_typed(T* out, const T* x, const int32_t* index, const GatherShapes& s) {
    Lines L(s);
    const int64_t is = L.istr[L.dim], xs = L.xstr[L.dim];
#pragma omp parallel for schedule(static) if (L.count * L.len > (1 << 16))
    for (int64_t l = 0; l < L.count; ++l) {
        int64_t io, xo, so;
        L.offsets(l, io, xo, so);
        for (int64_t j = 0; j < L.len; ++j) out[io + j * is] = x[xo + int64_t(index[io + j * is]) * xs];
    }
}

}  // namespace

void gather_forward(void* out, const void* x, const int32_t* index, const GatherShapes& s, size_t elem) {
    if (elem == 2)
        gather_typed(static_cast<uint16_t*>(out), static_cast<const uint16_t*>(x), index, s);
    else
        gather_typed(static_cast<uint32_t*>(out), static_cast<const uint32_t*>(x), index, s);
}

void scatter_add(float* out, const float* src, const int32_t* index, const GatherShapes& s) {
    // Positions sharing a line can hit the same output element; a line is
    // handled by one thread in increasing j, and different lines never collide
    // (their non-`dim` coordinates differ), so the sums are deterministic.
    Lines L(s);
    const int64_t is = L.istr[L.dim], xs = L.xstr[L.dim], ss = L.sstr[L.dim];
#pragma omp parallel for schedule(static) if (L.count * L.len > (1 << 16))
    for (int64_t l = 0; l < L.count; ++l) {
        int64_t io, xo, so;
        L.offsets(l, io, xo, so);
        for (int64_t j = 0; j < L.len; ++j) out[xo + int64_t(index[io + j * is]) * xs] += src[so + j * ss];
    }
}

}  // namespace eng::cpu
