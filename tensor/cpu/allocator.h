// allocator.h: the caching allocator behind CPU tensor storage.
//
// A training step allocates and frees the same activation sizes over and over.
// Fresh large blocks come from the kernel as untouched pages (glibc uses mmap
// above its threshold), and the first write to each 4 KiB page costs a page
// fault plus zeroing, which can take longer than the kernel that writes it.
// So freed blocks are kept in free lists, one per size class, and handed out
// again for a later request of the same class.  Size classes:
//   below 64 KiB: a multiple of 64 bytes (the alignment AVX-512 loads like);
//   from 64 KiB:  a multiple of 2^(floor(log2 n) - 4), i.e. sixteen classes per
//                 power of two (at most 6.25% waste).
// Bound on the cache: a miss that would make (in use + cached) exceed the
// highest in-use peak seen so far, plus 1/4 of it and 64 MiB of slack, first
// releases cached blocks (best fit first: the smallest block that makes room,
// so a small overshoot does not throw away a big activation buffer).  So the
// memory held stays within about a quarter of what the program itself needed
// at its peak: the cache saves time (page faults, zeroing), not memory.  The
// slack lets a steady training step keep a block of every size it uses: the
// bench-cpu step needs about 10 % above its peak for that (with only 6 % it
// evicted and re-faulted some 40 blocks, 23 MB of fresh pages, every step),
// and in bf16-true, whose bf16 copies of the saved activations and their f32
// widenings add size classes, 1/8 re-faulted 106 blocks a step (about 10 % of
// its time) where 1/4 re-faults 38.  The peak resident memory of the step is
// the same with either (1061-1065 MiB bf16-true, 1358-1364 MiB fp32).
//
// ENG_CPU_CACHE=0 in the environment turns the cache off (every free goes
// straight back to the system), e.g. to hunt use-after-free bugs; under
// AddressSanitizer cached blocks are poisoned, so those are caught anyway.
// Thread safe (one mutex): storages may die on data-loader threads.  Cached
// memory is returned when the program exits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "tensor/size_classes.h"

namespace eng::cpu {

struct CpuMemoryStats {
    size_t in_use = 0;      // bytes (rounded to size classes) held by live storages
    size_t peak = 0;        // highest in_use so far
    size_t cached = 0;      // bytes in the free lists
    uint64_t requests = 0;  // allocate() calls with n > 0
    uint64_t hits = 0;      // requests served from the cache
};

class CpuAllocator {
public:
    explicit CpuAllocator(bool caching) : caching_(caching) {}
    ~CpuAllocator() { release_cached(); }
    CpuAllocator(const CpuAllocator&) = delete;
    CpuAllocator& operator=(const CpuAllocator&) = delete;

    static size_t round_size(size_t n);
    // A 64-byte aligned block of at least n bytes (n > 0); throws eng::Error when out of memory.
    void* allocate(size_t n);
    // Gives back a block from allocate(n) (same n).
    void deallocate(void* p, size_t n);
    // Frees every cached block.
    void release_cached();
    CpuMemoryStats stats() const;
    void reset_peak();
    // Frees the cache and turns caching off for good (used at exit).
    void stop_caching();

private:
    void release_locked(size_t need);  // free cached blocks until `need` bytes are gone
    mutable std::mutex mu_;
    bool caching_;
    FreeLists free_;  // cached blocks by size class
    CpuMemoryStats stats_;
};

// The allocator of CPU tensor storage (caching unless ENG_CPU_CACHE=0).
CpuAllocator& cpu_allocator();
// For Storage: allocate from / give back to cpu_allocator() (plain free after exit has begun).
void* cpu_alloc(size_t n);
void cpu_free(void* p, size_t n);

}  // namespace eng::cpu
