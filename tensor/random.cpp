// random.cpp: host-side draws of the counter-based generator (see random.h).
#include "tensor/random.h"

#include <cmath>

#include "tensor/check.h"

namespace eng {

int64_t Generator::randint(int64_t low, int64_t high) {
    ENG_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
    uint64_t range = uint64_t(high - low);
    uint64_t w = random_word(state_.seed, reserve(1));
    // Lemire's multiply-shift maps a 64-bit word onto [0, range).
    unsigned __int128 product = (unsigned __int128)w * range;
    return low + int64_t(uint64_t(product >> 64));
}

double Generator::normal() {
    // Box-Muller with two counters: u1 in (0,1] so log(u1) is finite.
    uint64_t c = reserve(2);
    double u1 = word_to_open_uniform(random_word(state_.seed, c));
    double u2 = word_to_open_uniform(random_word(state_.seed, c + 1));
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

std::vector<int64_t> Generator::permutation(int64_t n) {
    ENG_CHECK(n >= 0, "permutation: n must be >= 0, got ", n);
    std::vector<int64_t> p(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
    for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(randint(0, i + 1))]);
    return p;
}

Generator& default_generator() {
    static Generator g(0);
    return g;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace eng
