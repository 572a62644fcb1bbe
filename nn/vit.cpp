// vit.cpp: the DINOv2-layout Vision Transformer (see vit.h).
#include "nn/vit.h"

#include <cmath>
#include <set>

#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/precision.h"

namespace eng::nn {

ViTConfig ViTConfig::preset(const std::string& name) {
    ViTConfig c;
    if (name == "vit_s14_reg4") {
        c.width = 384, c.depth = 12, c.heads = 6;
    } else if (name == "vit_b14_reg4") {
        c.width = 768, c.depth = 12, c.heads = 12;
    } else if (name == "vit_l14_reg4") {
        c.width = 1024, c.depth = 24, c.heads = 16;
    } else if (name == "tiny") {
        c.image_size = 56, c.width = 32, c.depth = 2, c.heads = 2;
    } else {
        ENG_FAIL("unknown ViT preset '", name, "' (expected vit_s14_reg4, vit_b14_reg4, vit_l14_reg4 or tiny)");
    }
    return c;
}

ViTBlock::ViTBlock(const ViTConfig& c, Generator* g)
    : norm1(c.width, c.ln_eps), norm2(c.width, c.ln_eps), attn(c.width, c.heads, true, g),
      mlp(c.width, int64_t(std::llround(double(c.width) * c.mlp_ratio)), false, 0.0f, g) {
    register_module("norm1", &norm1);
    register_module("attn", &attn);
    if (c.layerscale_init > 0.0f) {
        ls1 = std::make_unique<LayerScale>(c.width, c.layerscale_init);
        ls2 = std::make_unique<LayerScale>(c.width, c.layerscale_init);
        register_module("ls1", ls1.get());
    }
    register_module("norm2", &norm2);
    register_module("mlp", &mlp);
    if (ls2) register_module("ls2", ls2.get());
}

Tensor ViTBlock::forward(const Tensor& x) {
    Tensor a = attn.forward(norm1.forward(x));
    Tensor h = x + (ls1 ? ls1->forward(a) : a);
    Tensor m = mlp.forward(norm2.forward(h));
    return h + (ls2 ? ls2->forward(m) : m);
}

VisionTransformer::VisionTransformer(const ViTConfig& c, Generator* g)
    : config(c), patch_embed(c.in_channels, c.width, c.patch, g), norm(c.width, c.ln_eps) {
    // (patch_embed, built first, has checked the patch size.)
    ENG_CHECK(c.heads > 0, "ViT: the head count must be positive, got ", c.heads,
              ". HINT: DINOv2 uses heads = width / 64");
    ENG_CHECK(c.image_size % c.patch == 0, "ViT: image size ", c.image_size, " is not a multiple of the patch ", c.patch);
    int64_t n = c.grid() * c.grid();
    // DINOv2's init: tiny normal for CLS and registers, N(0, 0.02) for positions.
    cls_token = normal({1, 1, c.width}, 0.0f, 1e-6f, g);
    pos_embed = normal({1, 1 + n, c.width}, 0.0f, 0.02f, g);
    mask_token = zeros({1, c.width});
    register_parameter("cls_token", &cls_token);
    register_parameter("pos_embed", &pos_embed);
    if (c.registers > 0) {
        register_tokens = normal({1, c.registers, c.width}, 0.0f, 1e-6f, g);
        register_parameter("register_tokens", &register_tokens);
    }
    register_parameter("mask_token", &mask_token, false);  // unused, frozen (as MaMA)
    register_module("patch_embed", &patch_embed);
    for (int64_t i = 0; i < c.depth; ++i) {
        blocks.push_back(std::make_unique<ViTBlock>(c, g));
        register_module("blocks." + std::to_string(i), blocks.back().get());
    }
    register_module("norm", &norm);
}

Tensor VisionTransformer::position_embedding(int64_t gh, int64_t gw) {
    int64_t g0 = config.grid();
    if (gh == g0 && gw == g0) return pos_embed;
    int64_t D = config.width;
    Tensor cls_pos = narrow(pos_embed, 1, 0, 1);
    Tensor grid = permute(reshape(narrow(pos_embed, 1, 1, g0 * g0), {1, g0, g0, D}), {0, 3, 1, 2});  // [1, D, g, g]
    // interpolate_offset = 0: an explicit output size, bicubic with antialias.
    Tensor resized = interpolate_bicubic(grid, gh, gw, true);
    Tensor patch_pos = reshape(permute(resized, {0, 2, 3, 1}), {1, gh * gw, D});
    return concat({cls_pos, patch_pos}, 1);
}

VisionTransformer::Output VisionTransformer::forward(const Tensor& images, bool grayscale) {
    ENG_CHECK(images.dim() == 4 && images.size(1) == config.in_channels, "ViT: images must be [B, ",
              config.in_channels, ", H, W], got ", shape_str(images.shape()));
    int64_t B = images.size(0), H = images.size(2), W = images.size(3), p = config.patch, D = config.width;
    // Under bf16-true the images enter as bf16 numbers, as a batch cast to bf16 (tensor/precision.h).
    Tensor input = images;
    if (bf16_true() && images.dtype() == DType::f32 && !images.requires_grad()) {
        input = images.contiguous().clone();
        kernels::round_to_bf16_(input);
    }
    ENG_CHECK(H % p == 0 && W % p == 0, "ViT: image size ", H, "x", W, " is not a multiple of the patch size ", p,
              ". HINT: resize or crop the images to a multiple of ", p);
    Tensor x = grayscale ? patch_embed.forward_grayscale(input) : patch_embed.forward(input);  // [B, N, D]
    // Tokens: [cls + pos_0, registers (no position), patch_i + pos_i].  The
    // position embedding is added to the two pieces before they are joined:
    // the same sums as adding it to [cls, patches] and then inserting the
    // registers, but the gradient of x is a slice of the concat's, with no
    // zero-padded copies of the whole sequence.
    const Tensor pos = position_embedding(H / p, W / p);  // [1, 1 + N, D]
    const int64_t N = x.size(1);
    Tensor cls = expand(cls_token, {B, 1, D}) + narrow(pos, 1, 0, 1);
    x = x + narrow(pos, 1, 1, N);
    x = config.registers > 0 ? concat({cls, expand(register_tokens, {B, config.registers, D}), x}, 1)
                             : concat({cls, x}, 1);
    int64_t every = config.checkpoint_every;
    if (every > 0 && autograd::grad_enabled()) {
        for (size_t i = 0; i < blocks.size(); i += size_t(every)) {
            size_t end = std::min(blocks.size(), i + size_t(every));
            x = checkpoint(
                [this, i, end](const std::vector<Tensor>& in) {
                    Tensor h = in[0];
                    for (size_t j = i; j < end; ++j) h = blocks[j]->forward(h);
                    return h;
                },
                {x});
        }
    } else {
        for (auto& b : blocks) x = b->forward(x);
    }
    Output out;
    out.prenorm = x;
    Tensor normed = norm.forward(x);
    out.cls = select(normed, 1, 0);
    out.patch_tokens = narrow(normed, 1, 1 + config.registers, normed.size(1) - 1 - config.registers);
    return out;
}

std::map<std::string, Tensor> VisionTransformer::from_hf_layout(const std::map<std::string, Tensor>& hf) {
    bool is_hf = false;
    for (auto& [k, v] : hf)
        if (k.rfind("embeddings.", 0) == 0 || k.rfind("encoder.layer.", 0) == 0) is_hf = true;
    if (!is_hf) return hf;
    std::map<std::string, Tensor> out;
    std::set<std::string> used;
    auto take = [&](const std::string& from, const std::string& to) {
        auto it = hf.find(from);
        if (it != hf.end()) out[to] = it->second, used.insert(from);
    };
    take("embeddings.cls_token", "cls_token");
    take("embeddings.mask_token", "mask_token");
    take("embeddings.position_embeddings", "pos_embed");
    take("embeddings.register_tokens", "register_tokens");
    take("embeddings.patch_embeddings.projection.weight", "patch_embed.proj.weight");
    take("embeddings.patch_embeddings.projection.bias", "patch_embed.proj.bias");
    take("layernorm.weight", "norm.weight");
    take("layernorm.bias", "norm.bias");
    for (int64_t n = 0;; ++n) {
        std::string h = "encoder.layer." + std::to_string(n) + ".", t = "blocks." + std::to_string(n) + ".";
        if (!hf.count(h + "norm1.weight")) break;
        for (const char* s : {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight",
                              "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"})
            take(h + s, t + s);
        take(h + "layer_scale1.lambda1", t + "ls1.gamma");
        take(h + "layer_scale2.lambda1", t + "ls2.gamma");
        take(h + "attention.output.dense.weight", t + "attn.proj.weight");
        take(h + "attention.output.dense.bias", t + "attn.proj.bias");
        // torch.hub's qkv rows are [q; k; v].
        for (const char* kind : {"weight", "bias"}) {
            std::string base = h + "attention.attention.";
            auto q = hf.find(base + "query." + kind), k = hf.find(base + "key." + kind), v = hf.find(base + "value." + kind);
            ENG_CHECK(q != hf.end() && k != hf.end() && v != hf.end(), "DINOv2 (HF layout): layer ", n,
                      " lacks query/key/value ", kind);
            NoGradGuard ng;
            out[t + "attn.qkv." + kind] = concat({q->second.to(DType::f32), k->second.to(DType::f32), v->second.to(DType::f32)}, 0);
            used.insert({q->first, k->first, v->first});
        }
    }
    // A key this layout does not know keeps its name, so that loading reports
    // it as unexpected instead of the file's tensor being silently dropped.
    for (auto& [k, v] : hf)
        if (!used.count(k)) out[k] = v;
    return out;
}

}  // namespace eng::nn
