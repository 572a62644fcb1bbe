// model.cpp: the MaMA model (see model.h and mama-reference.md §4-7).
#include "mama/model.h"

#include <cmath>

#include "autograd/ops.h"
#include "nn/safetensors.h"

namespace mama {

using namespace eng;

LocalHead::LocalHead(int64_t in, int64_t hidden, int64_t out, Generator* g)
    : fc1(in, hidden, true, g), fc2(hidden, out, true, g), bn1(hidden), bn2(out, false) {
    register_module("fc1", &fc1);
    register_module("bn1", &bn1);
    register_module("fc2", &fc2);
    register_module("bn2", &bn2);
}

Tensor LocalHead::forward(const Tensor& x) {
    return bn2.forward(fc2.forward(relu(bn1.forward(fc1.forward(x)))));
}

MultiViewHead::MultiViewHead(int64_t in, int64_t hidden, int64_t out, Generator* g)
    : fc1(in, hidden, false, g), fc2(hidden, out, false, g), bn1(hidden), bn2(out) {
    register_module("fc1", &fc1);
    register_module("bn1", &bn1);
    register_module("fc2", &fc2);
    register_module("bn2", &bn2);
}

Tensor MultiViewHead::forward(const Tensor& x) {
    return bn2.forward(fc2.forward(relu(bn1.forward(fc1.forward(x)))));
}

MamaModel::MamaModel(const MamaConfig& c, int64_t vocab_size, Generator* g)
    : config(c),
      image(c.vit, g),
      text(c.text, g),
      image_proj(c.vit.width, c.embed_dim, true, g),
      text_proj(c.text.width, c.embed_dim, true, g),
      image_local(c.vit.width, c.local_hidden, c.embed_dim, g),
      text_local(c.text.width, c.local_hidden, c.embed_dim, g),
      mv_head(c.vit.width, c.mv_hidden > 0 ? c.mv_hidden : c.vit.width, c.embed_dim, g) {
    // The text tower: token embedding grown for the MaMA special tokens, then
    // LoRA on c_attn with every base weight frozen (§5.2, §5.4).
    ENG_CHECK(vocab_size >= c.text.vocab, "MamaModel: tokenizer size ", vocab_size,
              " is smaller than the text tower's vocabulary ", c.text.vocab);
    text.resize_token_embeddings(vocab_size, c.special_token_seed);
    if (c.lora_r > 0) nn::inject_lora(text, c.lora_target, c.lora_r, c.lora_alpha, c.lora_dropout, g);
    // θ and θ_l start at ln(1/0.07), shape [] as the reference's parameters.
    logit_scale = full({}, float(std::log(1.0 / 0.07)));
    local_scale = full({}, float(std::log(1.0 / 0.07)));
    register_module("image", &image);
    register_module("text", &text);
    register_module("image_proj", &image_proj);
    register_module("text_proj", &text_proj);
    register_module("image_local", &image_local);
    register_module("text_local", &text_local);
    register_module("mv_head", &mv_head);
    register_parameter("logit_scale", &logit_scale);
    register_parameter("local_scale", &local_scale);
    // §4.4: with mean pooling the final LayerNorm is frozen (it still normalises the SLA patch tokens).
    if (c.image_pool_mean) image.norm.requires_grad(false);
    apply_schedule(0);
}

void MamaModel::apply_schedule(int64_t step) {
    bool on = config.schedule.local_heads_trainable(step);
    image_local.requires_grad(on);
    text_local.requires_grad(on);
    local_scale.set_requires_grad(on);
}

void MamaModel::load_pretrained(const std::string& dinov2_path, const std::string& gpt2_path) {
    if (!dinov2_path.empty()) {
        auto sd = nn::VisionTransformer::from_hf_layout(nn::load_safetensors(dinov2_path, DType::f32));
        nn::LoadReport r = image.load_state_dict(sd, false);
        ENG_CHECK(r.ok(), "loading DINOv2 weights from ", dinov2_path, ":\n", r.str(),
                  "HINT: the ViT config (width, depth, heads, registers, patch, image_size = the grid the file's "
                  "pos_embed was built for, e.g. 518) must match the checkpoint");
    }
    if (!gpt2_path.empty()) {
        auto sd = nn::load_safetensors(gpt2_path, DType::f32);
        // The file predates the special tokens and LoRA: copy its wte rows into
        // the leading rows of ours, and accept that lora_* keys are absent.
        std::map<std::string, Tensor> fixed;
        for (auto& [k, v] : sd) fixed[k.rfind("transformer.", 0) == 0 || k == "lm_head.weight" ? k : "transformer." + k] = v;
        auto wte = fixed.find("transformer.wte.weight");
        ENG_CHECK(wte != fixed.end(), "loading GPT-2 weights from ", gpt2_path, ": no transformer.wte.weight");
        Tensor& ours = text.transformer.wte->weight;
        ENG_CHECK(wte->second.size(1) == ours.size(1) && wte->second.size(0) <= ours.size(0), "loading GPT-2 weights from ",
                  gpt2_path, ": wte ", shape_str(wte->second.shape()), " does not fit the model's ", shape_str(ours.shape()));
        raw_narrow(ours.detach(), 0, 0, wte->second.size(0)).copy_(wte->second);
        fixed.erase(wte);
        nn::LoadReport r = text.load_hf_state_dict(fixed, false);
        std::vector<std::string> missing;
        for (auto& m : r.missing)
            if (m.find("lora_") == std::string::npos && m != "transformer.wte.weight") missing.push_back(m);
        r.missing = missing;
        ENG_CHECK(r.ok(), "loading GPT-2 weights from ", gpt2_path, ":\n", r.str(),
                  "HINT: the text config (width, layers, heads, positions) must match the checkpoint");
    }
}

Tensor MamaModel::image_features(const Tensor& images) {
    auto out = image.forward(images, config.grayscale_input);
    return config.image_pool_mean ? mean(out.prenorm, {1}) : out.cls;
}

Tensor MamaModel::encode_images(const Tensor& images) {
    return l2_normalize(image_proj.forward(image_features(images)));
}

Tensor MamaModel::pool_text(const Tensor& hidden, const Tensor& ids, int32_t pad, const std::string& pooling) {
    if (pooling == "mean") return mean(hidden, {1});  // every position, pads included (§5.5)
    ENG_CHECK(pooling == "first_pad", "text pooling must be 'mean' or 'first_pad', got '", pooling, "'");
    // z* = Z[L] with L the number of non-pad tokens (counted as T minus the
    // trailing pads); with no padding, Z[0] (§5.5).
    int64_t B = ids.size(0), T = ids.size(1);
    std::vector<int32_t> v = ids.to_ivector(), rows;
    for (int64_t b = 0; b < B; ++b) {
        int64_t L = T;
        while (L > 0 && v[size_t(b * T + L - 1)] == pad) --L;
        rows.push_back(int32_t(b * T + (L == T ? 0 : L)));
    }
    return index_select(reshape(hidden, {B * T, hidden.size(2)}), 0, from_ivector(rows, {B}, hidden.device()));
}

Tensor MamaModel::encode_texts(const Tensor& ids, const Tensor& mask, int32_t pad, const std::string& pooling) {
    return l2_normalize(text_proj.forward(pool_text(text.forward(ids, mask), ids, pad, pooling)));
}

MamaLosses MamaModel::forward(const MamaBatch& batch, int64_t step) {
    ENG_CHECK(batch.images.defined() && batch.input_ids.defined(), "MamaModel::forward: the batch lacks images or ids");
    int64_t B = batch.images.size(0);
    ENG_CHECK(batch.input_ids.size(0) == B, "MamaModel::forward: ", B, " images but ", batch.input_ids.size(0), " captions");
    ENG_CHECK(B >= 2, "MamaModel::forward: a contrastive micro-batch needs at least 2 samples, got ", B);
    MamaLosses out;
    auto img = image.forward(batch.images, config.grayscale_input);
    Tensor v_pool = config.image_pool_mean ? mean(img.prenorm, {1}) : img.cls;
    out.image_emb = l2_normalize(image_proj.forward(v_pool));
    Tensor Z = text.forward(batch.input_ids, batch.attention_mask);
    Tensor z_pool = pool_text(Z, batch.input_ids, batch.pad_token_id, config.text_pool_mean ? "mean" : "first_pad");
    out.text_emb = l2_normalize(text_proj.forward(z_pool));
    // Per-rank negatives, or every rank's rows (nn::all_gather_rows, see negatives_comm).
    auto all = [&](const Tensor& x) { return negatives_comm ? nn::all_gather_rows(*negatives_comm, x) : x; };
    nn::Communicator* mv_comm = negatives_comm ? negatives_comm : mv_negatives_comm;
    auto all_mv = [&](const Tensor& x) { return mv_comm ? nn::all_gather_rows(*mv_comm, x) : x; };
    Tensor text_all = all(out.text_emb);
    out.clip = clip_loss(all(out.image_emb), text_all, logit_scale);
    out.total = out.clip;
    if (!config.schedule.active(step)) return out;

    // ---- the late losses: multi-view, partner CLIP, symmetric local alignment ----
    ENG_CHECK(batch.partner_images.defined() && batch.partner_images.shape() == batch.images.shape(),
              "MamaModel::forward: the late losses need partner images shaped like the images");
    auto partner = image.forward(batch.partner_images, config.grayscale_input);
    Tensor pv_pool = config.image_pool_mean ? mean(partner.prenorm, {1}) : partner.cls;
    Tensor pv = l2_normalize(image_proj.forward(pv_pool));
    out.partner_clip = partner_clip_loss(all(pv), text_all, logit_scale);
    // g is called separately on each view, so each call has its own BN statistics.
    // The partner view first, then the anchor, as the reference (simclr_proj on
    // ext_feat_s1, then on img_feat_q): the order shows in BatchNorm's running
    // statistics, and when gathering, the collectives must run in one order on
    // every rank.
    Tensor mv_partner = all_mv(mv_head.forward(pv_pool));
    Tensor mv_anchor = all_mv(mv_head.forward(v_pool));
    out.mv = nt_xent_loss(mv_partner, mv_anchor, config.nt_xent_temperature) *
             config.schedule.mv_weight;
    // SLA: patch tokens through φ_v (BN over all B·N tokens), sentences through φ_t per caption.
    int64_t N = img.patch_tokens.size(1), Dv = img.patch_tokens.size(2);
    Tensor p = l2_normalize(reshape(image_local.forward(reshape(img.patch_tokens, {B * N, Dv})), {B, N, -1}));
    int64_t T = batch.input_ids.size(1), Dt = Z.size(2);
    std::vector<int32_t> ids = batch.input_ids.to_ivector();
    Tensor Zflat = reshape(Z, {B * T, Dt});
    std::vector<Tensor> sentences;
    std::vector<int64_t> counts;
    for (int64_t m = 0; m < B; ++m) {
        std::vector<int32_t> rows;
        for (int64_t t = 0; t < T; ++t)
            if (ids[size_t(m * T + t)] == batch.sep_token_id) rows.push_back(int32_t(m * T + t));
        ENG_CHECK(rows.size() >= 2, "MamaModel::forward: caption ", m, " has ", rows.size(),
                  " separator tokens (id ", batch.sep_token_id, "); local alignment needs at least 2 per caption "
                  "(BatchNorm over one caption's sentences). HINT: check sep_token_id and the caption max length");
        Tensor s = index_select(Zflat, 0, from_ivector(rows, {int64_t(rows.size())}, Z.device()));
        sentences.push_back(l2_normalize(text_local.forward(s)));
        counts.push_back(int64_t(rows.size()));
    }
    out.sla = sla_loss(p, concat(sentences, 0), counts, local_scale, config.symmetric_local);
    out.total = out.total + out.mv + out.partner_clip + out.sla;
    return out;
}

}  // namespace mama
