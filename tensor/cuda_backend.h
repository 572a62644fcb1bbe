// cuda_backend.h: what tensor/ needs from the CUDA layer, declared once.
//
// cuda/ implements these (cuda/device.cu, cuda/memory.cu, cuda/elementwise.cu);
// a build without nvcc links cuda/stub.cpp instead, whose functions report that
// CUDA support is missing.  Pointers are device pointers unless named host.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace eng::cuda {

bool built_with_cuda();        // false in the stub build
int device_count();            // 0 when no usable GPU (or no CUDA support)
bool is_available();           // built with CUDA and at least one device
std::string device_summary();  // "NVIDIA H200, 139 GiB, sm_90" or why none
void require_available(const char* what);  // throws with a HINT when CUDA cannot be used

void* alloc(size_t nbytes);
void free(void* ptr);
void copy_host_to_device(void* dst, const void* host_src, size_t nbytes);
void copy_device_to_host(void* host_dst, const void* src, size_t nbytes);
void copy_device_to_device(void* dst, const void* src, size_t nbytes);
void synchronize();

// Kernels (device pointers).  Strided copy gathers a view of up to 8 dims into a
// packed buffer: shape/strides are element counts, elem_size 2 or 4 bytes.
void strided_copy(void* dst, const void* src, int ndim, const int64_t* shape, const int64_t* strides,
                  int64_t numel, size_t elem_size);
void fill_f32(float* out, float value, int64_t n);
void add_f32(float* out, const float* a, const float* b, int64_t n);

}  // namespace eng::cuda
