// device.cu: device discovery, memory, copies and launch checks of the CUDA layer.
//
// Memory comes from the caching allocator (cuda/allocator.cu); the op kernels
// live in one file per family (elementwise.cu, reduce.cu, gemm.cu, ...).
#include <cstdlib>
#include <string>

#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

bool built_with_cuda() { return true; }

int device_count() {
    static int count = [] {
        int n = 0;
        // No driver or no GPU: report zero devices instead of failing, so that
        // the CPU path keeps working and GPU tests skip.
        if (cudaGetDeviceCount(&n) != cudaSuccess) {
            cudaGetLastError();
            return 0;
        }
        return n;
    }();
    return count;
}

bool is_available() { return device_count() > 0; }

std::string device_summary() {
    if (!is_available()) {
        int n = 0;
        cudaError_t err = cudaGetDeviceCount(&n);
        cudaGetLastError();
        return std::string("no usable GPU (") + cudaGetErrorString(err) + ")";
    }
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    return std::string(p.name) + ", " + std::to_string(p.totalGlobalMem >> 30) + " GiB, sm_" +
           std::to_string(p.major) + std::to_string(p.minor);
}

void require_available(const char* what) {
    ENG_CHECK(is_available(), what, ": no CUDA device is available (", device_summary(),
              "). HINT: run on a machine with an NVIDIA GPU, or use the CPU");
}

void check_launch(const char* kernel) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) ENG_FAIL("CUDA kernel ", kernel, " failed to launch: ", cudaGetErrorString(err));
    static bool sync = [] {
        const char* v = std::getenv("ENG_CUDA_SYNC");
        return v && std::string(v) == "1";
    }();
    if (sync) {
        err = cudaDeviceSynchronize();
        if (err != cudaSuccess) ENG_FAIL("CUDA kernel ", kernel, " failed: ", cudaGetErrorString(err));
    }
    if (profiling()) profile_kernel(kernel);
}

void copy_host_to_device(void* dst, const void* src, size_t n) { CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice)); }
void copy_device_to_host(void* dst, const void* src, size_t n) { CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost)); }
void copy_device_to_device(void* dst, const void* src, size_t n) { CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice)); }
void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace eng::cuda
