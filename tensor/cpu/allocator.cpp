// allocator.cpp: the CPU caching allocator (see allocator.h for the policy).
#include "tensor/cpu/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "tensor/check.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ENG_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define ENG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define ENG_POISON(p, n) ((void)(p), (void)(n))
#define ENG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace eng::cpu {

// Fixed part of the slack above the in-use peak (see allocator.h).
static constexpr size_t kSlack = size_t(64) << 20;

size_t CpuAllocator::round_size(size_t n) { return round_to_size_class(n, 64, size_t(1) << 16, 4); }

void* CpuAllocator::allocate(size_t n) {
    size_t size = round_size(n);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.requests;
    void* p = nullptr;
    if ((p = free_.take(size))) {
        stats_.cached -= size;
        ++stats_.hits;
        ENG_UNPOISON(p, n);  // the slack past n stays poisoned: overruns are still caught
    } else {
        // Keep in_use + cached within the peak plus a little slack (see allocator.h).
        size_t held = stats_.in_use + stats_.cached + size;
        size_t top = std::max(stats_.peak, stats_.in_use + size);
        size_t bound = top + top / 4 + kSlack;
        if (held > bound) release_locked(held - bound);
        p = std::aligned_alloc(64, size);
        if (!p && stats_.cached) {  // out of memory: give the cache back and retry once
            release_locked(stats_.cached);
            p = std::aligned_alloc(64, size);
        }
        ENG_CHECK(p != nullptr, "out of host memory allocating ", n, " bytes (tensors in use: ", stats_.in_use,
                  " bytes). HINT: use a smaller batch or image size");
    }
    stats_.in_use += size;
    stats_.peak = std::max(stats_.peak, stats_.in_use);
    return p;
}

void CpuAllocator::deallocate(void* p, size_t n) {
    if (!p) return;
    size_t size = round_size(n);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.in_use -= size;
    if (!caching_) {
        std::free(p);
        return;
    }
    ENG_POISON(p, size);
    free_.put(size, p);
    stats_.cached += size;
}

void CpuAllocator::release_locked(size_t need) {
    // Best fit first: the smallest cached block that covers what is still
    // needed, so that a small overshoot does not throw away a big block that
    // the next step will want again; failing that, the largest block.
    size_t freed = 0;
    while (freed < need && !free_.empty()) {
        auto [p, size] = free_.take_best_fit(need - freed);
        ENG_UNPOISON(p, size);
        std::free(p);
        freed += size;
        stats_.cached -= size;
    }
}

void CpuAllocator::release_cached() {
    std::lock_guard<std::mutex> lock(mu_);
    release_locked(stats_.cached);
}

CpuMemoryStats CpuAllocator::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
}

void CpuAllocator::reset_peak() {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peak = stats_.in_use;
}

namespace {

bool caching_from_env() {
    const char* v = std::getenv("ENG_CPU_CACHE");
    return !(v && std::strcmp(v, "0") == 0);
}

// Destroyed at exit: returns the cache to the system and stops caching, so
// storages that die later (in other static objects) are freed directly.
struct ExitRelease {
    CpuAllocator* a;
    ~ExitRelease() { a->stop_caching(); }
};

}  // namespace

void CpuAllocator::stop_caching() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        caching_ = false;
    }
    release_cached();
}

CpuAllocator& cpu_allocator() {
    // Never destroyed (storages in static objects may be freed after exit
    // handlers ran); ExitRelease empties it instead.
    static CpuAllocator* a = new CpuAllocator(caching_from_env());
    static ExitRelease release{a};
    return *a;
}

void* cpu_alloc(size_t n) { return cpu_allocator().allocate(n); }
void cpu_free(void* p, size_t n) { cpu_allocator().deallocate(p, n); }

}  // namespace eng::cpu
