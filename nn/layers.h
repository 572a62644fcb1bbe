// layers.h: the standard layers: LayerNorm, BatchNorm1d, Embedding, Dropout,
// GELU, MLP, multi-head self-attention with a fused qkv projection,
// LayerScale and the ViT patch embedding.  Parameter names follow PyTorch.
#pragma once
#include <memory>

#include "nn/linear.h"
#include "nn/module.h"

namespace eng::nn {

class LayerNorm : public Module {
public:
    explicit LayerNorm(int64_t dim, float eps = 1e-5f, bool affine = true);
    Tensor forward(const Tensor& x);
    Tensor weight, bias;  // [dim]: ones and zeros
    float eps;
};

// BatchNorm1d over x [N, C] (or [N, C, L]): batch statistics in training (and
// running averages updated with momentum), running statistics in eval.
class BatchNorm1d : public Module {
public:
    explicit BatchNorm1d(int64_t channels, bool affine = true, float momentum = 0.1f, float eps = 1e-5f);
    Tensor forward(const Tensor& x);
    Tensor weight, bias;                      // affine only
    Tensor running_mean, running_var;         // buffers: zeros and ones
    Tensor num_batches_tracked;               // buffer, i32 scalar, as PyTorch's state_dict has it
    float momentum, eps;
};

class Embedding : public Module {
public:
    Embedding(int64_t num, int64_t dim, Generator* g = nullptr, float init_std = 1.0f);  // N(0, init_std)
    Tensor forward(const Tensor& ids);  // ids i32 [...] -> [..., dim]
    Tensor weight;                      // [num, dim]
};

class Dropout : public Module {
public:
    explicit Dropout(float p) : p(p) {}
    Tensor forward(const Tensor& x);
    float p;
};

class GELU : public Module {
public:
    explicit GELU(bool tanh_approximation = false) : approximate(tanh_approximation) {}
    Tensor forward(const Tensor& x);
    bool approximate;
};

// fc1 -> GELU -> (dropout) -> fc2, the transformer MLP (DINOv2's Mlp names).
class MLP : public Module {
public:
    MLP(int64_t dim, int64_t hidden, bool tanh_gelu = false, float dropout = 0.0f, Generator* g = nullptr);
    Tensor forward(const Tensor& x);
    std::unique_ptr<Linear> fc1, fc2;
    bool tanh_gelu;
    float dropout;
};

// Self-attention with a fused qkv Linear [3D, D] and an output proj [D, D]
// (DINOv2 names: attn.qkv, attn.proj).  x [B, T, D] -> [B, T, D].
class Attention : public Module {
public:
    Attention(int64_t dim, int64_t heads, bool qkv_bias = true, Generator* g = nullptr);
    Tensor forward(const Tensor& x, bool causal = false, const Tensor& key_padding_mask = Tensor());
    std::unique_ptr<Linear> qkv, proj;
    int64_t heads;
};

// Per-channel scale, DINOv2's ls1/ls2 (parameter "gamma").
class LayerScale : public Module {
public:
    LayerScale(int64_t dim, float init);
    Tensor forward(const Tensor& x);
    Tensor gamma;
};

// Conv2d with kernel = stride = patch, stored [D, C, p, p] like PyTorch
// (DINOv2: patch_embed.proj.weight).  x [B, C, H, W] -> tokens [B, N, D].
// When the three input channels are known to be identical (grayscale
// mammograms) forward_grayscale() runs on one channel with the weights summed
// over channels: the same result with a third of the work.
class PatchEmbed : public Module {
public:
    PatchEmbed(int64_t in_channels, int64_t dim, int64_t patch, Generator* g = nullptr);
    Tensor forward(const Tensor& x);
    Tensor forward_grayscale(const Tensor& x);  // x [B, C, H, W] with C identical channels
    struct Conv : Module {  // the "proj" child: weight [D, C, p, p], bias [D]
        void init(Tensor w, Tensor b);
        Tensor weight, bias;
    } proj;
    int64_t in_channels, dim, patch;
};

}  // namespace eng::nn
