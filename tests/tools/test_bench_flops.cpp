// test_bench_flops.cpp: the FLOP model of `bench step` (tools/bench_flops.h)
// against a count done by hand for a tiny configuration, and the synthetic
// batch of tools/bench_step.h.
#include <doctest/doctest.h>

#include "tools/bench_flops.h"
#include "tools/bench_step.h"

namespace {

// ViT: 28 px, patch 14 (2×2 = 4 patches), 1 register -> 6 tokens, width 8, 2 heads
// of 4, MLP 16, 1 block, 3 channels.  Text: 4 tokens, width 8, 2 heads of 4, inner
// 16, 2 layers, LoRA r 2.  Joint width 4, local hidden 6, multi-view hidden = 8.
mama::MamaConfig tiny_config() {
    mama::MamaConfig c;
    c.vit.image_size = 28, c.vit.patch = 14, c.vit.in_channels = 3, c.vit.width = 8, c.vit.heads = 2;
    c.vit.mlp_ratio = 2.0, c.vit.depth = 1, c.vit.registers = 1;
    c.text.width = 8, c.text.heads = 2, c.text.inner = 16, c.text.layers = 2;
    c.lora_r = 2, c.lora_target = "c_attn";
    c.embed_dim = 4, c.local_hidden = 6, c.mv_hidden = 0, c.symmetric_local = true;
    return c;
}

bench::StepShape tiny_shape(bool late) {
    bench::StepShape s;
    s.batch = 2, s.image_size = 28, s.text_len = 4, s.sentences = 3, s.late = late;
    return s;
}

}  // namespace

TEST_CASE("bench: FLOP model of a late-loss step matches a hand count") {
    // Hand count (2·M·N·K per product), B = 2:
    //  ViT per view: patch 2·8·8·588 = 75264; block: qkv 2·12·24·8 = 4608, proj 1536,
    //    fc1 3072, fc2 3072, Q·Kᵀ and P·V 4 heads·(288 + 288) = 2304 -> 14592.
    //    Two views: forward 150528 + 29184, backward 150528 (dW) + 58368 (2×).
    //  Text, 8 rows: c_attn 3072, c_proj 1024, c_fc 2048, mlp c_proj 2048, attention
    //    4·(128 + 128) = 1024, LoRA A 256, B 768.  Forward 2·9216 = 18432 base +
    //    2·1024 = 2048 LoRA.  Backward base: 2·(5120 + 2·1024) + 1·3072 = 17408;
    //    LoRA: 2·2·1024 − 256 = 3840.
    //  Projections: 2·128 + 128 = 384, backward 2·2·128 + 2·128 = 768.
    //  Heads: g 2·(256 + 128) = 768, φ_v 768 + 384, φ_t 288 + 144 -> 2352; backward 4704.
    //  Losses: CLIP 2·32 = 64, NT-Xent 128, SLA 2·8·3·4 = 192 -> 384; backward
    //    128 + 256 + 4·4·(2·3 + 2·2·4) = 352 -> 736.
    const bench::FlopModel m = bench::count_step_flops(tiny_config(), tiny_shape(true));
    CHECK(m.forward() == doctest::Approx(203312.0).epsilon(1e-12));
    CHECK(m.backward() == doctest::Approx(236352.0).epsilon(1e-12));
    CHECK(m.total() == doctest::Approx(203312.0 + 236352.0).epsilon(1e-12));
}

TEST_CASE("bench: FLOP model before the late start and without LoRA") {
    // One view, no heads but the projections, CLIP only:
    //   forward 75264 + 14592 + 18432 + 2048 + 256 + 32 = 110624
    //   backward 75264 + 29184 + 17408 + 3840 + 512 + 64 = 126272
    const bench::FlopModel early = bench::count_step_flops(tiny_config(), tiny_shape(false));
    CHECK(early.forward() == doctest::Approx(110624.0).epsilon(1e-12));
    CHECK(early.backward() == doctest::Approx(126272.0).epsilon(1e-12));
    // r = 0: the text tower needs no gradient; W_t gets dW only (128).
    mama::MamaConfig c = tiny_config();
    c.lora_r = 0;
    const bench::FlopModel frozen = bench::count_step_flops(c, tiny_shape(false));
    CHECK(frozen.forward() == doctest::Approx(110624.0 - 2048.0).epsilon(1e-12));
    CHECK(frozen.backward() == doctest::Approx(75264.0 + 29184.0 + 256.0 + 128.0 + 64.0).epsilon(1e-12));
    c.lora_target = "c_proj";
    c.lora_r = 2;
    CHECK_THROWS_AS(bench::count_step_flops(c, tiny_shape(true)), eng::Error);
}

TEST_CASE("bench: synthetic step batch has sentences, padding and grayscale images") {
    int64_t sentences = 0;
    const int64_t B = 4, T = 40, V = 100;
    mama::MamaBatch b = bench::make_synthetic_batch(B, 28, T, V, 5, &sentences);
    REQUIRE(b.images.shape() == eng::Shape({B, 3, 28, 28}));
    REQUIRE(b.partner_images.shape() == eng::Shape({B, 3, 28, 28}));
    const std::vector<float> img = b.images.to_vector();
    for (int64_t i = 0; i < B * 28 * 28; i += 97) {  // the three channels are equal
        const int64_t n = i / (28 * 28), px = i % (28 * 28);
        CHECK(img[size_t((n * 3 + 1) * 784 + px)] == img[size_t(n * 3 * 784 + px)]);
        CHECK(img[size_t((n * 3 + 2) * 784 + px)] == img[size_t(n * 3 * 784 + px)]);
    }
    const std::vector<int32_t> ids = b.input_ids.to_ivector(), mask = b.attention_mask.to_ivector();
    int64_t seps = 0;
    for (int64_t m = 0; m < B; ++m) {
        int64_t in_caption = 0, tokens = 0;
        for (int64_t t = 0; t < T; ++t) {
            const int32_t id = ids[size_t(m * T + t)];
            CHECK(id >= 0);
            CHECK(id < V);
            in_caption += id == b.sep_token_id;
            tokens += mask[size_t(m * T + t)];
            CHECK((id == b.pad_token_id) == (mask[size_t(m * T + t)] == 0));  // pads exactly where masked
        }
        CHECK(in_caption >= 2);
        CHECK(tokens == T - 4 * (m % 4));  // caption m is 4·(m mod 4) tokens short
        seps += in_caption;
    }
    CHECK(seps == sentences);
    CHECK(bench::parse_result_line("x\nresult: step_ms=12.5 peak_rss_mib=3\n")["step_ms"] == doctest::Approx(12.5));
}
