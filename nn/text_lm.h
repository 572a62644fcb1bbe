// text_lm.h: a byte-level GPT-2 language model trained on a text file, the
// engine's end-to-end demonstration (build/train_gpt uses it; the tests too).
//
// Every byte is a token (vocabulary 256).  Training samples random windows of
// context + 1 bytes, minimises the mean next-byte cross-entropy with AdamW
// (weight decay on matrices only, gradient clipping at 1) under the cosine
// schedule with linear warmup.  The yardstick is the unigram entropy of the
// text, H = -Σ p(b) ln p(b) in nats: the loss of the best model that ignores
// context.  A loss well below H means the model uses the context.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/checkpoint.h"
#include "nn/gpt2.h"
#include "nn/optim.h"
#include "nn/schedule.h"

namespace eng::nn {

struct ByteCorpus {
    std::vector<int32_t> bytes;
    static ByteCorpus from_string(const std::string& text);
    static ByteCorpus from_file(const std::string& path);  // errors name the file
    double unigram_entropy() const;                        // nats
};

struct TextLMConfig {
    int64_t context = 64, width = 64, layers = 2, heads = 4, batch = 16, steps = 600;
    double lr = 3e-3;          // peak; the cosine decays to lr / 10
    int64_t warmup = -1;       // -1: min(100, steps / 10)
    float weight_decay = 0.1f;
    float clip = 1.0f;         // global gradient-norm bound (0: off)
    bool gelu_new = true;      // false: exact erf GELU
    uint64_t seed = 1;
    std::string json() const;  // the run's config, stored in checkpoints
};

class TextLMTrainer {
public:
    TextLMTrainer(const TextLMConfig& config, const ByteCorpus& corpus);

    // One optimiser step; returns the batch loss (nats).  A non-finite loss or
    // gradient norm throws before the weights change.
    float train_step();
    // Mean loss over `batches` random batches drawn from a generator seeded with
    // `seed` (no gradients; the training stream is not disturbed).
    float evaluate(int64_t batches, uint64_t seed);
    // Continues `prompt` by `n` bytes (temperature > 0; top_k <= 0: no cut-off).
    std::string sample(const std::string& prompt, int64_t n, float temperature, int64_t top_k, uint64_t seed);

    void save(const std::string& path);
    // Refuses a checkpoint of another model (context, width, layers, heads,
    // GELU) or another text, naming the field; then restores everything.
    void load(const std::string& path);

    int64_t step() const { return step_; }
    double lr_at(int64_t step) const { return schedule_.lr_at(step); }
    GPT2Model& model() { return *model_; }

private:
    Tensor loss_on(const Tensor& ids, const Tensor& targets);
    std::string checkpoint_config() const;
    void check_resumable(const std::string& path) const;
    void draw_batch(Generator& g, Tensor* ids, Tensor* targets) const;
    TextLMConfig config_;
    ByteCorpus corpus_;
    Generator init_gen_, data_gen_;
    std::unique_ptr<GPT2Model> model_;
    std::unique_ptr<AdamW> opt_;
    Schedule schedule_;
    int64_t step_ = 0;
};

// A sampling temperature as the float sample() takes, refusing values that are
// not positive and finite as floats (1e-50 rounds to 0, 1e39 to inf).
float sampling_temperature(double t);

// Sampled bytes made safe to print: newlines, tabs and whole UTF-8 characters
// are kept; other control bytes, C1 control characters (U+0080 to U+009F) and
// bytes that are not part of a valid UTF-8 character (a byte model can emit
// any) are written as \xNN, so the terminal never receives stray controls or
// invalid text.
std::string printable_bytes(const std::string& s);

}  // namespace eng::nn
