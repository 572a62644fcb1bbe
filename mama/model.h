// model.h: the MaMA model: image tower, text tower with LoRA, projection and
// local heads, the multi-view head, the two learned log-temperatures, and the
// forward pass that turns a batch into the four pretraining losses.
//
// Saved parameter names (a contract): image.* (DINOv2 layout), text.* (HF GPT-2
// layout, LoRA as text.transformer.h.N.attn.c_attn.lora_{A,B}.weight),
// image_proj.*, text_proj.*, image_local.{fc1,bn1,fc2,bn2}.*,
// text_local.{fc1,bn1,fc2,bn2}.*, mv_head.{fc1.weight,bn1.*,fc2.weight,bn2.*},
// logit_scale, local_scale.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "mama/objectives.h"
#include "nn/comm.h"
#include "nn/gpt2.h"
#include "nn/vit.h"

namespace mama {

struct MamaConfig {
    eng::nn::ViTConfig vit = eng::nn::ViTConfig::preset("vit_b14_reg4");
    eng::nn::GPT2Config text = eng::nn::GPT2Config::preset("biomedlm");
    int64_t embed_dim = 512;      // joint width of the global and local embeddings
    int64_t local_hidden = 2048;  // width inside image_local / text_local
    int64_t mv_hidden = 0;        // multi-view head hidden width (0 = the ViT width, as the reference)
    int64_t lora_r = 8;
    float lora_alpha = 32.0f;
    float lora_dropout = 0.1f;
    std::string lora_target = "c_attn";
    LossSchedule schedule;        // late start and λ_VV
    float nt_xent_temperature = 0.5f;
    bool symmetric_local = true;  // the I terms of SLA
    bool image_pool_mean = true;  // training image feature: mean of pre-norm tokens (false: normalised CLS)
    bool text_pool_mean = true;   // training text feature: mean of all positions (false: first pad position)
    bool grayscale_input = true;  // images carry 3 identical channels: patch embedding on one (same result)
    uint64_t special_token_seed = 1234;  // seed of the new token-embedding rows
};

// A micro-batch as the model consumes it.
struct MamaBatch {
    eng::Tensor images;          // f32 [B, 3, H, W], normalised
    eng::Tensor partner_images;  // f32 [B, 3, H, W] (needed once the late losses are on)
    eng::Tensor input_ids;       // i32 [B, T]
    eng::Tensor attention_mask;  // i32 [B, T], 1 = token, 0 = pad
    int32_t sep_token_id = -1;
    int32_t pad_token_id = -1;
};

struct MamaLosses {
    eng::Tensor total, clip, mv, partner_clip, sla;  // scalars; inactive terms are undefined
    eng::Tensor image_emb, text_emb;                 // normalised global embeddings [B, E]
};

// Sub-module shapes of the reference heads.
class LocalHead : public eng::nn::Module {  // fc1 -> BN -> ReLU -> fc2 -> BN (no affine)
public:
    LocalHead(int64_t in, int64_t hidden, int64_t out, eng::Generator* g);
    eng::Tensor forward(const eng::Tensor& x);  // x [N, in] -> [N, out]; BN statistics over the N rows
    eng::nn::Linear fc1, fc2;
    eng::nn::BatchNorm1d bn1, bn2;
};

class MultiViewHead : public eng::nn::Module {  // fc1 (no bias) -> BN -> ReLU -> fc2 (no bias) -> BN
public:
    MultiViewHead(int64_t in, int64_t hidden, int64_t out, eng::Generator* g);
    eng::Tensor forward(const eng::Tensor& x);
    eng::nn::Linear fc1, fc2;
    eng::nn::BatchNorm1d bn1, bn2;
};

class MamaModel : public eng::nn::Module {
public:
    // vocab_size: the tokenizer's size including the six MaMA tokens; the text
    // embedding is resized to it (new rows N(0, 0.02) from special_token_seed).
    MamaModel(const MamaConfig& config, int64_t vocab_size, eng::Generator* g = nullptr);

    // Initialise the towers from pretrained weights (any subset may be empty).
    void load_pretrained(const std::string& dinov2_path, const std::string& gpt2_path);

    // Forward of one micro-batch with every loss active at `step`.
    MamaLosses forward(const MamaBatch& batch, int64_t step);

    // Freezes or unfreezes φ_v, φ_t and θ_l for the late start (call before each step).
    void apply_schedule(int64_t step);

    // Encoders used by evaluation.
    eng::Tensor image_features(const eng::Tensor& images);  // pooled, before image_proj [B, Dv]
    eng::Tensor encode_images(const eng::Tensor& images);   // normalised [B, E]
    // Normalised text embeddings [B, E]; pooling "mean" (training) or "first_pad" (zero-shot).
    eng::Tensor encode_texts(const eng::Tensor& ids, const eng::Tensor& mask, int32_t pad_token_id,
                             const std::string& pooling);

    MamaConfig config;
    eng::nn::VisionTransformer image;
    eng::nn::GPT2Model text;
    eng::nn::Linear image_proj, text_proj;
    LocalHead image_local, text_local;
    MultiViewHead mv_head;
    eng::Tensor logit_scale, local_scale;

    // Gathered negatives (train.gather_negatives under mpirun): when set, the
    // global image, partner and caption embeddings and the multi-view head
    // outputs of every rank are all-gathered (with gradient) before the CLIP,
    // partner CLIP and NT-Xent losses, which then cover the W·B rows of the
    // global micro-batch.  SLA stays per rank.  Null = per-rank negatives.
    eng::nn::Communicator* negatives_comm = nullptr;
    // The same for the multi-view head outputs alone (NT-Xent gathered, the
    // CLIP losses per rank: train.gather_mv_negatives); negatives_comm, when
    // set, gathers them too.
    eng::nn::Communicator* mv_negatives_comm = nullptr;

private:
    eng::Tensor pool_text(const eng::Tensor& hidden, const eng::Tensor& ids, int32_t pad_token_id,
                          const std::string& pooling);
};

}  // namespace mama
