// dropout.h: the CPU dropout kernel: draws the keep mask from the counter-based
// generator and applies it in one pass.
#pragma once
#include <cstdint>

namespace eng::cpu {

// out, mask, inp: [n].  Element i is kept when word_to_uniform(random_word(seed,
// offset + i)) < 1 - p (the same draw as eng::bernoulli with probability 1 - p);
// mask[i] = 1/(1-p) when kept, else 0; out = inp · mask.
void dropout_forward(float* out, float* mask, const float* inp, uint64_t seed, uint64_t offset, float p, int64_t n);

}  // namespace eng::cpu
