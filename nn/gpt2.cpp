// gpt2.cpp: GPT-2 in the Hugging Face layout (see gpt2.h).
#include "nn/gpt2.h"

#include <cmath>

#include "autograd/ops.h"

namespace eng::nn {

GPT2Config GPT2Config::preset(const std::string& name) {
    GPT2Config c;
    if (name == "gpt2") {
        return c;
    } else if (name == "biomedlm") {
        c.vocab = 28896, c.width = 2560, c.layers = 32, c.heads = 20, c.scale_attn_by_inverse_layer_idx = true;
    } else if (name == "tiny") {
        c.vocab = 96, c.positions = 64, c.width = 32, c.layers = 2, c.heads = 4, c.scale_attn_by_inverse_layer_idx = true;
    } else {
        ENG_FAIL("unknown GPT-2 preset '", name, "' (expected gpt2, biomedlm or tiny)");
    }
    return c;
}

GPT2Block::GPT2Block(const GPT2Config& c, int64_t idx, Generator* g)
    : ln_1(c.width, c.ln_eps), ln_2(c.width, c.ln_eps), config(c), layer_index(idx) {
    // heads > 0 first: width % 0 would stop the program with SIGFPE, not an error.
    ENG_CHECK(c.heads > 0, "GPT-2: the head count must be positive, got ", c.heads,
              ". HINT: set model.text.heads to a divisor of the width (e.g. 12 for width 768)");
    ENG_CHECK(c.width % c.heads == 0, "GPT-2: width ", c.width, " is not divisible by ", c.heads, " heads");
    // GPT-2's init: N(0, 0.02), except the two projections that write into
    // the residual stream, N(0, 0.02/√(2·layers)), so that the stream's variance
    // does not grow with depth (2 such writes per block; HF's _init_weights).
    const float residual_std = c.scaled_residual_init ? 0.02f / std::sqrt(2.0f * float(c.layers)) : 0.02f;
    attn.c_attn = Linear::conv1d(c.width, 3 * c.width, g);
    attn.c_proj = Linear::conv1d(c.width, c.width, g, residual_std);
    mlp.c_fc = Linear::conv1d(c.width, c.inner_width(), g);
    mlp.c_proj = Linear::conv1d(c.inner_width(), c.width, g, residual_std);
    attn.register_module("c_attn", attn.c_attn.get());
    attn.register_module("c_proj", attn.c_proj.get());
    mlp.register_module("c_fc", mlp.c_fc.get());
    mlp.register_module("c_proj", mlp.c_proj.get());
    register_module("ln_1", &ln_1);
    register_module("attn", &attn);
    register_module("ln_2", &ln_2);
    register_module("mlp", &mlp);
}

Tensor GPT2Block::forward(const Tensor& x, const Tensor& key_padding_mask) {
    int64_t B = x.size(0), T = x.size(1), D = x.size(2), H = config.heads, hd = D / H;
    bool train = is_training();
    float divisor = config.scale_attn_by_inverse_layer_idx ? float(layer_index + 1) : 1.0f;
    // c_attn columns are [q | k | v]: [B, T, 3D] -> [3, B, H, T, hd].
    Tensor qkv = permute(reshape(attn.c_attn->forward(ln_1.forward(x)), {B, T, 3, H, hd}), {2, 0, 3, 1, 4});
    Tensor o;
    const float attn_drop = train ? config.attn_pdrop : 0.0f;
    if (attn_drop > 0.0f && !attention_dropout_fused(x.device(), hd)) {
        Tensor q = select(qkv, 0, 0), k = select(qkv, 0, 1), v = select(qkv, 0, 2);
        // Dropout on the attention probabilities: the CPU kernels and the
        // CUDA flash kernel apply it inside the fused attention (below);
        // otherwise the probabilities are materialised (scores, mask,
        // softmax, dropout, ·V).  All draw the same mask from the same
        // generator state.
        Tensor scores = matmul(q, transpose(k, -1, -2)) * (1.0f / (std::sqrt(float(hd)) * divisor));
        Tensor causal = from_vector([&] {
            std::vector<float> m(size_t(T * T));
            for (int64_t i = 0; i < T; ++i)
                for (int64_t j = 0; j < T; ++j) m[size_t(i * T + j)] = j > i ? 1.0f : 0.0f;
            return m;
        }(), {T, T}, {DType::f32, x.device()});
        Tensor masked = causal;
        if (key_padding_mask.defined())
            masked = add(causal, reshape(rsub(1.0f, key_padding_mask), {B, 1, 1, T}));  // >0 where masked
        scores = masked_fill(scores, masked, -1e30f);
        Tensor probs = dropout(softmax(scores, -1), config.attn_pdrop, true);
        o = matmul(probs, v);
    } else {
        o = scaled_dot_product_attention_packed(qkv, true, key_padding_mask, divisor, attn_drop);
    }
    Tensor a = attn.c_proj->forward(reshape(permute(o, {0, 2, 1, 3}), {B, T, D}));
    Tensor h = x + dropout(a, config.resid_pdrop, train);
    Tensor m = mlp.c_proj->forward(gelu(mlp.c_fc->forward(ln_2.forward(h)), config.gelu_new));
    return h + dropout(m, config.resid_pdrop, train);
}

GPT2Model::GPT2Model(const GPT2Config& c, Generator* g) : config(c) {
    transformer.wte = std::make_unique<Embedding>(c.vocab, c.width, g, 0.02f);
    transformer.wpe = std::make_unique<Embedding>(c.positions, c.width, g, 0.02f);
    transformer.register_module("wte", transformer.wte.get());
    transformer.register_module("wpe", transformer.wpe.get());
    for (int64_t i = 0; i < c.layers; ++i) {
        transformer.h.push_back(std::make_unique<GPT2Block>(config, i, g));
        transformer.register_module("h." + std::to_string(i), transformer.h.back().get());
    }
    transformer.ln_f = std::make_unique<LayerNorm>(c.width, c.ln_eps);
    transformer.register_module("ln_f", transformer.ln_f.get());
    register_module("transformer", &transformer);
}

Tensor GPT2Model::forward(const Tensor& ids, const Tensor& attention_mask) {
    ENG_CHECK(ids.dim() == 2 && ids.dtype() == DType::i32, "GPT-2: ids must be i32 [B, T], got ",
              dtype_name(ids.dtype()), " ", shape_str(ids.shape()));
    int64_t B = ids.size(0), T = ids.size(1);
    ENG_CHECK(T <= config.positions, "GPT-2: sequence length ", T, " exceeds the ", config.positions,
              " positions of the model. HINT: truncate the captions (max length)");
    Tensor mask;
    if (attention_mask.defined()) {
        ENG_CHECK(attention_mask.shape() == Shape({B, T}), "GPT-2: attention_mask ", shape_str(attention_mask.shape()),
                  " does not match ids ", shape_str(ids.shape()));
        mask = attention_mask.dtype() == DType::f32 ? attention_mask : attention_mask.to(DType::f32);
    }
    Tensor pos = arange(0, T, 1, {DType::i32, ids.device()});
    Tensor x = transformer.wte->forward(ids) + transformer.wpe->forward(pos);
    x = dropout(x, config.embd_pdrop, is_training());
    int64_t every = config.checkpoint_every;
    if (every > 0 && autograd::grad_enabled()) {
        for (size_t i = 0; i < transformer.h.size(); i += size_t(every)) {
            size_t end = std::min(transformer.h.size(), i + size_t(every));
            x = checkpoint(
                [this, i, end, mask](const std::vector<Tensor>& in) {
                    Tensor hdn = in[0];
                    for (size_t j = i; j < end; ++j) hdn = transformer.h[j]->forward(hdn, mask);
                    return hdn;
                },
                {x});
        }
    } else {
        for (auto& block : transformer.h) x = block->forward(x, mask);
    }
    return transformer.ln_f->forward(x);
}

Tensor GPT2Model::logits(const Tensor& hidden) { return matmul(hidden, transpose(transformer.wte->weight, 0, 1)); }

void GPT2Model::resize_token_embeddings(int64_t new_vocab, uint64_t seed) {
    Tensor& w = transformer.wte->weight;
    int64_t old = w.size(0);
    ENG_CHECK(new_vocab >= old, "resize_token_embeddings: cannot shrink ", old, " rows to ", new_vocab);
    if (new_vocab == old) return;
    Generator g(seed);
    bool rg = w.requires_grad();
    Tensor grown;
    {
        NoGradGuard ng;
        grown = concat({w.detach().to(Device::CPU), normal({new_vocab - old, w.size(1)}, 0.0f, 0.02f, &g)}, 0);
    }
    w = grown.to(w.device());
    if (rg) w.set_requires_grad(true);
    config.vocab = new_vocab;
}

LoadReport GPT2Model::load_hf_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
    std::map<std::string, Tensor> filtered;
    for (auto& [k, v] : state) {
        auto ends_with = [&](const std::string& suffix) {
            return k.size() >= suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0;
        };
        bool legacy = ends_with(".attn.bias") || ends_with(".attn.masked_bias");
        if (k == "lm_head.weight" || legacy) continue;
        // Some exports omit the "transformer." prefix.
        filtered[k.rfind("transformer.", 0) == 0 ? k : "transformer." + k] = v;
    }
    return load_state_dict(filtered, strict);
}

}  // namespace eng::nn
