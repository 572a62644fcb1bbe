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

#ifndef ENG_GPU_ARCH
#define ENG_GPU_ARCH 0  // (the Makefile passes GPU_ARCH; 0: not checked)
#endif
int built_gpu_arch() { return ENG_GPU_ARCH; }

namespace {

// What the driver reports, once: the devices, and why they cannot be used
// when they cannot (no driver, or a GPU older than the build's kernels).
struct Devices {
    int count = 0;
    std::string why_none;
};

int capability_of(int dev) {
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return major * 10 + minor;
}

const Devices& devices() {
    static const Devices d = [] {
        Devices r;
        int n = 0;
        // No driver or no GPU: report zero devices instead of failing, so that
        // the CPU path keeps working and GPU tests skip.
        const cudaError_t err = cudaGetDeviceCount(&n);
        if (err != cudaSuccess || n == 0) {
            cudaGetLastError();
            r.why_none = err != cudaSuccess ? std::string("no usable GPU (") + cudaGetErrorString(err) + ")"
                                            : std::string("no GPU found");
            return r;
        }
        // Every device must run the build's kernels (data-parallel runs use them all).
        for (int dev = 0; dev < n; ++dev) {
            cudaDeviceProp p;
            if (cudaGetDeviceProperties(&p, dev) != cudaSuccess) continue;
            const std::string why = arch_mismatch(capability_of(dev), ENG_GPU_ARCH, p.name);
            if (!why.empty()) {
                r.why_none = "GPU " + std::to_string(dev) + ", " + why;
                return r;
            }
        }
        r.count = n;
        return r;
    }();
    return d;
}

}  // namespace

int device_count() { return devices().count; }

bool is_available() { return device_count() > 0; }

int compute_capability() {
    if (!is_available()) return 0;
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    return capability_of(dev);
}

std::string device_summary() {
    if (!is_available()) return devices().why_none;
    int dev = 0;  // this process's GPU (a rank's, once data parallelism has picked it)
    CUDA_CHECK(cudaGetDevice(&dev));
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    return std::string(p.name) + ", " + std::to_string(p.totalGlobalMem >> 30) + " GiB, sm_" +
           std::to_string(p.major) + std::to_string(p.minor);
}

void require_available(const char* what) {
    if (is_available()) return;
    const std::string& why = devices().why_none;
    if (why.find("HINT") != std::string::npos) ENG_FAIL(what, ": the GPU cannot be used: ", why);
    ENG_FAIL(what, ": no CUDA device is available (", why, "). HINT: run on a machine with an NVIDIA GPU, or use the CPU");
}

void check_launch(const char* kernel) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) ENG_FAIL("CUDA kernel ", kernel, " failed to launch: ", cudaGetErrorString(err));
    static bool sync = [] {
        const char* v = std::getenv("ENG_CUDA_SYNC");
        return v && std::string(v) == "1";
    }();
    // The profiler synchronises itself, timing the kernel; a sync before it
    // would leave it nothing to time (and the kernel's time under "host").
    if (profiling()) {
        profile_kernel(kernel);
    } else if (sync) {
        err = cudaDeviceSynchronize();
        if (err != cudaSuccess) ENG_FAIL("CUDA kernel ", kernel, " failed: ", cudaGetErrorString(err));
    }
}

void copy_host_to_device(void* dst, const void* src, size_t n) { CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice)); }
void copy_device_to_host(void* dst, const void* src, size_t n) { CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost)); }
void copy_device_to_device(void* dst, const void* src, size_t n) { CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice)); }
void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

}  // namespace eng::cuda
