// config.cpp: parsing run configs (see config.h).
#include "mama/config.h"

#include <algorithm>
#include <cmath>
#include <ios>
#include <set>

#include "nn/schedule.h"
#include "nn/utf8.h"
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
        typed(key, [&](const Value& x) { out = x.as_int(); });
    }
    void read(const std::string& key, uint64_t& out) {  // seeds: a negative one would wrap to 2^64 - n
        int64_t v = 0;
        if (!typed(key, [&](const Value& x) { v = x.as_int(); })) return;
        ENG_CHECK(v >= 0, "config: ", name_, ".", key, " must be 0 or more, got ", v, ". HINT: use a non-negative seed");
        out = uint64_t(v);
    }
    void read(const std::string& key, double& out) {
        typed(key, [&](const Value& x) { out = x.as_number(); });
    }
    void read(const std::string& key, float& out) {  // 1e39 fits a double, not a float: it would be inf
        typed(key, [&](const Value& x) {
            out = float(x.as_number());
            ENG_CHECK(std::isfinite(out), "config: ", name_, ".", key, " = ", x.as_number(),
                      " is beyond a float's range (about 3.4e38). HINT: mama/configs/paper.json shows working values");
        });
    }
    void read(const std::string& key, bool& out) {
        typed(key, [&](const Value& x) { out = x.as_bool(); });
    }
    void read(const std::string& key, std::string& out) {
        typed(key, [&](const Value& x) { out = x.as_string(); }, true);
    }
    void finish() {
        if (!v_) return;
        for (auto& [k, val] : v_->as_object())
            ENG_CHECK(seen_.count(k), "config: unknown key '", name_, ".", k, "'. HINT: check the spelling against mama/configs/paper.json");
    }

private:
    // The json error alone ("expected a number, got a string") does not say
    // which of the many keys was wrong, nor what it held: the message names
    // section.key and its value.  Returns whether the key is present.
    template <typename Convert>
    bool typed(const std::string& key, Convert convert, bool wants_text = false) {
        const Value* x = get(key);
        if (!x) return false;
        try {
            convert(*x);
        } catch (const eng::Error& e) {
            const std::string what = name_ + "." + key;
            const std::string value = x->is_string() ? "the text " + eng::json::dump(*x) : eng::json::dump(*x);
            std::string message = e.what();
            message = message.substr(0, message.find("  ["));  // the json error without its source location
            if (wants_text && (x->is_number() || x->is_bool() || x->is_null()))  // e.g. --train.out_dir 2024
                ENG_FAIL("config: ", what, ": ", message, " (", value, "). HINT: a text that reads as a number, ",
                         "true, false or null must be quoted as JSON, e.g. --", what, " '\"", eng::json::dump(*x), "\"'");
            ENG_FAIL("config: ", what, ": ", message, " (", value,
                     "). HINT: give it a value of the type mama/configs/paper.json uses");
        }
        return true;
    }

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
    // MaMA's text tower is BioMedLM, pretrained; without its file (the small
    // configs) a random tower stands in, frozen (only LoRA trains), and its
    // features are all zero-shot has.  GPT-2's scaled residual init shrinks
    // the blocks' part of them by √(2·layers): the demo's zero-shot density
    // AUC fell from 77.6 to 60.4 with it (one run each), so it is off here.
    c.scaled_residual_init = false;
    s.read("scaled_residual_init", c.scaled_residual_init);
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

// ---- value checks ------------------------------------------------------------
// A value out of range would divide by zero (a patch or head count of 0), wrap
// around (a negative seed) or quietly do something other than asked, often only
// steps into a run.  Refuse it here, naming the key, before anything runs.

const char* const kValuesHint = ". HINT: mama/configs/paper.json shows working values";

void at_least(const char* key, int64_t v, int64_t lo) {
    ENG_CHECK(v >= lo, "config: ", key, " must be at least ", lo, ", got ", v, kValuesHint);
}
void non_negative(const char* key, double v) {
    ENG_CHECK(v >= 0.0, "config: ", key, " must be 0 or more, got ", v, kValuesHint);
}
void probability(const char* key, double v) {
    ENG_CHECK(v >= 0.0 && v <= 1.0, "config: ", key, " is a dropout probability in [0, 1], got ", v, kValuesHint);
}
void divides(const char* what, int64_t width, int64_t heads) {
    ENG_CHECK(width % heads == 0, "config: ", what, ".width ", width, " is not divisible by ", what, ".heads ",
              heads, ". HINT: pick heads that divide the width (head size = width / heads)");
}

void check_model(const MamaConfig& m) {
    const eng::nn::ViTConfig& v = m.vit;
    at_least("model.vit.image_size", v.image_size, 1);
    at_least("model.vit.patch", v.patch, 1);
    at_least("model.vit.width", v.width, 1);
    at_least("model.vit.depth", v.depth, 1);
    at_least("model.vit.heads", v.heads, 1);
    divides("model.vit", v.width, v.heads);
    at_least("model.vit.registers", v.registers, 0);
    ENG_CHECK(v.mlp_ratio > 0, "config: model.vit.mlp_ratio must be positive, got ", v.mlp_ratio, kValuesHint);
    non_negative("model.vit.layerscale_init", v.layerscale_init);  // 0 = off; below 0 would be off too, silently
    at_least("model.vit.checkpoint_every", v.checkpoint_every, 0);
    const eng::nn::GPT2Config& t = m.text;
    at_least("model.text.vocab", t.vocab, 1);
    at_least("model.text.positions", t.positions, 1);
    at_least("model.text.width", t.width, 1);
    at_least("model.text.layers", t.layers, 1);
    at_least("model.text.heads", t.heads, 1);
    divides("model.text", t.width, t.heads);
    at_least("model.text.inner", t.inner, 0);  // 0 = 4 x width
    probability("model.text.embd_pdrop", t.embd_pdrop);
    probability("model.text.attn_pdrop", t.attn_pdrop);
    probability("model.text.resid_pdrop", t.resid_pdrop);
    at_least("model.text.checkpoint_every", t.checkpoint_every, 0);
    at_least("model.embed_dim", m.embed_dim, 1);
    at_least("model.local_hidden", m.local_hidden, 1);
    at_least("model.mv_hidden", m.mv_hidden, 0);  // 0 = the ViT width
    at_least("model.lora_r", m.lora_r, 0);        // 0 = no LoRA
    probability("model.lora_dropout", m.lora_dropout);
    non_negative("model.lora_alpha", m.lora_alpha);  // the adapters' scale alpha / r
    non_negative("model.mv_weight", m.schedule.mv_weight);
    ENG_CHECK(m.nt_xent_temperature > 0, "config: model.nt_xent_temperature must be positive, got ",
              m.nt_xent_temperature, kValuesHint);
}

void check_train(const TrainConfig& c, const MamaConfig& m) {
    at_least("train.image_size", c.image_size, 1);
    ENG_CHECK(c.image_size % m.vit.patch == 0, "config: train.image_size ", c.image_size,
              " is not a multiple of the patch size ", m.vit.patch);
    at_least("train.max_len", c.max_len, 1);
    ENG_CHECK(c.max_len <= m.text.positions, "config: train.max_len ", c.max_len, " exceeds model.text.positions ",
              m.text.positions, ". HINT: raise model.text.positions or lower train.max_len");
    at_least("train.workers", c.workers, 0);  // 0 = one per core
    at_least("train.tokenizer_train_vocab", c.tokenizer_train_vocab, 1);
    ENG_CHECK(c.micro_batch >= 2, "config: train.micro_batch must be at least 2 (contrastive losses), got ", c.micro_batch);
    at_least("train.accumulate", c.accumulate, 1);
    at_least("train.steps", c.steps, 1);
    non_negative("train.lr", c.lr);
    non_negative("train.min_lr", c.min_lr);
    ENG_CHECK(c.min_lr <= c.lr || c.schedule == "constant", "config: train.min_lr ", c.min_lr, " is above train.lr ",
              c.lr, ". HINT: min_lr is the floor the schedule decays to; keep it at most lr");
    non_negative("train.weight_decay", c.weight_decay);
    at_least("train.warmup", c.warmup, 0);
    try {
        eng::nn::Schedule::parse_kind(c.schedule);
    } catch (const eng::Error& e) {
        ENG_FAIL("config: train.schedule: ", e.what());
    }
    non_negative("train.clip_grad", c.clip_grad);  // 0 = off
    at_least("train.log_every", c.log_every, 0);
    at_least("train.val_every", c.val_every, 0);  // 0 = at the end only
    at_least("train.val_batches", c.val_batches, 1);
    at_least("train.checkpoint_every", c.checkpoint_every, 0);
    check_best_metric(c.best_metric);
    ENG_CHECK(c.device == "cpu" || c.device == "cuda", "config: train.device must be \"cpu\" or \"cuda\", got \"",
              c.device, "\"");
    eng::check_matmul_precision_name(c.precision);  // an error naming the choices
    ENG_CHECK(!(c.device == "cpu" && c.precision == "tf32"),
              "config: train.precision tf32 exists only on the GPU. HINT: on the CPU use fp32, bf16 or auto");
}

}  // namespace

const std::vector<std::string>& best_metric_names() {
    static const std::vector<std::string> names = {"val_loss", "val_i2t_top1", "val_i2t_top5", "val_t2i_top1",
                                                   "val_t2i_top5"};
    return names;
}

void check_best_metric(const std::string& name) {
    const auto& names = best_metric_names();
    if (std::find(names.begin(), names.end(), name) != names.end()) return;
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    ENG_FAIL("config: train.best_metric '", name, "' is not one of ", list, ". HINT: val_loss is the reference's choice");
}

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
    t.read("gather_mv_negatives", c.gather_mv_negatives);
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
    check_model(rc.model);
    check_train(c, rc.model);
    return rc;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::pair<std::string, std::string>>& overrides) {
    Value json = eng::json::parse_file(path);
    ENG_CHECK(json.is_object(), "config ", path, ": the top level must be an object");
    for (auto& [key, text] : overrides) {
        // "train.steps" -> json["train"]["steps"]; sections are created as needed.
        size_t dot = key.find('.');
        ENG_CHECK(dot != std::string::npos, "config override '", key, "' must be section.key (e.g. train.steps)");
        // A config file's strings are UTF-8 (the JSON parser checks); an
        // override's are whatever the shell passed.  Stored in checkpoints as
        // JSON, a byte that is not UTF-8 could only be written escaped, and
        // would read back as another text (another path): refused here.
        for (size_t i = 0; i < text.size();) {
            const size_t len = eng::utf8_valid_length(text.data() + i, text.size() - i);
            ENG_CHECK(len > 0, "config override --", key, ": byte ", i, " (0x", std::hex, int(static_cast<unsigned char>(text[i])),
                      std::dec, ") of its value is not UTF-8 text. HINT: use UTF-8 names (a Latin-1 path: rename "
                      "it, or point to it through a UTF-8 symlink)");
            i += len;
        }
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
