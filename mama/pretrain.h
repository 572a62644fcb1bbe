// pretrain.h: the MaMA pretraining run (build/pretrain) and its reference-check mode.
#pragma once
#include <string>

#include "mama/bpe.h"
#include "mama/config.h"
#include "mama/embed.h"
#include "nn/comm.h"

namespace mama {

struct PretrainOptions {
    bool resume = false;  // continue from OUT/last.safetensors (bit-exact on the CPU)
    bool quiet = false;   // no progress bar (the JSONL log is still written)
    // Resume even when settings that change the computation differ from the
    // checkpoint's (mama/pretrain_resume.h lists which may differ anyway).
    bool allow_config_change = false;
    // Pause after this step (1-based count of updates; 0 = run to the end):
    // save OUT/last.safetensors and return 0, for runs done in chunks (a job
    // time limit); --resume continues exactly, with the same settings.
    int64_t stop_at = 0;
    // The ranks to train with; null = nn::make_communicator() (MPI under mpirun,
    // else one process).  Tests pass a SingleProcess to run alone under mpirun.
    std::shared_ptr<eng::nn::Communicator> comm;
};

// Runs (or resumes) the training described by `config`; returns the process exit code.
int run_pretrain(const RunConfig& config, const PretrainOptions& options);

// The tokenizer of a run: the BioMedLM/GPT-2 files named in the config, or
// (when reuse_saved) the one saved in OUT/tokenizer/, or a BPE trained on the
// training captions (then saved there).  The MaMA special tokens are added.
BpeTokenizer make_run_tokenizer(const TrainConfig& train, const EmbedData& data, bool reuse_saved = true);

// Reference-check mode: loads every parameter and buffer of the model from
// `init` (saved names), runs one forward and backward on the batch file with all
// dropout off and BatchNorm in training mode, and writes `dump` with loss.*,
// emb.image, emb.text and grad.<name> for every trainable parameter.
int run_reference_check(const RunConfig& config, const std::string& init, const std::string& batch_file,
                        const std::string& dump);

}  // namespace mama
