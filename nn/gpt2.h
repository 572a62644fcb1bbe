// gpt2.h: GPT-2 in the Hugging Face layout (BioMedLM is one).
//
// Keys: transformer.wte, transformer.wpe, transformer.h.N.{ln_1, attn.c_attn,
// attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}, transformer.ln_f.  The projections
// are Conv1D, stored [in, out] in files and here.  Pre-LN blocks:
//   x += drop(c_proj(attn(ln_1 x)));  x += drop(mlp.c_proj(gelu_new(c_fc(ln_2 x))))
// Attention is causal AND masked by attention_mask (1 = token, 0 = pad; pads on
// the right); positions are 0..T-1 whatever the padding.  With
// scale_attn_by_inverse_layer_idx the scores of layer i are further divided by
// i + 1.  forward() returns the hidden states after ln_f; logits() applies the
// LM head tied to wte.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace eng::nn {

struct GPT2Config {
    int64_t vocab = 50257;
    int64_t positions = 1024;
    int64_t width = 768;
    int64_t layers = 12;
    int64_t heads = 12;
    int64_t inner = 0;  // 0 means 4 · width
    bool gelu_new = true;  // tanh approximation (HF "gelu_new"); false = exact erf
    float ln_eps = 1e-5f;
    float embd_pdrop = 0.1f, attn_pdrop = 0.1f, resid_pdrop = 0.1f;
    bool scale_attn_by_inverse_layer_idx = false;
    int64_t checkpoint_every = 0;  // >0: activation checkpointing, blocks per segment
    // Random init of the two residual projections (attn.c_proj, mlp.c_proj):
    // N(0, 0.02/√(2·layers)) as GPT-2 trains from scratch (true), or N(0, 0.02)
    // like every other weight (false: MaMA's configs, whose random text tower
    // stands in, frozen, for BioMedLM; see mama/config.cpp).
    bool scaled_residual_init = true;
    // "gpt2" (124M), "biomedlm" (32 layers, 2560 wide, 20 heads, vocab 28896), "tiny"
    static GPT2Config preset(const std::string& name);
    int64_t inner_width() const { return inner > 0 ? inner : 4 * width; }
};

class GPT2Block : public Module {
public:
    GPT2Block(const GPT2Config& c, int64_t layer_index, Generator* g);
    Tensor forward(const Tensor& x, const Tensor& key_padding_mask);
    LayerNorm ln_1, ln_2;
    struct AttnModule : Module {
        std::unique_ptr<Linear> c_attn, c_proj;
    } attn;
    struct MlpModule : Module {
        std::unique_ptr<Linear> c_fc, c_proj;
    } mlp;
    const GPT2Config& config;
    int64_t layer_index;
};

class GPT2Model : public Module {
public:
    explicit GPT2Model(const GPT2Config& c, Generator* g = nullptr);

    // ids i32 [B, T]; attention_mask [B, T] (1 keep, 0 pad; may be undefined).
    // Returns hidden states after ln_f, [B, T, D].
    Tensor forward(const Tensor& ids, const Tensor& attention_mask = Tensor());
    Tensor logits(const Tensor& hidden);  // hidden · wteᵀ, [B, T, V]

    // Grows the token embedding to new_vocab rows; the new rows are drawn from
    // N(0, 0.02) with a generator seeded by `seed` (old rows kept).
    void resize_token_embeddings(int64_t new_vocab, uint64_t seed);

    // Loads a state dict in the HF layout, ignoring lm_head.weight (tied) and the
    // legacy attn.bias / attn.masked_bias buffers.
    LoadReport load_hf_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

    GPT2Config config;
    struct Transformer : Module {
        std::unique_ptr<Embedding> wte, wpe;
        std::vector<std::unique_ptr<GPT2Block>> h;
        std::unique_ptr<LayerNorm> ln_f;
    } transformer;
};

}  // namespace eng::nn
