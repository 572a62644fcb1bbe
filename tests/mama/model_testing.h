// model_testing.h: a random MaMA micro-batch for the model tests
// (tests/mama/test_model.cpp, tests/cuda/test_cuda_mama.cpp).
#pragma once
#include <vector>

#include "autograd/ops.h"
#include "mama/model.h"

namespace testing {

// B grayscale images and partners of image_size px (three equal channels, as
// mammograms arrive) and B ragged captions of T tokens: ids 10..89, a separator
// (id 5) every 4 tokens, and m + 2 pads (id 6) at the end of row m.
inline mama::MamaBatch random_mama_batch(int64_t B, int64_t T, int64_t image_size, eng::Generator& g) {
    const int32_t sep = 5, pad = 6;
    mama::MamaBatch b;
    auto gray = [&] {
        return eng::expand(eng::randn({B, 1, image_size, image_size}, &g), {B, 3, image_size, image_size}).contiguous();
    };
    b.images = gray();
    b.partner_images = gray();
    std::vector<int32_t> ids, mask;
    for (int64_t m = 0; m < B; ++m)
        for (int64_t t = 0; t < T; ++t) {
            const bool real = t < T - 2 - m;
            int32_t id = real ? int32_t(10 + g.randint(0, 80)) : pad;
            if (real && t > 0 && t % 4 == 0) id = sep;
            ids.push_back(id);
            mask.push_back(real ? 1 : 0);
        }
    b.input_ids = eng::from_ivector(ids, {B, T});
    b.attention_mask = eng::from_ivector(mask, {B, T});
    b.sep_token_id = sep;
    b.pad_token_id = pad;
    return b;
}

}  // namespace testing
