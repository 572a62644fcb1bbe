// test_image_ops.cpp: patchify (against a plain loop and a direct convolution)
// and bicubic resizing (against PyTorch fixtures from
// tools/reference/make_interp_fixtures.py, forward and gradient), gradchecks,
// and the error messages.
#include <filesystem>

#include "tests/testing.h"

#include "autograd/ops.h"
#include "nn/json.h"

using namespace eng;
namespace fs = std::filesystem;

namespace {

Tensor randn_t(const Shape& s, uint64_t seed) {
    Generator g(seed);
    return randn(s, &g);
}

}  // namespace

TEST_CASE("image_ops: patchify matches a plain loop and a Conv2d(kernel = stride = p)") {
    const int64_t B = 2, C = 3, H = 6, W = 9, p = 3, GH = H / p, GW = W / p, D = 4;
    // A non-contiguous input: [B, C, H, W] as a permuted view of [B, H, W, C].
    Tensor x = raw_permute(randn_t({B, H, W, C}, 1), {0, 3, 1, 2});
    Tensor out = patchify(x, p);
    REQUIRE(out.shape() == Shape{B, GH * GW, C * p * p});
    std::vector<float> xv = x.contiguous().to_vector(), ov = out.to_vector();
    for (int64_t b = 0; b < B; ++b)
        for (int64_t gy = 0; gy < GH; ++gy)
            for (int64_t gx = 0; gx < GW; ++gx)
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t r = 0; r < p; ++r)
                        for (int64_t s = 0; s < p; ++s)
                            CHECK(ov[size_t((b * GH * GW + gy * GW + gx) * C * p * p + (c * p + r) * p + s)] ==
                                  xv[size_t(((b * C + c) * H + gy * p + r) * W + gx * p + s)]);
    // patchify(x) · W_flatᵀ equals the convolution with weight [D, C, p, p], stride p.
    Tensor weight = randn_t({D, C, p, p}, 2);
    Tensor conv = matmul(out, transpose(reshape(weight, {D, C * p * p}), 0, 1));  // [B, N, D]
    std::vector<float> wv = weight.to_vector(), cv = conv.to_vector();
    for (int64_t b = 0; b < B; ++b)
        for (int64_t gy = 0; gy < GH; ++gy)
            for (int64_t gx = 0; gx < GW; ++gx)
                for (int64_t o = 0; o < D; ++o) {
                    double acc = 0;
                    for (int64_t c = 0; c < C; ++c)
                        for (int64_t r = 0; r < p; ++r)
                            for (int64_t s = 0; s < p; ++s)
                                acc += double(wv[size_t(((o * C + c) * p + r) * p + s)]) *
                                       xv[size_t(((b * C + c) * H + gy * p + r) * W + gx * p + s)];
                    CHECK(std::fabs(cv[size_t((b * GH * GW + gy * GW + gx) * D + o)] - acc) < 1e-4);
                }
}

TEST_CASE("image_ops: patchify backward and errors") {
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return patchify(in[0], 2); },
                    {randn_t({2, 2, 4, 6}, 3).set_requires_grad(true)});
    CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return mul(patchify(in[0], 1), patchify(in[0], 1)); },
                    {randn_t({1, 3, 2, 2}, 4).set_requires_grad(true)});
    CHECK_THROWS_CONTAINING(patchify(zeros({1, 3, 15, 14}), 14),
                            "patchify: image 15x14 (input [1, 3, 15, 14]) is not a multiple of the patch size 14");
    CHECK_THROWS_CONTAINING(patchify(zeros({3, 14, 14}), 14), "patchify: input must be [B, C, H, W], got [3, 14, 14]");
    CHECK_THROWS_CONTAINING(patchify(zeros({1, 1, 4, 4}), 0), "patchify: patch size must be positive");
}

TEST_CASE("image_ops: bicubic resize matches PyTorch fixtures (output and gradient)") {
    std::string path = "tests/fixtures/bicubic.json";
    if (!fs::exists(path)) path = fs::path(__FILE__).parent_path().parent_path().string() + "/fixtures/bicubic.json";
    REQUIRE_MESSAGE(fs::exists(path), "fixture not found; run the tests from the repository root");
    const json::Value doc = json::parse_file(path);
    const json::Value& cases = doc.at("cases");
    REQUIRE(cases.size() >= 9);
    auto floats = [](const json::Value& a) {
        std::vector<float> v;
        for (const auto& e : a.as_array()) v.push_back(float(e.as_number()));
        return v;
    };
    auto shape = [](const json::Value& a) {
        Shape s;
        for (const auto& e : a.as_array()) s.push_back(e.as_int());
        return s;
    };
    for (const auto& c : cases.as_array()) {
        const std::string name = c.at("name").as_string();
        CAPTURE(name);
        const bool aa = c.at("antialias").as_bool();
        Tensor x = from_vector(floats(c.at("input")), shape(c.at("shape"))).set_requires_grad(true);
        Tensor out;
        if (!c.at("size").is_null()) {
            Shape size = shape(c.at("size"));
            out = interpolate_bicubic(x, size[0], size[1], aa);
        } else {
            out = interpolate_bicubic_scale(x, c.at("scale")[0].as_number(), c.at("scale")[1].as_number(), aa);
        }
        REQUIRE(out.shape() == shape(c.at("out_shape")));
        CHECK_CLOSE(out, floats(c.at("output")), 1e-5, 1e-5);
        std::vector<float> w(size_t(out.numel()));
        for (size_t i = 0; i < w.size(); ++i) w[i] = float(int64_t(7 * i % 11) - 5) / 4.0f;
        backward(sum(mul(out, from_vector(w, out.shape()))));
        CHECK_CLOSE(x.grad(), floats(c.at("grad")), 1e-5, 1e-5);
    }
}

TEST_CASE("image_ops: bicubic hand-made cases, gradcheck and errors") {
    // Same size without antialias: t = 0, weights (0, 1, 0, 0): the identity.
    Tensor x = randn_t({2, 3, 5, 4}, 5);
    CHECK_CLOSE(interpolate_bicubic(x, 5, 4, false), x, 0, 0);
    // A constant image stays constant (weights sum to 1, borders included).
    CHECK_CLOSE(interpolate_bicubic(full({1, 2, 4, 5}, 3.0f), 9, 3, false), std::vector<float>(54, 3.0f), 1e-5, 1e-6);
    CHECK_CLOSE(interpolate_bicubic(full({1, 2, 7, 5}, -2.0f), 3, 11, true), std::vector<float>(66, -2.0f), 1e-5, 1e-6);
    // Non-contiguous input equals its packed copy.
    Tensor xt = raw_transpose(randn_t({1, 2, 6, 5}, 6), 2, 3);
    CHECK_CLOSE(interpolate_bicubic(xt, 8, 3, true), interpolate_bicubic(xt.contiguous(), 8, 3, true), 0, 0);

    for (bool aa : {false, true}) {
        CHECK_GRADCHECK([aa](const std::vector<Tensor>& in) { return interpolate_bicubic(in[0], 7, 3, aa); },
                        {randn_t({1, 2, 4, 6}, 7).set_requires_grad(true)});
        CHECK_GRADCHECK([aa](const std::vector<Tensor>& in) { return interpolate_bicubic_scale(in[0], 1.5, 0.7, aa); },
                        {randn_t({2, 1, 3, 5}, 8).set_requires_grad(true)});
    }
    CHECK_THROWS_CONTAINING(interpolate_bicubic(zeros({2, 3, 4}), 2, 2), "interpolate_bicubic: input must be [N, C, h, w], got [2, 3, 4]");
    CHECK_THROWS_CONTAINING(interpolate_bicubic(zeros({1, 1, 4, 4}), 0, 2), "cannot resize 4x4 to 0x2");
    CHECK_THROWS_CONTAINING(interpolate_bicubic_scale(zeros({1, 1, 4, 4}), -1.0, 2.0), "scale factors must be positive");
    CHECK_THROWS_CONTAINING(interpolate_bicubic_scale(zeros({1, 1, 4, 4}), 0.1, 2.0), "cannot resize 4x4 to 0x8");
}
