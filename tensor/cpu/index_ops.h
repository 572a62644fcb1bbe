// index_ops.h: CPU loops for index_select / index_add and gather / scatter_add.
//
// All buffers are packed (row-major).  Indices have been range-checked by the
// front-end (tensor/index_ops.cpp), so these loops trust them.  Threads split
// the work so that every output element is written by one thread, summing in a
// fixed order: results do not depend on the number of threads.
#pragma once
#include <cstddef>
#include <cstdint>

namespace eng::cpu {

// out [outer, n_idx, inner], x [outer, n_in, inner], index [n_idx]; elements of
// `elem` bytes.  out[o, i, k] = x[o, index[i], k].
void index_select_forward(void* out, const void* x, const int32_t* index, int64_t outer, int64_t n_in,
                          int64_t n_idx, int64_t inner, size_t elem);
// out [outer, n_out, inner] (accumulated into), src [outer, n_idx, inner], index [n_idx]:
// out[o, index[i], k] += src[o, i, k], summed in increasing i.
void index_add(float* out, const float* src, const int32_t* index, int64_t outer, int64_t n_out, int64_t n_idx,
               int64_t inner);

// Shapes of gather/scatter, all of rank `ndim` (at most 8).
struct GatherShapes {
    int64_t ndim = 0, dim = 0;
    int64_t index[8] = {}, x[8] = {}, src[8] = {};  // src: scatter only
};
// out [index shape], x [x shape], index [index shape]; T-sized elements.
// out[p] = x[p with p[dim] := index[p]].
void gather_forward(void* out, const void* x, const int32_t* index, const GatherShapes& s, size_t elem);
// out [x shape] (accumulated into), src [src shape], index [index shape]:
// out[p with p[dim] := index[p]] += src[p] for every position p of index,
// summed in increasing p[dim] for each output element.
void scatter_add(float* out, const float* src, const int32_t* index, const GatherShapes& s);

}  // namespace eng::cpu
