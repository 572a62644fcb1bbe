// vit.h: the Vision Transformer in the DINOv2 layout (torch.hub key names).
//
// Tokens: [CLS, registers..., patches...].  The position embedding covers CLS
// and the patch grid it was built for; when an image gives another grid, the
// patch part is resized bicubically with antialias to the new grid (DINOv2
// with interpolate_offset = 0, as MaMA builds it).  Registers are inserted
// after the position embedding is added and get none.  Pre-norm blocks:
//   x += ls1(attn(norm1(x)));  x += ls2(mlp(norm2(x)))
// then a final LayerNorm.  LayerNorm eps 1e-6, exact GELU, qkv bias.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace eng::nn {

struct ViTConfig {
    int64_t image_size = 518;  // the grid the position embedding is built for
    int64_t patch = 14;
    int64_t in_channels = 3;
    int64_t width = 768;
    int64_t depth = 12;
    int64_t heads = 12;
    double mlp_ratio = 4.0;
    int64_t registers = 4;
    float layerscale_init = 1.0f;  // 0 disables LayerScale (no ls1/ls2 parameters)
    float ln_eps = 1e-6f;
    int64_t checkpoint_every = 0;  // >0: activation checkpointing, this many blocks per segment
    // "vit_s14_reg4", "vit_b14_reg4", "vit_l14_reg4", "tiny" (patch 14, width 32, 2 blocks, 2 heads, 4 registers)
    static ViTConfig preset(const std::string& name);
    int64_t grid() const { return image_size / patch; }
};

class ViTBlock : public Module {
public:
    ViTBlock(const ViTConfig& c, Generator* g);
    Tensor forward(const Tensor& x);
    LayerNorm norm1, norm2;
    Attention attn;
    MLP mlp;
    std::unique_ptr<LayerScale> ls1, ls2;
};

class VisionTransformer : public Module {
public:
    explicit VisionTransformer(const ViTConfig& c, Generator* g = nullptr);

    struct Output {
        Tensor prenorm;       // [B, 1 + R + N, D]: the last block's output, before the final norm
        Tensor patch_tokens;  // [B, N, D]: normalised patch tokens (registers and CLS excluded)
        Tensor cls;           // [B, D]: normalised CLS token
    };
    // images [B, C, H, W]; H and W multiples of the patch size.  grayscale: the
    // channels are identical, so the patch embedding runs on one (same result).
    Output forward(const Tensor& images, bool grayscale = false);

    // The position embedding for a grid of gh × gw patches (resized if needed): [1, 1 + gh·gw, D].
    Tensor position_embedding(int64_t gh, int64_t gw);

    // Converts a state dict in the Hugging Face Dinov2Model layout (embeddings.*,
    // encoder.layer.N.*, split q/k/v) to the torch.hub names used here; a dict
    // already in torch.hub names is returned unchanged.  "mask_token" is kept.
    static std::map<std::string, Tensor> from_hf_layout(const std::map<std::string, Tensor>& hf);

    ViTConfig config;
    Tensor cls_token, pos_embed, register_tokens, mask_token;
    PatchEmbed patch_embed;
    std::vector<std::unique_ptr<ViTBlock>> blocks;
    LayerNorm norm;
};

}  // namespace eng::nn
