// config.cpp: parsing run configs (see config.h).
#include "mama/config.h"

#include <set>

#include "tensor/cuda_backend.h"
#include "tensor/precision.h"

namespace mama {

using eng::json::Value;

namespace {

// Reads the keys of one object into typed fields, then rejects any key not read.
class Section {
public:
    Section(const Value* v, std::string name) : v_(v), name_(std::move(name)) {
        ENG_CHECK(!v_ || v_->is_object(), "config: section '", name_, "' must be an object");
    }
    const Value* get(const std::string& key) {
        seen_.insert(key);
        return v_ ? v_->find(key) : nullptr;
    }
    void read(const std::string& key, int64_t& out) {
        if (auto* x = get(key)) out = x->as_int();
    }
    void read(const std::string& key, uint64_t& out) {
        if (auto* x = get(key)) out = uint64_t(x->as_int());
    }
    void read(const std::string& key, double& out) {
        if (auto* x = get(key)) out = x->as_number();
    }
    void read(const std::string& key, float& out) {
        if (auto* x = get(key)) out = float(x->as_number());
    }
    void read(const std::string& key, bool& out) {
        if (auto* x = get(key)) out = x->as_bool();
    }
    void read(const std::string& key, std::string& out) {
        if (auto* x = get(key)) out = x->as_string();
    }
    void finish() {
        if (!v_) return;
        for (auto& [k, val] : v_->as_object())
            ENG_CHECK(seen_.count(k), "config: unknown key '", name_, ".", k, "'. HINT: check the spelling against mama/configs/paper.json");
    }

private:
    const Value* v_;
    std::string name_;
    std::set<std::string> seen_;
};

eng::nn::ViTConfig read_vit(const Value* v) {
    Section s(v, "model.vit");
    std::string preset = "vit_b14_reg4";
    s.read("preset", preset);
    eng::nn::ViTConfig c = eng::nn::ViTConfig::preset(preset);
    s.read("image_size", c.image_size);
    s.read("patch", c.patch);
    s.read("width", c.width);
    s.read("depth", c.depth);
    s.read("heads", c.heads);
    s.read("mlp_ratio", c.mlp_ratio);
    s.read("registers", c.registers);
    s.read("layerscale_init", c.layerscale_init);
    s.read("checkpoint_every", c.checkpoint_every);
    s.finish();
    return c;
}

eng::nn::GPT2Config read_text(const Value* v) {
    Section s(v, "model.text");
    std::string preset = "biomedlm";
    s.read("preset", preset);
    eng::nn::GPT2Config c = eng::nn::GPT2Config::preset(preset);
    s.read("vocab", c.vocab);
    s.read("positions", c.positions);
    s.read("width", c.width);
    s.read("layers", c.layers);
    s.read("heads", c.heads);
    s.read("inner", c.inner);
    s.read("gelu_new", c.gelu_new);
    s.read("embd_pdrop", c.embd_pdrop);
    s.read("attn_pdrop", c.attn_pdrop);
    s.read("resid_pdrop", c.resid_pdrop);
    s.read("scale_attn_by_inverse_layer_idx", c.scale_attn_by_inverse_layer_idx);
    s.read("checkpoint_every", c.checkpoint_every);
    s.finish();
    return c;
}

}  // namespace

RunConfig run_config_from_json(const Value& json) {
    ENG_CHECK(json.is_object(), "config: the top level must be an object with 'model' and 'train'");
    RunConfig rc;
    rc.json = json;
    Section top(&json, "");
    Section m(top.get("model"), "model");
    rc.model.vit = read_vit(m.get("vit"));
    rc.model.text = read_text(m.get("text"));
    m.read("embed_dim", rc.model.embed_dim);
    m.read("local_hidden", rc.model.local_hidden);
    m.read("mv_hidden", rc.model.mv_hidden);
    m.read("lora_r", rc.model.lora_r);
    m.read("lora_alpha", rc.model.lora_alpha);
    m.read("lora_dropout", rc.model.lora_dropout);
    m.read("lora_target", rc.model.lora_target);
    m.read("late_start", rc.model.schedule.late_start_step);
    m.read("mv_weight", rc.model.schedule.mv_weight);
    m.read("nt_xent_temperature", rc.model.nt_xent_temperature);
    m.read("symmetric_local", rc.model.symmetric_local);
    m.read("image_pool_mean", rc.model.image_pool_mean);
    m.read("text_pool_mean", rc.model.text_pool_mean);
    m.read("grayscale_input", rc.model.grayscale_input);
    m.read("special_token_seed", rc.model.special_token_seed);
    m.finish();
    Section t(top.get("train"), "train");
    TrainConfig& c = rc.train;
    t.read("data_dir", c.data_dir);
    t.read("image_suffix", c.image_suffix);
    t.read("image_size", c.image_size);
    t.read("max_len", c.max_len);
    t.read("workers", c.workers);
    t.read("tokenizer_vocab", c.tokenizer_vocab);
    t.read("tokenizer_merges", c.tokenizer_merges);
    t.read("tokenizer_json", c.tokenizer_json);
    t.read("tokenizer_train_vocab", c.tokenizer_train_vocab);
    t.read("micro_batch", c.micro_batch);
    t.read("accumulate", c.accumulate);
    t.read("steps", c.steps);
    t.read("lr", c.lr);
    t.read("min_lr", c.min_lr);
    t.read("weight_decay", c.weight_decay);
    t.read("warmup", c.warmup);
    t.read("schedule", c.schedule);
    t.read("clip_grad", c.clip_grad);
    t.read("seed", c.seed);
    t.read("gather_negatives", c.gather_negatives);
    t.read("overlap_gradients", c.overlap_gradients);
    t.read("init_dinov2", c.init_dinov2);
    t.read("init_text", c.init_text);
    t.read("out_dir", c.out_dir);
    t.read("log_every", c.log_every);
    t.read("val_every", c.val_every);
    t.read("val_batches", c.val_batches);
    t.read("checkpoint_every", c.checkpoint_every);
    t.read("best_metric", c.best_metric);
    t.read("device", c.device);
    t.read("precision", c.precision);
    t.finish();
    for (const char* k : {"comment", "description"}) top.get(k);
    top.finish();
    ENG_CHECK(c.micro_batch >= 2, "config: train.micro_batch must be at least 2 (contrastive losses), got ", c.micro_batch);
    ENG_CHECK(c.accumulate >= 1 && c.steps >= 1, "config: train.accumulate and train.steps must be positive");
    ENG_CHECK(c.device == "cpu" || c.device == "cuda", "config: train.device must be \"cpu\" or \"cuda\", got \"",
              c.device, "\"");
    eng::check_matmul_precision_name(c.precision);  // an error naming the choices
    ENG_CHECK(!(c.device == "cpu" && c.precision == "tf32"),
              "config: train.precision tf32 exists only on the GPU. HINT: on the CPU use fp32, bf16 or auto");
    ENG_CHECK(c.image_size % rc.model.vit.patch == 0, "config: train.image_size ", c.image_size,
              " is not a multiple of the patch size ", rc.model.vit.patch);
    return rc;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::pair<std::string, std::string>>& overrides) {
    Value json = eng::json::parse_file(path);
    ENG_CHECK(json.is_object(), "config ", path, ": the top level must be an object");
    for (auto& [key, text] : overrides) {
        // "train.steps" -> json["train"]["steps"]; sections are created as needed.
        size_t dot = key.find('.');
        ENG_CHECK(dot != std::string::npos, "config override '", key, "' must be section.key (e.g. train.steps)");
        Value parsed;
        try {
            parsed = eng::json::parse(text, "--" + key);
        } catch (const eng::Error&) {
            parsed = Value(text);  // a bare string
        }
        // Walk/create the nested objects along the dotted path.
        std::vector<std::string> parts;
        for (size_t start = 0;;) {
            size_t d = key.find('.', start);
            parts.push_back(key.substr(start, d == std::string::npos ? std::string::npos : d - start));
            if (d == std::string::npos) break;
            start = d + 1;
        }
        // Rebuild the path bottom-up, copying the existing objects.
        std::vector<Value> chain{json};
        for (size_t i = 0; i + 1 < parts.size(); ++i) {
            const Value* next = chain.back().find(parts[i]);
            chain.push_back(next ? *next : Value::object());
        }
        Value v = parsed;
        for (size_t i = parts.size(); i-- > 0;) {
            Value parent = chain[i];
            parent.set(parts[i], v);
            v = parent;
        }
        json = v;
    }
    try {
        return run_config_from_json(json);
    } catch (const eng::Error& e) {
        ENG_FAIL("config ", path, ": ", e.what());
    }
}

}  // namespace mama
