// test_allocator.cpp: the CPU caching allocator: size classes, reuse, the
// bound on cached memory, statistics, the non-caching mode and thread safety.
#include <omp.h>

#include <cstdint>
#include <set>

#include "tensor/cpu/allocator.h"
#include "tests/testing.h"

using eng::cpu::CpuAllocator;

TEST_CASE("allocator: size classes round up by at most 1/16 and keep 64-byte multiples") {
    CHECK(CpuAllocator::round_size(1) == 64);
    CHECK(CpuAllocator::round_size(64) == 64);
    CHECK(CpuAllocator::round_size(65) == 128);
    CHECK(CpuAllocator::round_size(65536) == 65536);
    CHECK(CpuAllocator::round_size(65537) == 65536 + 4096);
    for (size_t n : {size_t(100), size_t(5000), size_t(70001), size_t(1) << 20, size_t(12345678)}) {
        size_t r = CpuAllocator::round_size(n);
        CHECK(r >= n);
        CHECK(r % 64 == 0);
        CHECK(double(r - n) <= double(n) / 16.0 + 64.0);
    }
}

TEST_CASE("allocator: freed blocks are reused for the same class, stats track them") {
    CpuAllocator a(true);
    void* p = a.allocate(1000);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    auto s = a.stats();
    CHECK(s.in_use == 1024);
    CHECK(s.peak == 1024);
    CHECK(s.cached == 0);
    a.deallocate(p, 1000);
    s = a.stats();
    CHECK(s.in_use == 0);
    CHECK(s.cached == 1024);
    void* q = a.allocate(1010);  // same class
    CHECK(q == p);
    s = a.stats();
    CHECK(s.hits == 1);
    CHECK(s.requests == 2);
    CHECK(s.cached == 0);
    static_cast<char*>(q)[1009] = 1;  // the whole request is usable
    a.deallocate(q, 1010);
    a.release_cached();
    CHECK(a.stats().cached == 0);
}

TEST_CASE("allocator: the cache never holds more than the in-use peak plus the slack") {
    CpuAllocator a(true);
    const size_t MiB = size_t(1) << 20, big = 256 * MiB;  // untouched pages: no real memory is used
    void* p1 = a.allocate(big);
    void* p2 = a.allocate(big);
    a.deallocate(p1, big);
    a.deallocate(p2, big);
    CHECK(a.stats().peak == 2 * big);
    CHECK(a.stats().cached == 2 * big);
    // A request of another class misses; holding it plus the cache (512 +
    // 224 MiB) would exceed the bound (512 + 128 + 64 = 704 MiB), so cached
    // blocks are released first.
    void* p3 = a.allocate(224 * MiB);
    auto s = a.stats();
    CHECK(s.in_use == 224 * MiB);
    CHECK(s.in_use + s.cached <= 704 * MiB);
    CHECK(s.cached == big);  // one of the two 256 MiB blocks had to go
    a.deallocate(p3, 224 * MiB);
    CHECK(a.stats().in_use == 0);
}

TEST_CASE("allocator: an overshoot evicts the best-fitting block, not the biggest") {
    CpuAllocator a(true);
    const size_t big = size_t(256) << 20, mid = size_t(48) << 20, small = size_t(32) << 20;
    void* p1 = a.allocate(big);
    void* p2 = a.allocate(mid);
    a.deallocate(p1, big);
    a.deallocate(p2, mid);
    // peak 304 MiB, bound 304 + 76 + 64 = 444 MiB; 304 cached + 32 new = 336 fits
    void* p3 = a.allocate(small);
    CHECK(a.stats().cached == big + mid);
    a.deallocate(p3, small);
    // now 336 MiB cached: a new 120 MiB class overshoots by 12 MiB, and the
    // smallest block covering that (32 MiB) goes, not the 256 MiB one
    const size_t other = size_t(120) << 20;
    void* p4 = a.allocate(other);
    auto s = a.stats();
    CHECK(s.cached == big + mid);
    CHECK(s.in_use + s.cached <= 444 * (size_t(1) << 20));
    void* p5 = a.allocate(big);  // and the 256 MiB block is still there to reuse
    CHECK(p5 == p1);
    a.deallocate(p4, other);
    a.deallocate(p5, big);
}

TEST_CASE("allocator: with caching off every free goes back to the system") {
    CpuAllocator a(false);
    void* p = a.allocate(4096);
    a.deallocate(p, 4096);
    auto s = a.stats();
    CHECK(s.cached == 0);
    CHECK(s.in_use == 0);
    CHECK(s.peak == 4096);
    CHECK(s.hits == 0);
}

TEST_CASE("allocator: concurrent allocate/free from several threads keeps the books") {
    CpuAllocator a(true);
    int bad = 0;  // doctest assertions are not thread safe: count here, check after
#pragma omp parallel for num_threads(4) schedule(static) reduction(+ : bad)
    for (int t = 0; t < 4; ++t) {
        for (int i = 0; i < 500; ++i) {
            size_t n = size_t(64 * (1 + (i + t) % 3));
            char* p = static_cast<char*>(a.allocate(n));
            p[0] = char(i);
            p[n - 1] = char(t);
            bad += !(p[0] == char(i) && p[n - 1] == char(t));
            a.deallocate(p, n);
        }
    }
    CHECK(bad == 0);
    auto s = a.stats();
    CHECK(s.in_use == 0);
    CHECK(s.requests == 2000);
    CHECK(s.hits > 0);
}

TEST_CASE("allocator: tensor storage goes through the global allocator") {
    auto before = eng::cpu::cpu_allocator().stats();
    {
        eng::Tensor t = eng::empty({1000});
        auto during = eng::cpu::cpu_allocator().stats();
        CHECK(during.in_use >= before.in_use + 4000);
        CHECK(during.requests == before.requests + 1);
    }
    CHECK(eng::cpu::cpu_allocator().stats().in_use == before.in_use);
}
