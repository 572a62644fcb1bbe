// checkpoint.cpp: saving and restoring training checkpoints (layout in checkpoint.h).
//
// Integers (step, generator seeds and offsets) are stored as decimal strings in
// the metadata: a u64 seed does not fit a float and JSON readers often parse
// numbers as doubles (exact only to 2^53), while a decimal string round-trips
// every 64-bit value exactly.
#include "nn/checkpoint.h"

#include "nn/checksum.h"
#include "nn/json.h"
#include "nn/safetensors.h"

namespace eng::nn {

namespace {

const char* kFormat = "eng-checkpoint-1";

std::string optimizer_type(const Optimizer& opt) {
    if (dynamic_cast<const AdamW*>(&opt)) return "AdamW";
    if (dynamic_cast<const SGD*>(&opt)) return "SGD";
    return "Optimizer";
}

// Strict decimal parse (digits only, no sign, no overflow).
uint64_t parse_u64(const std::string& s, const std::string& what, const std::string& path) {
    ENG_CHECK(!s.empty() && s.size() <= 20, "load_checkpoint('", path, "'): ", what, " '", s,
              "' is not a decimal integer");
    uint64_t v = 0;
    for (char c : s) {
        ENG_CHECK(c >= '0' && c <= '9', "load_checkpoint('", path, "'): ", what, " '", s,
                  "' is not a decimal integer");
        uint64_t d = uint64_t(c - '0');
        ENG_CHECK(v <= (UINT64_MAX - d) / 10, "load_checkpoint('", path, "'): ", what, " '", s,
                  "' does not fit 64 bits");
        v = v * 10 + d;
    }
    return v;
}

const std::string& meta(const std::map<std::string, std::string>& m, const std::string& key, const std::string& path,
                        const std::string& hint) {
    auto it = m.find(key);
    ENG_CHECK(it != m.end(), "load_checkpoint('", path, "'): the metadata has no '", key, "'. ", hint);
    return it->second;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// The "checksums" metadata entry: a JSON object of each tensor's checksum64 of
// its bytes as stored (dtype and layout of the file), computed from the CPU
// copies that are about to be written.
std::string checksums_of(const std::vector<std::pair<std::string, Tensor>>& tensors) {
    std::vector<uint64_t> sums(tensors.size());
#pragma omp parallel for schedule(dynamic)
    for (size_t i = 0; i < tensors.size(); ++i) {
        const Tensor& t = tensors[i].second;
        sums[i] = checksum64(t.raw_data(), size_t(t.numel()) * dtype_size(t.dtype()));
    }
    json::Value o = json::Value::object();
    for (size_t i = 0; i < tensors.size(); ++i) o.set(tensors[i].first, checksum_hex(sums[i]));
    return json::dump(o);
}

}  // namespace

void save_checkpoint(const std::string& path, Module& model, const Optimizer* opt, const TrainingState& state,
                     const NamedGenerators& rngs, const std::string& config_json) {
    ENG_CHECK(state.step >= 0, "save_checkpoint('", path, "'): negative step ", state.step);
    // CPU packed copies (the tensors as they are, when already so), which the
    // checksums read and save_safetensors then writes without another copy.
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (auto& [name, t] : model.state_dict()) tensors.emplace_back("model." + name, t.to(Device::CPU).contiguous());
    std::map<std::string, std::string> md;
    md["format"] = kFormat;
    md["step"] = std::to_string(state.step);
    if (opt) {
        for (auto& [key, t] : opt->state_dict()) tensors.emplace_back("optim." + key, t.to(Device::CPU).contiguous());
        md["optim.type"] = optimizer_type(*opt);
    }
    md["checksums"] = checksums_of(tensors);
    for (const auto& [name, g] : rngs) {
        ENG_CHECK(g != nullptr && !name.empty(), "save_checkpoint('", path, "'): generator '", name,
                  "' is null or unnamed");
        ENG_CHECK(!md.count("rng." + name + ".seed"), "save_checkpoint('", path, "'): generator name '", name,
                  "' is used twice");
        GeneratorState s = g->state();
        md["rng." + name + ".seed"] = std::to_string(s.seed);
        md["rng." + name + ".offset"] = std::to_string(s.offset);
    }
    for (const auto& [key, value] : state.extra) md["extra." + key] = value;
    if (!config_json.empty()) {
        json::parse(config_json, "save_checkpoint('" + path + "'): config");  // throws with line and column
        md["config"] = config_json;
    }
    save_safetensors(path, tensors, md);
}

void verify_checksums(const SafeTensorsFile& file) {
    const std::string& path = file.path();
    const auto it = file.metadata().find("checksums");
    if (it == file.metadata().end()) return;
    const json::Value sums = json::parse(it->second, "load_checkpoint('" + path + "'): checksums");
    ENG_CHECK(sums.is_object(), "load_checkpoint('", path, "'): the checksums entry is not a JSON object");
    const std::vector<std::string> names = file.names();
    ENG_CHECK(sums.as_object().size() == names.size(), "load_checkpoint('", path, "'): the file records ",
              sums.as_object().size(), " checksums for ", names.size(),
              " tensors. HINT: the file was altered after it was written; use another checkpoint");
    std::vector<std::string> bad(names.size());
#pragma omp parallel for schedule(dynamic)
    for (size_t i = 0; i < names.size(); ++i) {
        const json::Value* want = sums.find(names[i]);
        const uint64_t got = checksum64(file.raw(names[i]), size_t(file.info(names[i]).nbytes));
        if (!want || !want->is_string() || want->as_string() != checksum_hex(got)) bad[i] = names[i];
    }
    for (const std::string& name : bad)
        ENG_CHECK(name.empty(), "load_checkpoint('", path, "'): tensor '", name,
                  "' does not match the checksum recorded when the file was written: the file is damaged (a disk "
                  "or copy error). HINT: use another checkpoint (last.safetensors or best.safetensors) or an "
                  "earlier copy of this one");
}

TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer* opt, const NamedGenerators& rngs,
                              std::string* config_json) {
    SafeTensorsFile file = SafeTensorsFile::open(path);
    const auto& md = file.metadata();
    const std::string not_ckpt = "HINT: is this a training checkpoint written by save_checkpoint (not a model file)?";
    const std::string& format = meta(md, "format", path, not_ckpt);
    ENG_CHECK(format == kFormat, "load_checkpoint('", path, "'): unknown format '", format, "' (expected '", kFormat,
              "')");

    // ---- validate everything before touching the model ----
    verify_checksums(file);
    TrainingState state;
    const uint64_t step = parse_u64(meta(md, "step", path, not_ckpt), "step", path);
    ENG_CHECK(step <= uint64_t(INT64_MAX), "load_checkpoint('", path, "'): step ", step, " is out of range");
    state.step = int64_t(step);
    std::vector<GeneratorState> rng_states;
    for (const auto& [name, g] : rngs) {
        ENG_CHECK(g != nullptr, "load_checkpoint('", path, "'): generator '", name, "' is null");
        std::string hint = "HINT: the file holds no generator named '" + name + "'; was it saved with it?";
        GeneratorState s;
        s.seed = parse_u64(meta(md, "rng." + name + ".seed", path, hint), "rng." + name + ".seed", path);
        s.offset = parse_u64(meta(md, "rng." + name + ".offset", path, hint), "rng." + name + ".offset", path);
        rng_states.push_back(s);
    }
    std::map<std::string, Tensor> model_state, optim_state;
    for (const std::string& name : file.names()) {
        if (starts_with(name, "model.")) model_state[name.substr(6)] = file.load(name);
        else if (starts_with(name, "optim.")) optim_state[name.substr(6)] = file.load(name);
        else ENG_FAIL("load_checkpoint('", path, "'): unexpected tensor '", name, "' (neither model.* nor optim.*)");
    }
    if (opt) {
        auto it = md.find("optim.type");
        ENG_CHECK(it != md.end(), "load_checkpoint('", path,
                  "'): the file has no optimizer state. HINT: it was saved without an optimizer; pass nullptr "
                  "to load the model alone");
        ENG_CHECK(it->second == optimizer_type(*opt), "load_checkpoint('", path, "'): the file holds ", it->second,
                  " state but the optimizer is ", optimizer_type(*opt));
    }
    {
        // Module::load_state_dict checks (strict) before copying anything.
        std::map<std::string, Tensor*> mine;
        for (auto& [name, t] : model.named_parameters()) mine[name] = t;
        for (auto& [name, t] : model.named_buffers()) mine[name] = t;
        for (auto& [name, t] : mine)
            ENG_CHECK(model_state.count(name), "load_checkpoint('", path, "'): tensor 'model.", name,
                      "' is missing. HINT: the model config (sizes, layers, LoRA) differs from the saved run's");
        try {
            model.load_state_dict(model_state, true);
        } catch (const Error& e) {
            ENG_FAIL("load_checkpoint('", path, "'): ", e.what());
        }
    }
    if (opt) {
        try {
            opt->load_state_dict(optim_state);
        } catch (const Error& e) {
            ENG_FAIL("load_checkpoint('", path, "'): optimizer state: ", e.what());
        }
    }
    for (size_t i = 0; i < rngs.size(); ++i) rngs[i].second->set_state(rng_states[i]);
    for (const auto& [key, value] : md)
        if (starts_with(key, "extra.")) state.extra[key.substr(6)] = value;
    if (config_json) {
        auto it = md.find("config");
        *config_json = it == md.end() ? std::string() : it->second;
    }
    return state;
}

}  // namespace eng::nn
