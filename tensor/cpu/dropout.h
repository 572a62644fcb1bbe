// dropout.h: the CPU dropout kernel: draws the keep mask from the counter-based
// generator and applies it in one pass.
#pragma once
#include <cstdint>

#include "tensor/random.h"

namespace eng::cpu {

// The mask of dropout with probability p: keep = 1 - p, and each element's
// factor is 1/keep where kept, 0 where dropped (p = 1 keeps nothing).
struct DropoutMask {
    float keep, scale;
    explicit DropoutMask(float p) : keep(1.0f - p), scale(keep > 0.0f ? 1.0f / keep : 0.0f) {}
    // The factor of the element drawn at `counter`.
    float at(uint64_t seed, uint64_t counter) const {
        return word_to_uniform(random_word(seed, counter)) < keep ? scale : 0.0f;
    }
};

// out, mask, inp: [n].  mask[i] = DropoutMask(p).at(seed, offset + i) (kept
// when the draw is below 1 - p, as eng::bernoulli with probability 1 - p);
// out = inp · mask.
void dropout_forward(float* out, float* mask, const float* inp, uint64_t seed, uint64_t offset, float p, int64_t n);

}  // namespace eng::cpu
