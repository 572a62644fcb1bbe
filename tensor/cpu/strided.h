// strided.h: visiting the elements of strided views, one row (last dim) at a time.
//
// Most CPU kernels work on packed buffers.  The few that read or write views
// (copies, broadcasting elementwise ops) use for_each_row: it splits the shape
// into rows along the last dimension and hands each row's starting offset in
// every operand to a callback, so the inner loop is a simple strided loop.
// Rows are independent, so they are spread over OpenMP threads; the result
// does not depend on the thread count.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace eng::cpu {

// shape: the iteration shape (ndim >= 0).  strides[k]: the element strides of
// operand k over that shape (0 for broadcast dims).  fn(row_offsets, len, inner_strides)
// is called once per row; row_offsets[k] is operand k's offset of the row's first element.
template <size_t K, typename Fn>
void for_each_row(const std::vector<int64_t>& shape, const std::array<const int64_t*, K>& strides, Fn&& fn,
                  int64_t grain = 1 << 14) {
    int64_t ndim = int64_t(shape.size());
    int64_t len = ndim ? shape[size_t(ndim - 1)] : 1;
    int64_t rows = 1;
    for (int64_t d = 0; d + 1 < ndim; ++d) rows *= shape[size_t(d)];
    if (rows == 0 || len == 0) return;
    std::array<int64_t, K> inner{};
    for (size_t k = 0; k < K; ++k) inner[k] = ndim ? strides[k][ndim - 1] : 0;
    bool parallel = rows > 1 && rows * len >= grain;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t r = 0; r < rows; ++r) {
        std::array<int64_t, K> off{};
        int64_t rem = r;
        for (int64_t d = ndim - 2; d >= 0; --d) {
            int64_t idx = rem % shape[size_t(d)];
            rem /= shape[size_t(d)];
            for (size_t k = 0; k < K; ++k) off[k] += idx * strides[k][d];
        }
        fn(off, len, inner);
    }
}

}  // namespace eng::cpu
