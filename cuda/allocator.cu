// allocator.cu: eng::cuda::alloc/free through the caching allocator
// (cuda/caching_allocator.h) over cudaMalloc/cudaFree, and its statistics.
//
// The allocator object is created on first use and deliberately never destroyed:
// at process exit the CUDA runtime may already be torn down, and freeing then
// would report errors; the driver reclaims everything anyway.
#include <atomic>

#include "cuda/caching_allocator.h"
#include "cuda/common.cuh"
#include "tensor/cuda_backend.h"

namespace eng::cuda {

static std::string device_memory_info() {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        return std::string();
    }
    return "device has " + format_bytes(free_b) + " free of " + format_bytes(total_b);
}

static CachingAllocator& allocator() {
    static CachingAllocator* a = new CachingAllocator(
        [](size_t n) -> void* {
            void* p = nullptr;
            cudaError_t err = cudaMalloc(&p, n);
            if (err == cudaErrorMemoryAllocation) {
                cudaGetLastError();  // clear the sticky-free error so later calls work
                return nullptr;
            }
            if (err != cudaSuccess) ENG_FAIL("CUDA error in cudaMalloc(", n, " bytes): ", cudaGetErrorString(err));
            return p;
        },
        [](void* p) { cudaFree(p); }, device_memory_info);
    return *a;
}

// The cache keeps no per-device lists: a block taken on one GPU must never be
// handed out on another.  One GPU per process is the design (a rank's GPU is
// chosen before the model is built), so a switch is refused, not served.
static void check_same_device() {
    static std::atomic<int> first{-1};
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    int expected = -1;
    if (first.compare_exchange_strong(expected, dev) || expected == dev) return;
    ENG_FAIL("CUDA allocation on GPU ", dev, " after the memory cache was filled on GPU ", expected,
             ": the allocator serves one GPU per process. HINT: pick the GPU (CUDA_VISIBLE_DEVICES, or "
             "cudaSetDevice) before the first CUDA tensor is made");
}

void* alloc(size_t nbytes) {
    require_available("CUDA allocation");
    check_same_device();
    return allocator().alloc(nbytes);
}

void free(void* ptr) {
    if (ptr) allocator().free(ptr);
}

MemoryStats memory_stats() { return allocator().stats(); }
void reset_peak_memory() { allocator().reset_peak(); }
void empty_cache() {
    // Kernels still queued may read blocks we are about to release.
    CUDA_CHECK(cudaDeviceSynchronize());
    allocator().empty_cache();
}

}  // namespace eng::cuda
