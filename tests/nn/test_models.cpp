// test_models.cpp: the ViT (DINOv2 layout) and GPT-2 (HF layout) against
// PyTorch outputs (tests/fixtures/*_tiny.safetensors, made by
// tools/reference/make_model_fixtures.py), save/load round trips, and the
// grayscale patch-embedding shortcut.
#include <unistd.h>

#include <cstdio>

#include "autograd/ops.h"
#include "nn/gpt2.h"
#include "nn/safetensors.h"
#include "nn/vit.h"
#include "tests/testing.h"

using namespace eng;
using namespace eng::nn;

namespace {

std::map<std::string, Tensor> params_only(const std::map<std::string, Tensor>& all) {
    std::map<std::string, Tensor> out;
    for (auto& [k, v] : all)
        if (k.rfind("input.", 0) != 0 && k.rfind("output.", 0) != 0) out[k] = v;
    return out;
}

ViTConfig fixture_vit_config() {
    ViTConfig c = ViTConfig::preset("tiny");
    c.image_size = 28;
    return c;
}

GPT2Config fixture_gpt2_config() {
    GPT2Config c = GPT2Config::preset("tiny");
    c.embd_pdrop = c.attn_pdrop = c.resid_pdrop = 0.0f;
    return c;
}

}  // namespace

TEST_CASE("models: ViT forward matches PyTorch, at its own grid and with a resized position embedding") {
    auto file = load_safetensors("tests/fixtures/vit_tiny.safetensors");
    VisionTransformer vit(fixture_vit_config());
    LoadReport rep = vit.load_state_dict(params_only(file));
    CHECK(rep.ok());
    vit.eval();
    NoGradGuard ng;
    for (std::string key : {"native", "resized"}) {
        auto out = vit.forward(file.at("input." + key));
        CHECK_CLOSE(out.prenorm, file.at("output." + key + ".prenorm"), 2e-5, 1e-4);
        CHECK_CLOSE(out.patch_tokens, file.at("output." + key + ".patch_tokens"), 2e-5, 1e-4);
        CHECK_CLOSE(out.cls, file.at("output." + key + ".cls"), 2e-5, 1e-4);
    }
    // Three identical channels: the one-channel path gives the same tokens.
    auto gray = vit.forward(file.at("input.native"), true);
    CHECK_CLOSE(gray.prenorm, file.at("output.native.prenorm"), 2e-5, 1e-4);
}

TEST_CASE("models: ViT parameter names are the DINOv2 torch.hub keys, and HF-layout files convert") {
    VisionTransformer vit(ViTConfig::preset("tiny"));
    auto sd = vit.state_dict();
    for (const char* k : {"cls_token", "pos_embed", "register_tokens", "mask_token", "patch_embed.proj.weight",
                          "blocks.0.norm1.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.bias",
                          "blocks.0.ls1.gamma", "blocks.1.mlp.fc2.weight", "blocks.1.ls2.gamma", "norm.bias"})
        CHECK_MESSAGE(sd.count(k), k);
    CHECK(sd.at("patch_embed.proj.weight").shape() == Shape{32, 3, 14, 14});
    CHECK(sd.at("register_tokens").shape() == Shape{1, 4, 32});
    CHECK(!vit.find_parameter("mask_token")->requires_grad());
    // Build an HF-layout dict from the fixture (split qkv rows) and load it.
    auto file = params_only(load_safetensors("tests/fixtures/vit_tiny.safetensors"));
    std::map<std::string, Tensor> hf;
    hf["embeddings.cls_token"] = file.at("cls_token");
    hf["embeddings.mask_token"] = file.at("mask_token");
    hf["embeddings.position_embeddings"] = file.at("pos_embed");
    hf["embeddings.register_tokens"] = file.at("register_tokens");
    hf["embeddings.patch_embeddings.projection.weight"] = file.at("patch_embed.proj.weight");
    hf["embeddings.patch_embeddings.projection.bias"] = file.at("patch_embed.proj.bias");
    hf["layernorm.weight"] = file.at("norm.weight");
    hf["layernorm.bias"] = file.at("norm.bias");
    for (int n = 0; n < 2; ++n) {
        std::string h = "encoder.layer." + std::to_string(n) + ".", t = "blocks." + std::to_string(n) + ".";
        for (const char* s : {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight",
                              "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"})
            hf[h + s] = file.at(t + s);
        hf[h + "layer_scale1.lambda1"] = file.at(t + "ls1.gamma");
        hf[h + "layer_scale2.lambda1"] = file.at(t + "ls2.gamma");
        hf[h + "attention.output.dense.weight"] = file.at(t + "attn.proj.weight");
        hf[h + "attention.output.dense.bias"] = file.at(t + "attn.proj.bias");
        const char* names[3] = {"query", "key", "value"};
        for (int j = 0; j < 3; ++j) {
            hf[h + "attention.attention." + names[j] + ".weight"] = raw_narrow(file.at(t + "attn.qkv.weight"), 0, j * 32, 32);
            hf[h + "attention.attention." + names[j] + ".bias"] = raw_narrow(file.at(t + "attn.qkv.bias"), 0, j * 32, 32);
        }
    }
    auto converted = VisionTransformer::from_hf_layout(hf);
    REQUIRE(converted.size() == file.size());
    for (auto& [k, v] : file) CHECK_CLOSE(converted.at(k), v, 0, 0);
    // A key the layout does not know is kept under its name, so loading
    // reports it instead of silently dropping the file's tensor.
    hf["encoder.layer.0.mlp.weights_in.weight"] = file.at("blocks.0.mlp.fc1.weight");
    LoadReport extra = vit.load_state_dict(VisionTransformer::from_hf_layout(hf), false);
    REQUIRE(extra.unexpected.size() == 1);
    CHECK(extra.unexpected[0] == "encoder.layer.0.mlp.weights_in.weight");
}

TEST_CASE("models: GPT-2 forward matches PyTorch with padding, layer-index scaling and Conv1D weights") {
    auto file = load_safetensors("tests/fixtures/gpt2_tiny.safetensors");
    GPT2Model gpt(fixture_gpt2_config());
    LoadReport rep = gpt.load_hf_state_dict(params_only(file));  // lm_head.weight and attn.bias ignored
    CHECK(rep.ok());
    gpt.eval();
    NoGradGuard ng;
    Tensor hidden = gpt.forward(file.at("input.ids"), file.at("input.attention_mask"));
    CHECK_CLOSE(hidden, file.at("output.hidden"), 2e-5, 1e-4);
    CHECK_CLOSE(gpt.logits(hidden), file.at("output.logits"), 5e-5, 1e-4);
    CHECK(gpt.find_parameter("transformer.h.0.attn.c_attn.weight")->shape() == Shape{32, 96});  // [in, out]
}

TEST_CASE("models: a model saved and loaded through safetensors gives identical outputs") {
    Generator g(3);
    GPT2Model a(fixture_gpt2_config(), &g);
    a.eval();
    std::string path = "/tmp/eng_test_gpt2_roundtrip_" + std::to_string(::getpid()) + ".safetensors";
    std::vector<std::pair<std::string, Tensor>> named;
    for (auto& [k, v] : a.state_dict()) named.emplace_back(k, v);
    save_safetensors(path, named);
    GPT2Model b(fixture_gpt2_config());
    b.eval();
    b.load_hf_state_dict(load_safetensors(path));
    std::remove(path.c_str());
    Tensor ids = randint(0, 96, {2, 7}, &g);
    NoGradGuard ng;
    CHECK_CLOSE(a.forward(ids), b.forward(ids), 0, 0);
}

TEST_CASE("models: load_state_dict reports missing, unexpected and wrongly shaped keys by name") {
    VisionTransformer vit(ViTConfig::preset("tiny"));
    auto sd = vit.state_dict();
    std::map<std::string, Tensor> bad(sd.begin(), sd.end());
    bad.erase("norm.weight");
    bad["blocks.9.attn.qkv.weight"] = zeros({3});
    bad["pos_embed"] = zeros({1, 5, 32});
    LoadReport r = vit.load_state_dict(bad, false);
    CHECK(r.missing == std::vector<std::string>{"norm.weight"});
    CHECK(r.unexpected == std::vector<std::string>{"blocks.9.attn.qkv.weight"});
    REQUIRE(r.mismatched.size() == 1);
    CHECK(r.mismatched[0] == "pos_embed: file [1, 5, 32] vs module [1, 17, 32]");
    CHECK_THROWS_CONTAINING(vit.load_state_dict(bad), "missing keys (1): norm.weight");
    // Integers where a weight belongs (a mislabelled tensor) are refused, not converted.
    std::map<std::string, Tensor> ints(sd.begin(), sd.end());
    const Tensor before = vit.state_dict().at("norm.bias").clone();
    ints["norm.bias"] = full(before.shape(), 3.0f).to(DType::i32);
    LoadReport ri = vit.load_state_dict(ints, false);
    REQUIRE(ri.mismatched.size() == 1);
    CHECK(ri.mismatched[0] == "norm.bias: file holds integers (i32), module f32");
    CHECK(vit.state_dict().at("norm.bias").to_vector() == before.to_vector());  // not copied
    CHECK_THROWS_CONTAINING(vit.load_state_dict(ints), "norm.bias: file holds integers");
}

TEST_CASE("models: a zero head count or patch size is an error, not a division by zero (SIGFPE)") {
    GPT2Config t = GPT2Config::preset("tiny");
    t.heads = 0;
    CHECK_THROWS_CONTAINING(GPT2Model{t}, "GPT-2: the head count must be positive, got 0");
    ViTConfig v = ViTConfig::preset("tiny");
    v.patch = 0;
    CHECK_THROWS_CONTAINING(VisionTransformer{v}, "must be positive");
    v = ViTConfig::preset("tiny");
    v.heads = 0;
    CHECK_THROWS_CONTAINING(VisionTransformer{v}, "head count must be positive");
}

TEST_CASE("models: GPT-2 token-embedding resize keeps old rows and draws new ones from a seed") {
    GPT2Model a(fixture_gpt2_config()), b(fixture_gpt2_config());
    b.load_state_dict(a.state_dict());
    std::vector<float> before = a.transformer.wte->weight.to_vector();
    a.resize_token_embeddings(102, 7);
    b.resize_token_embeddings(102, 7);
    CHECK(a.transformer.wte->weight.shape() == Shape{102, 32});
    std::vector<float> after = a.transformer.wte->weight.to_vector();
    CHECK(std::equal(before.begin(), before.end(), after.begin()));
    CHECK(after == b.transformer.wte->weight.to_vector());
    double ss = 0;
    for (size_t i = before.size(); i < after.size(); ++i) ss += double(after[i]) * after[i];
    double std_new = std::sqrt(ss / double(after.size() - before.size()));
    CHECK(std_new > 0.012);  // N(0, 0.02) over 192 values
    CHECK(std_new < 0.028);
}

TEST_CASE("models: ViT and GPT-2 gradients flow to every trainable parameter, checkpointed or not") {
    Generator g(5);
    ViTConfig c = ViTConfig::preset("tiny");
    VisionTransformer plain(c, &g);
    c.checkpoint_every = 1;
    VisionTransformer ckpt(c);
    ckpt.load_state_dict(plain.state_dict());
    Tensor img = randn({2, 3, 56, 56}, &g);
    auto loss = [&](VisionTransformer& m) {
        auto o = m.forward(img);  // every output, so the final norm gets a gradient too
        return sum(mean(o.prenorm, {1})) + sum(mean(o.patch_tokens, {1}) * 0.5f) + sum(o.cls * 0.25f);
    };
    backward(loss(plain));
    backward(loss(ckpt));
    for (auto& [name, p] : plain.named_parameters()) {
        if (!p->requires_grad()) continue;
        Tensor* q = ckpt.find_parameter(name);
        REQUIRE_MESSAGE(p->grad().defined(), name);
        CHECK_CLOSE(q->grad(), p->grad(), 1e-6, 1e-5);
    }
}

TEST_CASE("models: GPT-2's random init: N(0, 0.02), the residual projections scaled by 1/sqrt(2 layers) unless off") {
    GPT2Config c = GPT2Config::preset("tiny");
    c.width = 64;
    c.layers = 8;
    auto stddev = [](const Tensor& t) {
        std::vector<float> v = t.to_vector();
        double s = 0, s2 = 0;
        for (float x : v) s += x, s2 += double(x) * x;
        const double n = double(v.size()), mean = s / n;
        return std::sqrt(s2 / n - mean * mean);
    };
    Generator g(11);
    GPT2Model scaled(c, &g);
    const double want = 0.02 / std::sqrt(2.0 * 8);  // 0.005
    for (const char* name : {"transformer.h.0.attn.c_proj.weight", "transformer.h.7.mlp.c_proj.weight"})
        CHECK_MESSAGE(std::fabs(stddev(*scaled.find_parameter(name)) - want) < 0.1 * want, name);
    for (const char* name : {"transformer.h.0.attn.c_attn.weight", "transformer.h.3.mlp.c_fc.weight"})
        CHECK_MESSAGE(std::fabs(stddev(*scaled.find_parameter(name)) - 0.02) < 0.002, name);
    c.scaled_residual_init = false;
    GPT2Model plain(c, &g);
    CHECK(std::fabs(stddev(*plain.find_parameter("transformer.h.0.attn.c_proj.weight")) - 0.02) < 0.002);
}
