// pretrain_resume.cpp: the settings diff, tokenizer check and log cut of a
// resumed run (pretrain_resume.h).
#include "mama/pretrain_resume.h"

#include <cctype>
#include <filesystem>
#include <iostream>
#include <set>

#include "nn/safetensors.h"
#include "tensor/check.h"

namespace mama {

namespace fs = std::filesystem;
using eng::json::Value;

namespace {

// "section.key" → compact JSON of every leaf of a config object.
void flatten(const Value& v, const std::string& prefix, std::map<std::string, std::string>& out) {
    if (v.is_object()) {
        for (const auto& [k, x] : v.as_object()) flatten(x, prefix.empty() ? k : prefix + "." + k, out);
        return;
    }
    out[prefix] = eng::json::dump(v);
}

// Settings that may differ on resume: where things are, how the run reports,
// and the deliberate changes of device and precision (see the header).
bool change_allowed(const std::string& key) {
    // (The init files are not read on resume, the tokenizer's fingerprint is
    // checked; the activation checkpointing of the towers trades memory for
    // time only.)
    static const std::set<std::string> allowed = {
        "comment",           "description",         "train.out_dir",         "train.data_dir",
        "train.workers",     "train.log_every",     "train.val_every",       "train.val_batches",
        "train.checkpoint_every", "train.device",   "train.precision",
        "train.init_dinov2", "train.init_text",     "train.tokenizer_vocab", "train.tokenizer_merges",
        "train.tokenizer_json", "train.overlap_gradients", "model.vit.checkpoint_every",
        "model.text.checkpoint_every"};
    return allowed.count(key) > 0;
}

}  // namespace

std::map<std::string, std::string> resume_metadata(const std::string& last_path) {
    ENG_CHECK(fs::exists(last_path), "--resume: no checkpoint at ", last_path,
              ". HINT: start without --resume, or point train.out_dir at the run to continue");
    return eng::nn::SafeTensorsFile::open(last_path).metadata();
}

std::vector<ConfigChange> resume_config_changes(const std::string& saved_config, const Value& now,
                                                bool ranks_free) {
    std::map<std::string, std::string> before, after;
    flatten(eng::json::parse(saved_config, "the checkpoint's config"), "", before);
    flatten(now, "", after);
    std::set<std::string> keys;
    for (const auto& kv : before) keys.insert(kv.first);
    for (const auto& kv : after) keys.insert(kv.first);
    // The number of steps is the length of a cosine or linear schedule: another
    // one bends the learning rate of every remaining step.
    auto schedule = after.find("train.schedule");
    const bool steps_free = schedule != after.end() && schedule->second == "\"constant\"";
    std::vector<ConfigChange> changes;
    for (const std::string& k : keys) {
        auto b = before.find(k), a = after.find(k);
        const std::string saved = b == before.end() ? "(not set)" : b->second;
        const std::string current = a == after.end() ? "(not set)" : a->second;
        // accumulate may follow the number of ranks (the global batch kept);
        // micro_batch may not: it sets each rank's negatives and BatchNorm batch.
        if (saved != current)
            changes.push_back({k, saved, current,
                               change_allowed(k) || (k == "train.accumulate" && ranks_free) ||
                                   (k == "train.steps" && steps_free)});
    }
    return changes;
}

void check_resume_config(const std::map<std::string, std::string>& metadata, const Value& now, int64_t global_batch,
                         bool negatives_follow_ranks, bool allow_all, bool verbose) {
    auto it = metadata.find("config");
    if (it == metadata.end()) return;
    auto saved_batch = metadata.find("extra.global_batch");
    const bool batch_kept = saved_batch == metadata.end() || saved_batch->second == std::to_string(global_batch);
    const std::vector<ConfigChange> changes =
        resume_config_changes(it->second, now, batch_kept && !negatives_follow_ranks);
    std::string refused;
    for (const ConfigChange& c : changes)
        if (!c.allowed)
            refused += "\n  " + c.key + ": " + c.saved + " in the checkpoint, " + c.now + " now" +
                       (c.key == "train.steps" ? " (the length of the learning-rate schedule)"
                        : c.key == "train.accumulate" && batch_kept
                            ? " (another number of ranks, and the gathered negatives would follow it)"
                            : "");
    if (!batch_kept)
        refused += "\n  (the global batch micro_batch x accumulate x ranks is " + std::to_string(global_batch) +
                   ", the checkpoint's " + saved_batch->second + ")";
    ENG_CHECK(refused.empty() || allow_all, "--resume: these settings differ from the run being continued:", refused,
              "\nHINT: resume with the run's settings (build/inspect shows the checkpoint's config), or pass "
              "--allow-config-change to continue with the new ones on purpose");
    if (!verbose) return;
    for (const ConfigChange& c : changes)
        std::cerr << "== resume: " << c.key << " " << c.saved << " -> " << c.now
                  << (c.allowed ? "" : " (allowed by --allow-config-change)") << "\n";
}

void check_resume_tokenizer(const std::map<std::string, std::string>& metadata, const std::string& fingerprint,
                            const std::string& tokenizer_dir) {
    auto it = metadata.find("extra.tokenizer");
    if (it == metadata.end()) return;  // a checkpoint from before fingerprints
    ENG_CHECK(it->second == fingerprint, "--resume: the tokenizer differs from the one the checkpoint was trained "
              "with (fingerprint ", fingerprint, ", saved ", it->second, "): the run would continue on other token "
              "ids. HINT: restore the run's tokenizer files (", tokenizer_dir,
              " or the train.tokenizer_* files), or start a new run in another train.out_dir");
}

void truncate_log_for_resume(const std::map<std::string, std::string>& metadata, const std::string& log_path) {
    auto it = metadata.find("extra.log_bytes");
    if (it == metadata.end() || !fs::exists(log_path)) return;
    uintmax_t bytes = 0;
    size_t used = 0;
    try {
        if (!it->second.empty() && std::isdigit(static_cast<unsigned char>(it->second[0])))
            bytes = std::stoull(it->second, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    // The whole text, digits only ("12abc" read as 12 would cut the log there).
    ENG_CHECK(used > 0 && used == it->second.size(), "--resume: the checkpoint's extra.log_bytes '", it->second,
              "' is not a byte count");
    if (fs::file_size(log_path) > bytes) fs::resize_file(log_path, bytes);
}

}  // namespace mama
