// pretrain_check.cpp: the reference-check mode of build/pretrain (see
// run_reference_check in pretrain.h): one forward and backward of a given batch
// with given weights, every loss, embedding and trainable gradient written out
// for comparison with the reference implementation.
#include <iostream>

#include "autograd/ops.h"
#include "mama/pretrain.h"
#include "nn/safetensors.h"

namespace mama {

using namespace eng;

int run_reference_check(const RunConfig& rc, const std::string& init, const std::string& batch_file,
                        const std::string& dump) {
    auto batch = nn::load_safetensors(batch_file);
    for (const char* k : {"images", "partner_images", "input_ids", "attention_mask", "sep_token_id", "pad_token_id", "step"})
        ENG_CHECK(batch.count(k), "--check-batch ", batch_file, ": missing tensor '", k, "'");
    auto weights = nn::load_safetensors(init, DType::f32);
    // Every dropout off; the vocabulary is the file's.
    MamaConfig mc = rc.model;
    mc.lora_dropout = 0.0f;
    mc.text.embd_pdrop = mc.text.attn_pdrop = mc.text.resid_pdrop = 0.0f;
    auto wte = weights.find("text.transformer.wte.weight");
    ENG_CHECK(wte != weights.end(), "--init ", init, ": no text.transformer.wte.weight");
    mc.text.vocab = wte->second.size(0);
    MamaModel model(mc, wte->second.size(0));
    // Buffers arrive as f32; num_batches_tracked is i32 in the model.
    std::map<std::string, Tensor> state;
    for (auto& [k, v] : weights) state[k] = v;
    nn::LoadReport r = model.load_state_dict(state, false);
    std::vector<std::string> missing;
    for (auto& m : r.missing)
        if (m.find("num_batches_tracked") == std::string::npos) missing.push_back(m);
    r.missing = missing;
    ENG_CHECK(r.ok(), "--init ", init, " does not match the model of the config:\n", r.str());
    int64_t step = int64_t(batch.at("step").to(DType::f32).item());
    model.train();
    model.apply_schedule(step);
    MamaBatch mb;
    mb.images = batch.at("images").to(DType::f32);
    mb.partner_images = batch.at("partner_images").to(DType::f32);
    mb.input_ids = batch.at("input_ids").to(DType::i32);
    mb.attention_mask = batch.at("attention_mask").to(DType::i32);
    mb.sep_token_id = int32_t(batch.at("sep_token_id").to(DType::f32).item());
    mb.pad_token_id = int32_t(batch.at("pad_token_id").to(DType::f32).item());
    MamaLosses l = model.forward(mb, step);
    backward(l.total);
    std::vector<std::pair<std::string, Tensor>> out;
    auto add_loss = [&](const char* name, const Tensor& v) {
        out.emplace_back(name, v.defined() ? raw_reshape(v.detach(), {}) : zeros({}));
    };
    add_loss("loss.total", l.total);
    add_loss("loss.clip", l.clip);
    add_loss("loss.mv", l.mv);
    add_loss("loss.partner_clip", l.partner_clip);
    add_loss("loss.sla", l.sla);
    out.emplace_back("emb.image", l.image_emb.detach());
    out.emplace_back("emb.text", l.text_emb.detach());
    for (auto& [name, p] : model.named_parameters())
        if (p->requires_grad())
            out.emplace_back("grad." + name, p->grad().defined() ? p->grad() : zeros(p->shape()));
    nn::save_safetensors(dump, out, {{"step", std::to_string(step)}});
    std::cerr << "== reference check: loss " << l.total.item() << " written to " << dump << "\n";
    return 0;
}

}  // namespace mama
