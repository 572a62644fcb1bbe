// evaluate.h: evaluating a pretrained MaMA run (build/evaluate) and writing
// embeddings (build/embed): shared/mama-reference.md §8.2, §8.3, §9.
//
// Three protocols on three tasks (EMBED BI-RADS 7 classes, EMBED density 4,
// RSNA cancer 2):
//  * zeroshot: each test image gets its own K class prompts (captions.h, §2.6),
//    encoded with the first-pad-position pooling (§5.5); logits
//    s_c = exp(logit_scale)·<v, u_c>; probabilities softmax(softmax(s)) as the
//    reference computes them (§9.1, quirk 4), or a single softmax.
//  * linear: the image tower frozen, a new Linear(Dv -> C) on the mean pre-norm
//    feature, SGD (momentum 0.9, coupled L2) with the cosine-warmup schedule,
//    class-balanced sampling with replacement, the train transform (§8.2);
//    the test uses the final weights (quirk 22) and a single softmax (§9.2).
//  * finetune: the same with the whole ViT trained except its final LayerNorm
//    and mask_token (§8.3).
// Test sets: EMBED, the per-class test subset of §1.5 (embed_test_subset);
// RSNA, its test split.
//
// Outputs in OUT: the metrics table (also printed), metrics.json,
// predictions.csv, report.html (ROC curves, confusion matrix, the pretraining
// curves from RUN/log.jsonl, and a few test images with a local-alignment
// similarity map), train_log.jsonl for linear/finetune, and the trained head
// (linear) or head and image tower (finetune) as probe.safetensors.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "mama/bpe.h"
#include "mama/config.h"
#include "mama/loader.h"
#include "mama/model.h"
#include "mama/report.h"
#include "tensor/tensor.h"

namespace mama {

// ---- a trained run -----------------------------------------------------------

struct LoadedRun {
    RunConfig config;
    std::string checkpoint;  // the file it was loaded from
    std::string run_dir;     // the checkpoint's folder (holds tokenizer/ and log.jsonl)
    BpeTokenizer tokenizer;
    MamaSpecialIds special;
    std::unique_ptr<MamaModel> model;  // in eval mode, every parameter frozen
    eng::Device device = eng::Device::CPU;  // where the model lives; inputs are moved there
    eng::Tensor on_device(const eng::Tensor& t) const { return t.defined() ? t.to(device) : t; }
};

// Loads a checkpoint written by build/pretrain.  The config is the one stored
// in the file unless `config_path` is given.  The tokenizer is the run's:
// the BioMedLM files named in the config, else RUN/tokenizer/ (the checkpoint's
// folder), else the config's out_dir/tokenizer/; it is an error when none
// exists (a freshly trained BPE would not match the model's embeddings).
// `data_dir` (optional) replaces train.data_dir.  device "cuda" puts the model
// on the GPU; GEMMs run in `precision` on either device (tensor/precision.h;
// "" = the run's train.precision).
LoadedRun load_run(const std::string& checkpoint, const std::string& config_path = "",
                   const std::string& data_dir = "", const std::string& device = "cpu",
                   const std::string& precision = "");

// ---- encoders (eval mode, no gradient) -------------------------------------

// Pads/truncates model texts to max_len: ids and mask, i32 [N, max_len].
void tokenize_texts(const BpeTokenizer& tok, const std::vector<std::string>& texts, int max_len, eng::Tensor& ids,
                    eng::Tensor& mask);
// Normalised text embeddings [N, E] of model texts ("<|startoftext|>...").
// pooling: "first_pad" (zero-shot, §5.5) or "mean" (training).  Texts are
// padded or cut to max_len tokens (0 = the run's train.max_len).
// How the model texts fit max_len tokens: `full` have max_len tokens or more,
// so no pad position (first-pad pooling then reads the BOS state, the same for
// every text, §5.5); `cut` (among them) have more, so lose their end.
struct TextFit {
    int64_t full = 0, cut = 0;
};
TextFit fit_texts(const BpeTokenizer& tok, const std::vector<std::string>& model_texts, int64_t max_len);
eng::Tensor embed_texts(LoadedRun& run, const std::vector<std::string>& model_texts, const std::string& pooling,
                        int64_t batch = 32, bool progress = false, int max_len = 0);
// Image files through §3.2 and the eval transform §3.4: f32 [N, 3, S, S].
// source_size: the letterbox of §3.2 (0 = image_size; RSNA's is 1024).
eng::Tensor load_eval_images(const std::vector<std::string>& paths, int image_size, int source_size = 0);
// Normalised image embeddings [N, E] of image files (eval transform).
eng::Tensor embed_images(LoadedRun& run, const std::vector<std::string>& paths, int64_t batch = 16,
                         bool progress = false);

// ---- zero-shot ---------------------------------------------------------------

enum class SoftmaxMode { Double, Single };
SoftmaxMode parse_softmax_mode(const std::string& name);  // "double" or "single"
// Row-wise softmax of a flat [N, K] buffer, once or twice (the reference's
// softmax(softmax(s))); computed in double, max-subtracted.
std::vector<float> softmax_rows(const std::vector<float>& logits, int num_classes, SoftmaxMode mode);

// The K zero-shot prompts (model text) of one test item.
enum class EvalTask { Birads, Density, Rsna };
EvalTask parse_eval_task(const std::string& name);  // "birads", "density", "rsna"
const char* eval_task_name(EvalTask t);             // "embed_birads", "embed_density", "rsna_cancer"
std::vector<std::string> class_names(EvalTask t);
std::vector<std::string> zeroshot_prompts(EvalTask t, const ReportFields* report, const CaptionOptions& opt);

// Zero-shot logits [N, K] (flat) of every item of `test` (its reports give the
// prompts; identical prompts are encoded once).
std::vector<float> zeroshot_logits(LoadedRun& run, EvalTask task, const LoaderDataset& test,
                                   const std::string& pooling, int64_t eval_batch, int64_t workers, bool progress);

// ---- local-alignment heat map ------------------------------------------------

// The per-patch cosine similarity between image_local(patch tokens) and
// text_local(sentence feature) of sentence `sentence` (0-based, the j-th
// separator of `model_text`) for one image tensor [1, 3, S, S]: grid_h x grid_w
// values, row-major.  The sentence's text is stored in *sentence_text.  The
// text is cut at max_len tokens (0 = the run's train.max_len; RSNA's prompts: 72).
std::vector<float> local_similarity_map(LoadedRun& run, const eng::Tensor& image, const std::string& model_text,
                                        int sentence, int* grid_h, int* grid_w, std::string* sentence_text = nullptr,
                                        int max_len = 0);
// The sentences of a model text (the pieces before each separator, special
// tokens removed, trimmed).
std::vector<std::string> caption_sentences(const std::string& model_text);

// ---- build/evaluate ------------------------------------------------------------

struct EvaluateOptions {
    std::string checkpoint;          // RUN/last.safetensors (required)
    std::string config;              // "" = the config stored in the checkpoint
    std::string task = "density";    // birads | density | rsna
    std::string mode = "zeroshot";   // zeroshot | linear | finetune
    std::string data_dir;            // "" = train.data_dir of the config (EMBED) / required for RSNA
    std::string out_dir;             // "" = RUN/eval-<task>-<mode>
    std::string softmax = "double";  // zero-shot probabilities: double (reference) | single
    std::string pooling = "first_pad";  // zero-shot text pooling: first_pad (reference) | mean
    // RSNA file layout (rsna.h defaults when empty)
    std::string rsna_image_dir, rsna_image_suffix;
    // linear / finetune (reference values; warmup -1 = 100 scaled by steps/8000, at least 1)
    int64_t steps = 8000, warmup = -1, batch = 72;
    double lr = 5e-4, min_lr = 1e-5, momentum = 0.9, weight_decay = 1e-3;
    // general
    int64_t eval_batch = 32;   // test images (and prompts) per forward
    int64_t max_test = 0;      // > 0: evaluate only N test images, drawn with the seed (quick looks)
    int64_t examples = 4;      // heat-map examples in the report
    int64_t workers = -1;      // data-loading threads (-1: one per core)
    uint64_t seed = 42;
    bool quiet = false;        // no progress lines, no table on stdout
    std::string device = "cpu";  // or "cuda"
    std::string precision;       // auto | fp32 | tf32 | bf16 | bf16-true ("" = the run's train.precision)
};

struct EvaluateOutcome {
    EvalResult result;
    Metrics metrics;
    std::vector<float> logits;  // [N, K] before the softmax
    std::string out_dir;
};

// Runs one evaluation and writes every output; throws eng::Error on bad input.
EvaluateOutcome run_evaluate(const EvaluateOptions& options);

// The linear / fine-tuning protocols on an already loaded run (used by run_evaluate).
struct ProbeOptions {
    bool finetune = false;
    int64_t steps = 8000, warmup = 100, batch = 72;
    double lr = 5e-4, min_lr = 1e-5, momentum = 0.9, weight_decay = 1e-3;
    int64_t workers = -1;
    uint64_t seed = 42;
    std::string log_path;    // JSONL of the training steps ("" = none)
    std::string save_path;   // trained weights ("" = none)
    bool progress = true;
};

// Trains the probe on `train` and returns the test logits [N, K] (flat) of the final weights.
std::vector<float> probe_logits(LoadedRun& run, const LoaderDataset& train, const LoaderDataset& test,
                                const ProbeOptions& options, int64_t eval_batch);

// ---- build/embed -----------------------------------------------------------------

struct EmbedToolOptions {
    std::string checkpoint, config;
    std::vector<std::string> images;  // image files, or .txt/.lst files listing one image path per line
    std::string texts_file;           // one text per line ("" = none)
    std::string out;                  // E.safetensors
    std::string pooling = "first_pad";
    bool raw_text = false;            // texts are model text already (else "."/";" -> separators, bos/eos added)
    int64_t batch = 16;
    bool progress = true;
    std::string device = "cpu", precision;  // as EvaluateOptions
};
// Writes "image_embeddings" [N, E] and/or "text_embeddings" [M, E] (f32, rows of
// norm 1) with the metadata "images" / "texts" (JSON arrays of the inputs, in
// row order), "checkpoint" and "text_pooling".
void run_embed(const EmbedToolOptions& options);

}  // namespace mama
