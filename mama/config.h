// config.h: a run's configuration: JSON files in mama/configs/, overridable
// from the command line with dotted keys (--train.steps 100).
//
// A config has two sections: "model" (the MaMA model: the ViT and GPT-2
// presets with per-key overrides, heads, LoRA, losses) and "train" (data,
// batches, optimisation, logging).  Every key is checked: an unknown key is an
// error naming it, so a typo never silently falls back to a default.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "mama/model.h"
#include "nn/json.h"

namespace mama {

struct TrainConfig {
    // data
    std::string data_dir = "data/synth";
    std::string image_suffix = ".png";  // "_resized.jpg" for images prepared like the reference's
    int64_t image_size = 518;
    int64_t max_len = 144;
    int64_t workers = 0;                 // 0 = one per core
    std::string tokenizer_vocab, tokenizer_merges, tokenizer_json;  // BioMedLM files, when available
    int64_t tokenizer_train_vocab = 4096;  // else: a BPE trained on the training captions
    // optimisation (per optimiser step).  micro_batch is per rank: one optimiser
    // step sees micro_batch x accumulate x ranks images (the global batch; the
    // lr applies to it).  Keep that product fixed when changing the ranks.
    int64_t micro_batch = 36;
    int64_t accumulate = 8;
    int64_t steps = 40000;
    double lr = 4e-5, min_lr = 1e-8, weight_decay = 0.1;
    int64_t warmup = 4000;
    std::string schedule = "cosine";
    double clip_grad = 0.0;  // 0 = off (the reference does not clip)
    uint64_t seed = 42;
    // data parallel (mpirun): false = each rank's contrastive losses use only its
    // own micro-batch as negatives (the reference, as published); true = the
    // global embeddings of all ranks are gathered (the full-batch loss).
    bool gather_negatives = false;
    // data parallel: gather only the multi-view head outputs, so NT-Xent covers
    // the global micro-batch while CLIP, partner CLIP and SLA stay per rank (the
    // original multi-GPU run, whose lightly NT-Xent gathered; implied by
    // gather_negatives).
    bool gather_mv_negatives = false;
    // Whether the contrastive negatives depend on the number of ranks.
    bool negatives_follow_ranks() const { return gather_negatives || gather_mv_negatives; }
    // data parallel: average the gradients in buckets that start during the
    // last micro-batch's backward pass (nn/grad_overlap.h), or all after it.
    bool overlap_gradients = true;
    // initialisation
    std::string init_dinov2, init_text;
    // logging, validation, checkpoints
    std::string out_dir = "runs/mama";
    int64_t log_every = 1;
    int64_t val_every = 0;       // optimiser steps between validations; 0 = at the end only
    int64_t val_batches = 4;     // micro-batches of the valid split per validation
    int64_t checkpoint_every = 0;  // 0 = at validations and at the end
    std::string best_metric = "val_loss";  // or another of best_metric_names()
    // where to train: "cpu" or "cuda" (the first GPU; under mpirun, the rank's GPU)
    std::string device = "cpu";
    // Precision (tensor/precision.h): "auto" (default: bf16 on the GPU, fp32
    // on the CPU), "bf16" (bf16 products, f32 master weights and activations;
    // on the CPU it needs AVX512-BF16), "tf32" (GPU only), "fp32", or
    // "bf16-true" (the reference's pure bf16: every stored value rounded to bf16).
    std::string precision = "auto";
};

struct RunConfig {
    MamaConfig model;
    TrainConfig train;
    eng::json::Value json;  // the effective config (file + overrides), saved with checkpoints
};

// Reads a config file and applies "section.key=value" overrides (values are
// parsed as JSON when they parse, else taken as strings).
RunConfig load_run_config(const std::string& path, const std::vector<std::pair<std::string, std::string>>& overrides = {});
// The same from a JSON value (used for configs stored in checkpoints).  Both
// check every value's range (a zero patch or head count, a negative seed or lr,
// min_lr above lr, ...), so a bad value fails here rather than steps into a run.
RunConfig run_config_from_json(const eng::json::Value& json);

// The names train.best_metric accepts: the validation numbers pretraining
// records (the one list; metric_of in mama/pretrain_validate.h maps each name
// to its value).
const std::vector<std::string>& best_metric_names();
// Throws eng::Error naming the choices unless `name` is one of them.
void check_best_metric(const std::string& name);

}  // namespace mama
