// caching_allocator.h: the device memory cache behind eng::cuda::alloc/free.
//
// cudaMalloc and cudaFree are slow (cudaFree synchronises the whole device), and a
// training step allocates and frees the same activation sizes over and over.
// So freed blocks are kept in free lists, one per size class, and handed out
// again for a later request of the same class.  Sizes are rounded up so that
// nearby requests share a class:
//   below 1 MiB: to a multiple of 512 bytes;
//   from 1 MiB:  to a multiple of 2^(floor(log2 n) - 3), i.e. eight classes per
//                power of two (at most 12.5% waste).
// When the device is out of memory, every cached block is released and the
// request retried once; if it still fails the error states the request, the
// amount in use and the peak, and what to try.
//
// Plain C++ over an injected raw allocator (cudaMalloc/cudaFree in cuda/allocator.cu,
// malloc in the tests), so the bookkeeping is tested on machines without a GPU.
// Thread safe (one mutex): storages may die on data-loader threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/check.h"
#include "tensor/cuda_backend.h"  // MemoryStats
#include "tensor/size_classes.h"

namespace eng::cuda {

inline std::string format_bytes(size_t n) {
    char buf[64];
    if (n >= (size_t(1) << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", double(n) / double(size_t(1) << 30));
    else if (n >= (size_t(1) << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", double(n) / double(size_t(1) << 20));
    else std::snprintf(buf, sizeof buf, "%zu bytes", n);
    return buf;
}

class CachingAllocator {
public:
    // raw_alloc returns null when the device has no room; raw_free releases a block.
    // device_info (optional) describes the device's free/total memory for error messages.
    CachingAllocator(std::function<void*(size_t)> raw_alloc, std::function<void(void*)> raw_free,
                     std::function<std::string()> device_info = nullptr)
        : raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)), device_info_(std::move(device_info)) {}

    // The size class of a request (>= 512 bytes, so every block is 512-byte aligned in size).
    static size_t round_size(size_t n) { return round_to_size_class(n, 512, size_t(1) << 20, 3); }

    void* alloc(size_t nbytes) {
        size_t size = round_size(nbytes);
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.requests;
        void* p = free_.take(size);
        if (p) {
            stats_.cached -= size;
            ++stats_.cache_hits;
        } else {
            p = raw_alloc_(size);
            if (!p) {
                // Out of memory: give the cache back to the device and try once more.
                release_cached_locked();
                p = raw_alloc_(size);
            }
            if (!p) {
                std::string dev = device_info_ ? device_info_() : std::string();
                ENG_FAIL("CUDA out of memory: tried to allocate ", format_bytes(nbytes), " (", nbytes,
                         " bytes); in use ", format_bytes(stats_.in_use), ", peak ", format_bytes(stats_.peak),
                         dev.empty() ? "" : ", ", dev,
                         ". HINT: use a smaller micro-batch (with gradient accumulation), activation "
                         "checkpointing, or bf16 to use less memory");
            }
            ++stats_.device_allocs;
            stats_.reserved += size;
        }
        sizes_[p] = size;
        stats_.in_use += size;
        if (stats_.in_use > stats_.peak) stats_.peak = stats_.in_use;
        return p;
    }

    void free(void* p) {
        if (!p) return;
        std::lock_guard<std::mutex> lock(mu_);
        auto it = sizes_.find(p);
        ENG_CHECK(it != sizes_.end(), "CUDA free: pointer was not allocated by the caching allocator");
        size_t size = it->second;
        sizes_.erase(it);
        stats_.in_use -= size;
        stats_.cached += size;
        free_.put(size, p);
    }

    // Returns every cached (free) block to the device.
    void empty_cache() {
        std::lock_guard<std::mutex> lock(mu_);
        release_cached_locked();
    }

    MemoryStats stats() const {
        std::lock_guard<std::mutex> lock(mu_);
        return stats_;
    }
    void reset_peak() {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.peak = stats_.in_use;
    }

private:
    void release_cached_locked() {
        while (!free_.empty()) {
            auto [p, size] = free_.take_best_fit(0);
            raw_free_(p);
            stats_.reserved -= size;
            stats_.cached -= size;
        }
    }

    std::function<void*(size_t)> raw_alloc_;
    std::function<void(void*)> raw_free_;
    std::function<std::string()> device_info_;
    mutable std::mutex mu_;
    FreeLists free_;                                        // size class -> free blocks
    std::unordered_map<void*, size_t> sizes_;               // live block -> its size class
    MemoryStats stats_;
};

}  // namespace eng::cuda
