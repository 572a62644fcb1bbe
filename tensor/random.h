// random.h: the engine's one seeded random number generator.
//
// The generator is counter based: the k-th random 64-bit word of a stream is a
// pure function hash(seed, k) (SplitMix64's finaliser applied to seed + k·golden).
// A draw of n numbers reads words offset .. offset+n-1 and then advances the
// offset by n.  Because every element depends only on (seed, its index), the
// result is the same whatever the number of threads or the device, and the whole
// state is two integers that can be saved in a checkpoint and restored exactly.
#pragma once
#include <cstdint>
#include <vector>

namespace eng {

// The raw hash: word `counter` of the stream `seed`.  Same formula on GPU.
inline uint64_t random_word(uint64_t seed, uint64_t counter) {
    uint64_t z = seed + (counter + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits (exactly representable in float).
inline float word_to_uniform(uint64_t w) { return float(w >> 40) * (1.0f / 16777216.0f); }

// Uniform in (0, 1]: safe as the argument of log() in Box-Muller.
inline double word_to_open_uniform(uint64_t w) { return (double(w >> 11) + 1.0) * (1.0 / 9007199254740992.0); }

struct GeneratorState {
    uint64_t seed = 0;
    uint64_t offset = 0;
};

class Generator {
public:
    explicit Generator(uint64_t seed = 0) { state_.seed = seed; }

    // Reserves n consecutive counters and returns the first one.
    uint64_t reserve(uint64_t n) {
        uint64_t first = state_.offset;
        state_.offset += n;
        return first;
    }
    uint64_t seed() const { return state_.seed; }
    GeneratorState state() const { return state_; }
    void set_state(GeneratorState s) { state_ = s; }
    void manual_seed(uint64_t seed) { state_ = GeneratorState{seed, 0}; }

    // Scalar draws for host-side code (data pipeline, samplers).  Each call
    // consumes one or two counters, so host code stays reproducible too.
    float uniform() { return word_to_uniform(random_word(state_.seed, reserve(1))); }
    double uniform_double() { return double(random_word(state_.seed, reserve(1)) >> 11) * (1.0 / 9007199254740992.0); }
    // Integer in [low, high) (high > low); uses 64-bit multiply-shift, bias < 2^-32.
    int64_t randint(int64_t low, int64_t high);
    double normal();
    bool bernoulli(double p) { return uniform_double() < p; }
    // A random permutation of 0..n-1 (Fisher-Yates on host draws).
    std::vector<int64_t> permutation(int64_t n);

private:
    GeneratorState state_;
};

// The process-wide default generator used by the tensor creation functions
// when none is passed (like torch.manual_seed).
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace eng
