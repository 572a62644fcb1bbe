// size_classes.h: what the CPU and CUDA caching allocators share
// (tensor/cpu/allocator.h, cuda/caching_allocator.h): rounding a request up to
// its size class, and the lists of cached free blocks per class.
#pragma once
#include <cstddef>
#include <iterator>
#include <map>
#include <utility>
#include <vector>

namespace eng {

// n rounded up: below `large_from` to a multiple of `small_step`; from there to
// a multiple of 2^(floor(log2 n) - shift), i.e. 2^shift classes per power of
// two (at most 2^-shift of waste).  n = 0 counts as 1.
inline size_t round_to_size_class(size_t n, size_t small_step, size_t large_from, int shift) {
    if (n == 0) n = 1;
    if (n < large_from) return (n + small_step - 1) / small_step * small_step;
    const int top = 63 - __builtin_clzll((unsigned long long)n);  // floor(log2 n)
    const size_t step = size_t(1) << (top - shift);
    return (n + step - 1) / step * step;
}

// Cached free blocks by size class; only non-empty lists are kept.  Not thread
// safe: the allocators call it under their own lock.
class FreeLists {
public:
    // A cached block of exactly this class, or null.
    void* take(size_t size) {
        auto it = lists_.find(size);
        if (it == lists_.end()) return nullptr;
        void* p = it->second.back();
        it->second.pop_back();
        if (it->second.empty()) lists_.erase(it);
        return p;
    }
    void put(size_t size, void* p) { lists_[size].push_back(p); }
    bool empty() const { return lists_.empty(); }
    // Removes one block, best fit for `need` bytes: of the smallest class that
    // covers it, else of the largest class.  Returns {block, its class}; the
    // lists must not be empty.
    std::pair<void*, size_t> take_best_fit(size_t need) {
        auto it = lists_.lower_bound(need);
        if (it == lists_.end()) it = std::prev(lists_.end());
        const size_t size = it->first;
        return {take(size), size};
    }

private:
    std::map<size_t, std::vector<void*>> lists_;
};

}  // namespace eng
