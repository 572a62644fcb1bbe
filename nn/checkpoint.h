// checkpoint.h: training checkpoints: everything needed to resume a run
// bit-exactly, in ONE safetensors file.
//
// Layout of the file:
//   tensors   "model.<name>"  every parameter and buffer (Module::state_dict)
//             "optim.<key>"   the optimiser's state_dict() (moments, step counts)
//   __metadata__ (strings)
//             "format"            "eng-checkpoint-1"
//             "step"              the training step, decimal
//             "optim.type"        "AdamW", "SGD" or "Optimizer" (absent: no optimiser saved)
//             "rng.<name>.seed"   each generator's state, decimal u64 (exact:
//             "rng.<name>.offset"   no float or JSON number rounding)
//             "extra.<key>"       caller's values (data-loader position, epoch, ...)
//             "config"            the run's config as JSON text (validated on save)
//             "checksums"         JSON object: each tensor's checksum64 (nn/checksum.h)
//                                 of its stored bytes, as 16 hex digits; loading
//                                 refuses a tensor that does not match (a file
//                                 damaged after it was written)
// The write goes through save_safetensors: a temporary file in the same folder,
// fsync, rename.  An error or a crash mid-write leaves the previous checkpoint
// at `path` untouched.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "tensor/random.h"

namespace eng::nn {

struct TrainingState {
    int64_t step = 0;
    std::map<std::string, std::string> extra;  // opaque to the checkpoint (e.g. {"cursor", "1234"})
};

// Generators to save/restore, by a name of the caller's choosing ("default",
// "data", ...).  Pass &default_generator() to include the process-wide one
// (dropout uses it when given no generator).
using NamedGenerators = std::vector<std::pair<std::string, Generator*>>;

// Writes the checkpoint.  `opt` may be null (then no optimiser state is
// stored); `config_json` may be empty, otherwise it must be valid JSON.
void save_checkpoint(const std::string& path, Module& model, const Optimizer* opt, const TrainingState& state,
                     const NamedGenerators& rngs = {}, const std::string& config_json = "");

// Restores the model (strict: every parameter and buffer must be in the file,
// with its shape, and nothing else), the optimiser (when `opt` is not null; the
// file must hold state of the same optimiser type), every generator in `rngs`
// (each must be in the file) and returns the step and extra values.  The config
// JSON is stored in *config_json when given.  The format, step, generators,
// optimiser type and the model's keys and shapes are all checked before
// anything is modified (a bad optimiser tensor is found after the model has
// been loaded).  Errors name the file and what is missing or wrong.
TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer* opt,
                              const NamedGenerators& rngs = {}, std::string* config_json = nullptr);

// Compares every tensor of a checkpoint file with the checksum recorded when it
// was written, throwing for the first that differs (load_checkpoint does this
// before anything else).  Files without a "checksums" entry (written before
// there were any, or not checkpoints) pass unchecked.
void verify_checksums(const SafeTensorsFile& file);

}  // namespace eng::nn
