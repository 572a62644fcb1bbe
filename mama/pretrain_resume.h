// pretrain_resume.h: what a resumed pretraining run checks against the
// checkpoint it continues (mama/pretrain.cpp): the settings, the tokenizer and
// the log.  Each check is read from the checkpoint's metadata alone, before
// the data, the tokenizer or the model are built.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "nn/json.h"

namespace mama {

// The checkpoint's metadata ("config", "extra.*", ...), with a clear error
// when the file is missing or is no checkpoint.
std::map<std::string, std::string> resume_metadata(const std::string& last_path);

// One setting that differs between the saved run and this one ("train.lr").
struct ConfigChange {
    std::string key, saved, now;  // values as compact JSON; "(not set)" when absent
    bool allowed;                 // where the data is, how often to log, ... (see resume_config_changes)
};

// The settings that differ between the checkpoint's config and `now`
// (flattened to "section.key").  Allowed changes are those that do not alter
// what is computed: file locations, workers, the logging, validation and
// checkpoint cadence, activation checkpointing, comments; two that change
// the rounding deliberately and are reported: train.device and
// train.precision; train.steps only with a constant schedule (else it is the
// length of the learning-rate curve, and the remaining steps would follow
// another one: extending a run is a change to allow on purpose); and, when
// `ranks_free` (the global batch micro_batch × accumulate × ranks is the saved
// one, and no negatives are gathered across the ranks, which would change
// with their number), train.accumulate, which is how the number of ranks
// changes.
std::vector<ConfigChange> resume_config_changes(const std::string& saved_config, const eng::json::Value& now,
                                                bool ranks_free);

// Throws, listing every change not allowed (unless allow_all), and prints the
// changes on stderr when `verbose`.  A checkpoint without a config passes.
// global_batch: this run's micro_batch × accumulate × ranks, compared with the
// checkpoint's extra.global_batch (absent in older checkpoints: then kept);
// negatives_follow_ranks: negatives are gathered across the ranks
// (TrainConfig::negatives_follow_ranks).
void check_resume_config(const std::map<std::string, std::string>& metadata, const eng::json::Value& now,
                         int64_t global_batch, bool negatives_follow_ranks, bool allow_all, bool verbose);

// Throws when the checkpoint recorded a tokenizer fingerprint other than
// `fingerprint` (the run's tokenizer files were replaced or truncated).
void check_resume_tokenizer(const std::map<std::string, std::string>& metadata, const std::string& fingerprint,
                            const std::string& tokenizer_dir);

// Cuts the log back to the length it had when the checkpoint was written
// (extra.log_bytes), so the steps run again after the resume are not logged
// twice.  A shorter log (edited, or a checkpoint without the key) is left alone.
void truncate_log_for_resume(const std::map<std::string, std::string>& metadata, const std::string& log_path);

}  // namespace mama
