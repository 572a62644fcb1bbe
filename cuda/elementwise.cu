// elementwise.cu: the first CUDA kernels: fill, add, and the strided gather
// that makes a view contiguous.  One thread per output element.
#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

__global__ void fill_kernel(float* out, float value, int64_t n) {
    int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) out[i] = value;
}

__global__ void add_kernel(float* out, const float* a, const float* b, int64_t n) {
    int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i];
}

struct ViewDims {
    int ndim;
    int64_t shape[8], strides[8];
};

// Output element i (row-major over shape) reads the source at sum(idx_d * stride_d).
template <typename T>
__global__ void strided_copy_kernel(T* dst, const T* src, ViewDims v, int64_t n) {
    int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t rem = i, off = 0;
    for (int d = v.ndim - 1; d >= 0; --d) {
        off += (rem % v.shape[d]) * v.strides[d];
        rem /= v.shape[d];
    }
    dst[i] = src[off];
}

void fill_f32(float* out, float value, int64_t n) {
    if (n == 0) return;
    fill_kernel<<<blocks_for(n, 256), 256>>>(out, value, n);
    check_launch("fill_f32");
}

void add_f32(float* out, const float* a, const float* b, int64_t n) {
    if (n == 0) return;
    add_kernel<<<blocks_for(n, 256), 256>>>(out, a, b, n);
    check_launch("add_f32");
}

void strided_copy(void* dst, const void* src, int ndim, const int64_t* shape, const int64_t* strides, int64_t n,
                  size_t elem_size) {
    ENG_CHECK(ndim <= 8, "strided_copy: views of more than 8 dims are not supported on CUDA");
    if (n == 0) return;
    ViewDims v{};
    v.ndim = ndim;
    for (int d = 0; d < ndim; ++d) {
        v.shape[d] = shape[d];
        v.strides[d] = strides[d];
    }
    if (elem_size == 2)
        strided_copy_kernel<<<blocks_for(n, 256), 256>>>(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), v, n);
    else
        strided_copy_kernel<<<blocks_for(n, 256), 256>>>(static_cast<uint32_t*>(dst), static_cast<const uint32_t*>(src), v, n);
    check_launch("strided_copy");
}

}  // namespace eng::cuda
