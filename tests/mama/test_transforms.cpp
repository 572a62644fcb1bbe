// test_transforms.cpp: letterbox, Otsu crop, RandomResizedCrop parameters,
// flips, PIL brightness/contrast, Gaussian blur, normalisation and the seeded
// train/eval transforms (mama-reference.md §3).
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "mama/image.h"
#include "mama/transforms.h"
#include "tensor/random.h"

using mama::Image;

namespace {

Image pattern(int w, int h) {
    Image img(w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) img.at(x, y) = float((x * 37 + y * 91) % 256) / 255.0f;
    return img;
}

int code(float v) { return int(std::lround(v * 255.0f)); }

}  // namespace

TEST_CASE("transforms: letterbox pads the short side floor/ceil around the area resize") {
    // Wider 6x3 -> S=4: width 4, height int(3*4/6) = 2, one zero row above and below.
    Image wide = pattern(6, 3);
    Image lb = mama::letterbox(wide, 4, false);
    REQUIRE(lb.width == 4);
    REQUIRE(lb.height == 4);
    Image r = mama::resize_area(wide, 4, 2);
    for (int x = 0; x < 4; ++x) {
        CHECK(lb.at(x, 0) == 0.0f);
        CHECK(lb.at(x, 3) == 0.0f);
        CHECK(lb.at(x, 1) == r.at(x, 0));
        CHECK(lb.at(x, 2) == r.at(x, 1));
    }
    // Taller 3x6 -> S=5: width int(3*5/6) = int(2.5) = 2, pad 3 = 1 left + 2 right.
    Image tall = pattern(3, 6);
    Image t = mama::letterbox(tall, 5, false);
    Image rt = mama::resize_area(tall, 2, 5);
    for (int y = 0; y < 5; ++y) {
        CHECK(t.at(0, y) == 0.0f);
        CHECK(t.at(1, y) == rt.at(0, y));
        CHECK(t.at(2, y) == rt.at(1, y));
        CHECK(t.at(3, y) == 0.0f);
        CHECK(t.at(4, y) == 0.0f);
    }
    // quantize8 rounds to 8-bit codes.
    Image q = mama::letterbox(wide, 4, true);
    for (float v : q.pixels) CHECK(v * 255.0f == doctest::Approx(std::round(v * 255.0f)).epsilon(1e-6));
}

TEST_CASE("transforms: Otsu on a two-level image separates the levels and crops the box") {
    Image img(10, 8, 30.0f / 255.0f);
    for (int y = 2; y <= 5; ++y)
        for (int x = 3; x <= 8; ++x) img.at(x, y) = 200.0f / 255.0f;
    const int t = mama::otsu_threshold(img);
    CHECK(t >= 30);
    CHECK(t < 200);
    Image c = mama::otsu_crop(img);
    CHECK(c.width == 6);
    CHECK(c.height == 4);
    for (float v : c.pixels) CHECK(code(v) == 200);
    // All-black: empty mask, image unchanged.
    Image black(5, 4, 0.0f);
    Image b = mama::otsu_crop(black);
    CHECK(b.width == 5);
    CHECK(b.height == 4);
}

TEST_CASE("transforms: Otsu threshold equals a brute-force between-class variance search") {
    Image img(16, 16);
    for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x) img.at(x, y) = float((x < 5 ? 10 : (x < 11 ? 90 + y : 180 + 3 * y))) / 255.0f;
    // Reference: for every threshold t, classes {<= t} and {> t} by direct sums.
    double best = -1;
    int best_t = 0;
    for (int t = 0; t < 256; ++t) {
        double n0 = 0, n1 = 0, s0 = 0, s1 = 0;
        for (float v : img.pixels) {
            int c = code(v);
            if (c <= t) n0 += 1, s0 += c;
            else n1 += 1, s1 += c;
        }
        if (n0 == 0 || n1 == 0) continue;
        double w0 = n0 / 256, w1 = n1 / 256, m0 = s0 / n0, m1 = s1 / n1;
        double var = w0 * w1 * (m0 - m1) * (m0 - m1);
        if (var > best * (1 + 1e-12)) best = var, best_t = t;
    }
    CHECK(mama::otsu_threshold(img) == best_t);
}

TEST_CASE("transforms: RandomResizedCrop parameters follow torchvision's rule") {
    eng::Generator gen(7);
    for (int trial = 0; trial < 500; ++trial) {
        const int W = 20 + int(gen.randint(0, 300)), H = 20 + int(gen.randint(0, 300));
        mama::CropParams p = mama::random_resized_crop_params(W, H, gen, 0.1, 1.0, 3.0 / 4.0, 4.0 / 3.0);
        REQUIRE(p.width > 0);
        REQUIRE(p.height > 0);
        CHECK(p.left >= 0);
        CHECK(p.top >= 0);
        CHECK(p.left + p.width <= W);
        CHECK(p.top + p.height <= H);
        if (p.width == W && p.height == H) continue;  // possible fallback
        // Rounding w and h to integers moves area and ratio by at most ~1 px each.
        const double area = double(p.width) * p.height / (double(W) * H);
        const double ratio = double(p.width) / p.height;
        CHECK(area >= 0.1 * (1 - 2.5 / std::min(p.width, p.height)) - 1e-9);
        CHECK(area <= 1.0 + 1e-9);
        CHECK(ratio >= 0.75 * (1 - 1.0 / p.height) / (1 + 1.0 / p.width) - 1e-9);
        CHECK(ratio <= (4.0 / 3.0) * (1 + 1.0 / p.width) / (1 - 1.0 / p.height) + 1e-9);
    }
}

TEST_CASE("transforms: RandomResizedCrop first attempt uses the draws in torchvision's order") {
    // 1000x1000 with scale <= 0.5: w, h <= sqrt(0.5 * 4/3) * 1000 < 1000, so the
    // first attempt always succeeds and the four draws are (scale, log ratio, top, left).
    for (uint64_t seed = 0; seed < 20; ++seed) {
        eng::Generator g(seed), h(seed);
        mama::CropParams p = mama::random_resized_crop_params(1000, 1000, g, 0.1, 0.5, 0.75, 4.0 / 3.0);
        double area = 1e6 * (0.1 + 0.4 * h.uniform_double());
        double r = std::exp(std::log(0.75) + (std::log(4.0 / 3.0) - std::log(0.75)) * h.uniform_double());
        int w = int(std::nearbyint(std::sqrt(area * r))), hh = int(std::nearbyint(std::sqrt(area / r)));
        int top = int(h.randint(0, 1000 - hh + 1)), left = int(h.randint(0, 1000 - w + 1));
        CHECK(p.width == w);
        CHECK(p.height == hh);
        CHECK(p.top == top);
        CHECK(p.left == left);
    }
}

TEST_CASE("transforms: RandomResizedCrop falls back to a ratio-clamped centre crop") {
    eng::Generator gen(3);
    // 100x10 with scale >= 0.9 never fits: h would be ~ 26..36 > 10.
    mama::CropParams p = mama::random_resized_crop_params(100, 10, gen, 0.9, 1.0, 0.75, 4.0 / 3.0);
    CHECK(p.height == 10);
    CHECK(p.width == 13);  // round(10 * 4/3)
    CHECK(p.top == 0);
    CHECK(p.left == 43);   // (100 - 13) // 2
    // Too tall: 10x100 -> width 10, height round(10 / 0.75) = 13.
    mama::CropParams q = mama::random_resized_crop_params(10, 100, gen, 0.9, 1.0, 0.75, 4.0 / 3.0);
    CHECK(q.width == 10);
    CHECK(q.height == 13);
    CHECK(q.top == 43);
    CHECK(q.left == 0);
}

TEST_CASE("transforms: flips are exact mirrors") {
    Image img = pattern(5, 3);
    Image h = mama::hflip(img), v = mama::vflip(img);
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 5; ++x) {
            CHECK(h.at(x, y) == img.at(4 - x, y));
            CHECK(v.at(x, y) == img.at(x, 2 - y));
        }
}

TEST_CASE("transforms: brightness and contrast match PIL ImageEnhance fixtures") {
    const std::string dir = "tests/mama/data/pil/";
    Image in = mama::load_image(dir + "in.pgm");
    struct Case { const char* file; bool contrast; double f; };
    for (Case c : {Case{"brightness_1.37.pgm", false, 1.37}, Case{"brightness_0.45.pgm", false, 0.45},
                   Case{"contrast_1.55.pgm", true, 1.55}, Case{"contrast_0.61.pgm", true, 0.61}}) {
        Image ref = mama::load_image(dir + c.file);
        Image got = c.contrast ? mama::adjust_contrast(in, c.f, true) : mama::adjust_brightness(in, c.f, true);
        int diffs = 0;
        for (size_t i = 0; i < ref.pixels.size(); ++i) diffs += code(got.pixels[i]) != code(ref.pixels[i]);
        INFO(c.file);
        CHECK(diffs == 0);
    }
    // Float mode: plain formulas.
    Image g(2, 1);
    g.pixels = {0.2f, 0.6f};
    Image b = mama::adjust_brightness(g, 2.0, false);
    CHECK(b.pixels[0] == doctest::Approx(0.4f));
    CHECK(b.pixels[1] == doctest::Approx(1.0f));  // clipped
    Image c = mama::adjust_contrast(g, 0.5, false);
    CHECK(c.pixels[0] == doctest::Approx(0.3f));  // 0.4 + 0.5 * (0.2 - 0.4)
    CHECK(c.pixels[1] == doctest::Approx(0.5f));
}

TEST_CASE("transforms: Gaussian blur equals a direct 7x7 reflect-padded convolution") {
    Image img = pattern(11, 9);
    const double sigma = 1.3;
    double k[7], ks = 0;
    for (int i = 0; i < 7; ++i) ks += (k[i] = std::exp(-0.5 * ((i - 3) / sigma) * ((i - 3) / sigma)));
    auto refl = [](int i, int n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); };
    Image got = mama::gaussian_blur(img, 7, sigma, false);
    Image got8 = mama::gaussian_blur(img, 7, sigma, true);
    for (int y = 0; y < 9; ++y)
        for (int x = 0; x < 11; ++x) {
            double s = 0;
            for (int dy = -3; dy <= 3; ++dy)
                for (int dx = -3; dx <= 3; ++dx)
                    s += k[dy + 3] * k[dx + 3] / (ks * ks) * img.at(refl(x + dx, 11), refl(y + dy, 9));
            CHECK(got.at(x, y) == doctest::Approx(s).epsilon(1e-5));
            CHECK(std::abs(code(got8.at(x, y)) - s * 255) <= 0.5 + 1e-3);
        }
}

TEST_CASE("transforms: normalisation gives three identical (v - 0.5) / 0.5 channels") {
    Image img(2, 2);
    img.pixels = {0.0f, 0.25f, 0.5f, 1.0f};
    std::vector<float> t = mama::to_chw3(img, 0.5f, 0.5f);
    REQUIRE(t.size() == 12);
    const float want[4] = {-1.0f, -0.5f, 0.0f, 1.0f};
    for (int c = 0; c < 3; ++c)
        for (int i = 0; i < 4; ++i) CHECK(t[size_t(c * 4 + i)] == doctest::Approx(want[i]));
}

TEST_CASE("transforms: eval transform crops the padding and stretches to S") {
    Image src(12, 12, 0.0f);
    for (int y = 1; y <= 10; ++y)
        for (int x = 4; x <= 7; ++x) src.at(x, y) = 0.8f;
    mama::TransformOptions opt;
    opt.size = 6;
    std::vector<float> t = mama::eval_transform(src, opt);
    REQUIRE(t.size() == 3 * 36);
    for (float v : t) CHECK(v == doctest::Approx((std::round(0.8f * 255) / 255 - 0.5f) / 0.5f));
}

TEST_CASE("transforms: train transform is deterministic for a seed and varies across seeds") {
    Image src = mama::letterbox(pattern(40, 56), 32);
    mama::TransformOptions opt;
    opt.size = 24;
    eng::Generator a(11), b(11), c(12);
    std::vector<float> ta = mama::train_transform(src, a, opt);
    std::vector<float> tb = mama::train_transform(src, b, opt);
    std::vector<float> tc = mama::train_transform(src, c, opt);
    REQUIRE(ta.size() == 3 * 24 * 24);
    CHECK(ta == tb);
    CHECK(ta != tc);
    for (float v : ta) {
        CHECK(v >= -1.0f);
        CHECK(v <= 1.0f);
    }
    // The generator state advanced identically.
    CHECK(a.state().offset == b.state().offset);
}
