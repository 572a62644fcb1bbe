// test_cuda_allocator.cpp: the caching allocator's bookkeeping (size classes,
// reuse, statistics, empty_cache, the out-of-memory retry and message) over a
// fake raw allocator, so it runs on every machine; and the real device
// allocator's statistics when a GPU is present.
#include <cstdlib>
#include <map>

#include "cuda/caching_allocator.h"
#include "tests/cuda/cuda_testing.h"

using namespace eng;

namespace {

// A raw allocator over malloc with a byte budget (a pretend device).
struct FakeDevice {
    size_t budget, used = 0;
    int64_t mallocs = 0, frees = 0;
    std::map<void*, size_t> live;
    explicit FakeDevice(size_t b) : budget(b) {}
    cuda::CachingAllocator make() {
        return cuda::CachingAllocator(
            [this](size_t n) -> void* {
                if (used + n > budget) return nullptr;
                void* p = std::malloc(n);
                used += n;
                live[p] = n;
                ++mallocs;
                return p;
            },
            [this](void* p) {
                used -= live.at(p);
                live.erase(p);
                std::free(p);
                ++frees;
            },
            [] { return std::string("fake device"); });
    }
};

}  // namespace

TEST_CASE("cuda allocator: size classes") {
    using A = cuda::CachingAllocator;
    CHECK(A::round_size(0) == 512);
    CHECK(A::round_size(1) == 512);
    CHECK(A::round_size(512) == 512);
    CHECK(A::round_size(513) == 1024);
    CHECK(A::round_size((1 << 20) - 1) == (1 << 20));
    CHECK(A::round_size(1 << 20) == (1 << 20));
    // From 1 MiB: eight classes per power of two (steps of 128 KiB between 1 and 2 MiB).
    CHECK(A::round_size((1 << 20) + 1) == (1 << 20) + (1 << 17));
    CHECK(A::round_size(3u << 20) == (3u << 20));
    CHECK(A::round_size((size_t(1) << 30) + 5) == (size_t(1) << 30) + (size_t(1) << 27));
    for (size_t n : {size_t(7), size_t(100000), size_t(5) << 20, (size_t(3) << 30) + 12345}) {
        size_t r = A::round_size(n);
        CHECK(r >= n);
        CHECK(double(r - n) <= 0.125 * double(n) + 512);
    }
}

TEST_CASE("cuda allocator: freed blocks are reused by the same size class, stats add up") {
    FakeDevice dev(size_t(64) << 20);
    cuda::CachingAllocator a = dev.make();
    void* p = a.alloc(1000);  // class 1024
    void* q = a.alloc(3000);  // class 3072
    cuda::MemoryStats s = a.stats();
    CHECK(s.in_use == 1024 + 3072);
    CHECK(s.peak == 1024 + 3072);
    CHECK(s.cached == 0);
    CHECK(dev.mallocs == 2);
    a.free(p);
    s = a.stats();
    CHECK(s.in_use == 3072);
    CHECK(s.cached == 1024);
    CHECK(s.reserved == 1024 + 3072);
    void* r = a.alloc(900);  // same class: the cached block comes back, no new device allocation
    CHECK(r == p);
    CHECK(dev.mallocs == 2);
    CHECK(a.stats().cache_hits == 1);
    void* t = a.alloc(2000);  // another class: a new block
    CHECK(dev.mallocs == 3);
    a.free(r);
    a.free(q);
    a.free(t);
    s = a.stats();
    CHECK(s.in_use == 0);
    CHECK(s.peak == 1024 + 3072 + 2048);
    CHECK(s.cached == 1024 + 3072 + 2048);
    a.reset_peak();
    CHECK(a.stats().peak == 0);
    a.empty_cache();
    s = a.stats();
    CHECK(s.cached == 0);
    CHECK(s.reserved == 0);
    CHECK(dev.frees == 3);
    CHECK(dev.used == 0);
    CHECK(s.requests == 4);
}

TEST_CASE("cuda allocator: out of memory releases the cache, then fails with a useful message") {
    FakeDevice dev(size_t(4) << 20);
    cuda::CachingAllocator a = dev.make();
    void* p = a.alloc(size_t(3) << 20);
    a.free(p);  // 3 MiB cached: the device has only 1 MiB left
    void* q = a.alloc(size_t(2) << 20);  // fails at first, succeeds after the cache is released
    CHECK(q != nullptr);
    CHECK(dev.frees == 1);
    CHECK(a.stats().cached == 0);
    CHECK_THROWS_CONTAINING(a.alloc(size_t(3) << 20), "CUDA out of memory: tried to allocate 3.00 MiB");
    try {
        a.alloc(size_t(3) << 20);
    } catch (const Error& e) {
        std::string m = e.what();
        CHECK(m.find("in use 2.00 MiB") != std::string::npos);
        CHECK(m.find("peak 3.00 MiB") != std::string::npos);
        CHECK(m.find("fake device") != std::string::npos);
        CHECK(m.find("smaller micro-batch") != std::string::npos);
        CHECK(m.find("activation checkpointing") != std::string::npos);
        CHECK(m.find("bf16") != std::string::npos);
    }
    a.free(q);
    CHECK_THROWS_CONTAINING(a.free(reinterpret_cast<void*>(0x1234)), "not allocated by the caching allocator");
    a.empty_cache();
    CHECK(dev.used == 0);
}

TEST_CASE("cuda allocator: device tensors go through the cache") {
    SKIP_WITHOUT_CUDA();
    cuda::empty_cache();
    cuda::reset_peak_memory();
    cuda::MemoryStats before = cuda::memory_stats();
    {
        Tensor a = zeros({1000, 1000}, {DType::f32, Device::CUDA});  // 4 MB
        cuda::MemoryStats s = cuda::memory_stats();
        CHECK(s.in_use >= before.in_use + 4000000);
        CHECK(s.peak >= s.in_use);
    }
    cuda::MemoryStats after = cuda::memory_stats();
    CHECK(after.in_use == before.in_use);
    CHECK(after.cached >= 4000000);
    int64_t device_allocs = after.device_allocs;
    { Tensor b = zeros({1000, 1000}, {DType::f32, Device::CUDA}); }
    CHECK(cuda::memory_stats().device_allocs == device_allocs);  // served from the cache
    cuda::empty_cache();
    CHECK(cuda::memory_stats().cached == 0);
    // An impossible request names the size and the hints.
    CHECK_THROWS_CONTAINING(empty({int64_t(1) << 40}, {DType::f32, Device::CUDA}), "CUDA out of memory");
    CHECK(cuda::memory_stats().in_use == before.in_use);
}
