// text_lm.cpp: byte-level GPT-2 training, evaluation and sampling (see text_lm.h).
#include "nn/text_lm.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>

#include "autograd/ops.h"
#include "nn/checksum.h"
#include "nn/json.h"
#include "nn/read_file.h"
#include "nn/safetensors.h"
#include "nn/utf8.h"

namespace eng::nn {

ByteCorpus ByteCorpus::from_string(const std::string& text) {
    ByteCorpus c;
    c.bytes.reserve(text.size());
    for (unsigned char b : text) c.bytes.push_back(int32_t(b));
    return c;
}

ByteCorpus ByteCorpus::from_file(const std::string& path) {
    return from_string(read_whole_file(path, "train_gpt: --text"));  // names a folder or a missing file
}

double ByteCorpus::unigram_entropy() const {
    // H = -Σ_b p(b) ln p(b) with p(b) the byte's relative frequency.
    std::vector<int64_t> count(256, 0);
    for (int32_t b : bytes) ++count[size_t(b)];
    double n = double(bytes.size()), h = 0;
    for (int64_t c : count)
        if (c > 0) h -= double(c) / n * std::log(double(c) / n);
    return h;
}

std::string TextLMConfig::json() const {
    json::Value v = json::Value::object();
    v.set("model", "gpt2-bytes").set("vocab", 256).set("context", context).set("width", width);
    v.set("layers", layers).set("heads", heads).set("gelu_new", gelu_new).set("batch", batch);
    v.set("steps", steps).set("lr", lr).set("warmup", warmup).set("weight_decay", double(weight_decay));
    v.set("clip", double(clip)).set("seed", seed);
    return json::dump(v);
}

TextLMTrainer::TextLMTrainer(const TextLMConfig& c, const ByteCorpus& corpus)
    : config_(c), corpus_(corpus), init_gen_(c.seed), data_gen_(random_word(c.seed, 1)) {
    ENG_CHECK(c.context > 0 && c.batch > 0 && c.steps > 0, "train_gpt: context, batch and steps must be positive");
    // A window is context + 1 bytes (the inputs and, shifted by one, the targets).
    ENG_CHECK(int64_t(corpus_.bytes.size()) >= c.context + 1, "train_gpt: the text has ", corpus_.bytes.size(),
              " bytes; a context of ", c.context, " needs at least ", c.context + 1,
              ". HINT: use a longer text or a smaller --context");
    GPT2Config g;
    g.vocab = 256;
    g.positions = c.context;
    g.width = c.width;
    g.layers = c.layers;
    g.heads = c.heads;
    g.gelu_new = c.gelu_new;
    g.embd_pdrop = g.attn_pdrop = g.resid_pdrop = 0.0f;
    model_ = std::make_unique<GPT2Model>(g, &init_gen_);
    // Weight decay on matrices (embeddings and projections), none on biases and LayerNorms.
    ParamGroup decay{{}, float(c.lr), c.weight_decay}, no_decay{{}, float(c.lr), 0.0f};
    for (Tensor* p : model_->parameters()) (p->dim() >= 2 ? decay : no_decay).params.push_back(p);
    opt_ = std::make_unique<AdamW>(std::vector<ParamGroup>{decay, no_decay}, 0.9, 0.99);
    schedule_.kind = Schedule::Kind::Cosine;
    schedule_.max_lr = c.lr;
    schedule_.min_lr = c.lr / 10;
    schedule_.warmup_steps = c.warmup >= 0 ? c.warmup : std::min<int64_t>(100, c.steps / 10);
    schedule_.total_steps = c.steps;
}

void TextLMTrainer::draw_batch(Generator& g, Tensor* ids, Tensor* targets) const {
    const int64_t B = config_.batch, T = config_.context, n = int64_t(corpus_.bytes.size());
    std::vector<int32_t> x(size_t(B * T)), y(size_t(B * T));
    for (int64_t b = 0; b < B; ++b) {
        int64_t start = g.randint(0, n - T);  // in [0, n - T): window [start, start + T] inclusive
        for (int64_t t = 0; t < T; ++t) {
            x[size_t(b * T + t)] = corpus_.bytes[size_t(start + t)];
            y[size_t(b * T + t)] = corpus_.bytes[size_t(start + t + 1)];
        }
    }
    *ids = from_ivector(x, {B, T});
    *targets = from_ivector(y, {B * T});
}

Tensor TextLMTrainer::loss_on(const Tensor& ids, const Tensor& targets) {
    Tensor logits = model_->logits(model_->forward(ids));  // [B, T, 256]
    return cross_entropy(reshape(logits, {-1, 256}), targets);
}

float TextLMTrainer::train_step() {
    model_->train();
    opt_->set_lr(float(schedule_.lr_at(step_)));
    Tensor ids, targets;
    draw_batch(data_gen_, &ids, &targets);
    Tensor loss = loss_on(ids, targets);
    // A diverged run stops before its NaNs reach the weights (and a checkpoint).
    // Steps are numbered from 1 in messages, as train_gpt's log prints them.
    const float value = loss.item();
    ENG_CHECK(std::isfinite(value), "train_gpt: the loss is ", value, " at step ", step_ + 1,
              "; training diverged. HINT: lower --lr (the weights are not updated with this step)");
    backward(loss);
    // The norm is checked with clipping off too: a finite loss can still
    // have infinite gradients.
    const float norm = config_.clip > 0 ? clip_grad_norm(model_->parameters(), config_.clip)
                                        : grad_norm(model_->parameters());
    ENG_CHECK(std::isfinite(norm), "train_gpt: the gradient norm is ", norm, " at step ", step_ + 1,
              "; training diverged. HINT: lower --lr (the weights are not updated with this step)");
    opt_->step();
    opt_->zero_grad();
    ++step_;
    return value;
}

float TextLMTrainer::evaluate(int64_t batches, uint64_t seed) {
    NoGradGuard ng;
    model_->eval();
    Generator g(seed);
    double total = 0;
    for (int64_t i = 0; i < batches; ++i) {
        Tensor ids, targets;
        draw_batch(g, &ids, &targets);
        total += loss_on(ids, targets).item();
    }
    model_->train();
    return float(total / double(std::max<int64_t>(batches, 1)));
}

std::string TextLMTrainer::sample(const std::string& prompt, int64_t n, float temperature, int64_t top_k,
                                  uint64_t seed) {
    ENG_CHECK(temperature > 0, "train_gpt: the sampling temperature must be positive, got ", temperature);
    NoGradGuard ng;
    model_->eval();
    Generator g(seed);
    std::vector<int32_t> tokens = ByteCorpus::from_string(prompt.empty() ? "\n" : prompt).bytes;
    std::string out;
    for (int64_t i = 0; i < n; ++i) {
        int64_t L = std::min<int64_t>(int64_t(tokens.size()), config_.context);
        std::vector<int32_t> window(tokens.end() - L, tokens.end());
        Tensor hidden = model_->forward(from_ivector(window, {1, L}));
        std::vector<float> logits = model_->logits(narrow(hidden, 1, L - 1, 1)).to_vector();  // 256 values
        // Keep the top_k largest logits (ties at the cut-off kept), softmax at
        // the temperature in double, then invert the CDF at one uniform draw.
        float cut = -INFINITY;
        if (top_k > 0 && top_k < 256) {
            std::vector<float> sorted = logits;
            std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<float>());
            cut = sorted[size_t(top_k - 1)];
        }
        float mx = *std::max_element(logits.begin(), logits.end());
        std::vector<double> p(256, 0.0);
        double z = 0;
        for (size_t v = 0; v < 256; ++v)
            if (logits[v] >= cut) z += p[v] = std::exp(double(logits[v] - mx) / temperature);
        // Any NaN or infinite logit means broken weights, wherever it is (a NaN
        // fails every comparison above: in most places it would just be skipped).
        const auto bad = std::find_if(logits.begin(), logits.end(), [](float x) { return !std::isfinite(x); });
        ENG_CHECK(bad == logits.end() && z > 0 && std::isfinite(z), "train_gpt: the model's next-byte logits are not ",
                  "finite (byte ", bad - logits.begin(), "'s is ", bad == logits.end() ? mx : *bad,
                  "), so there is nothing to sample. HINT: the weights hold NaN or inf; retrain with a lower --lr");
        double u = g.uniform_double() * z, acc = 0;
        int32_t next = -1;
        for (size_t v = 0; v < 256; ++v) {
            if (p[v] <= 0) continue;
            acc += p[v];
            next = int32_t(v);  // the last candidate also absorbs rounding at the top end
            if (u < acc) break;
        }
        tokens.push_back(next);
        out.push_back(char(next));
    }
    model_->train();
    return out;
}

// The run's config plus the text it trains on (its size and checksum64), so
// that a resume can tell another text from this one.
std::string TextLMTrainer::checkpoint_config() const {
    json::Value v = json::parse(config_.json());
    const std::vector<unsigned char> text(corpus_.bytes.begin(), corpus_.bytes.end());
    v.set("text_bytes", int64_t(text.size())).set("text_checksum", checksum_hex(checksum64(text.data(), text.size())));
    return json::dump(v);
}

void TextLMTrainer::save(const std::string& path) {
    TrainingState st;
    st.step = step_;
    save_checkpoint(path, *model_, opt_.get(), st, {{"data", &data_gen_}}, checkpoint_config());
}

// Before anything is loaded, the stored config must describe the same model
// and text: the shapes alone cannot tell 4 heads from 2 of the same width, or
// the tanh GELU from the erf one, and the data position means nothing in
// another text.  The rest (batch, lr, steps, seed, ...) may change on resume.
void TextLMTrainer::check_resumable(const std::string& path) const {
    const SafeTensorsFile file = SafeTensorsFile::open(path);  // metadata() refers into it
    const auto& meta = file.metadata();
    const auto it = meta.find("config");
    if (it == meta.end()) return;  // load_checkpoint names what else is missing
    const json::Value stored = json::parse(it->second, path + " (config)");
    const json::Value now = json::parse(checkpoint_config());
    for (const char* key : {"context", "width", "layers", "heads", "gelu_new", "text_bytes", "text_checksum"}) {
        const json::Value* was = stored.find(key);
        if (!was) continue;  // checkpoints from before the text was recorded
        const std::string a = json::dump(*was), b = json::dump(*now.find(key));
        ENG_CHECK(a == b, "train_gpt: cannot resume from ", path, ": it was written with ", key, " ", a,
                  ", this run has ", b,
                  std::string(key).rfind("text", 0) == 0
                      ? ". HINT: resume on the same --text file"
                      : ". HINT: resume with the options the checkpoint was written with (its config: build/inspect)");
    }
}

void TextLMTrainer::load(const std::string& path) {
    check_resumable(path);
    TrainingState st = load_checkpoint(path, *model_, opt_.get(), {{"data", &data_gen_}});
    step_ = st.step;
}

float sampling_temperature(double t) {
    ENG_CHECK(float(t) > 0 && std::isfinite(float(t)), "the sampling temperature ", t,
              " is not a positive float (about 1e-38 to 3e38). HINT: give a value such as 0.1 or 2");
    return float(t);
}

std::string printable_bytes(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        const size_t len = c < 0x80 ? 1 : utf8_valid_length(s.data() + i, s.size() - i);
        const bool c1 = len == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;
        if (c < 0x80 ? (c == '\n' || c == '\t' || (c >= 32 && c != 127)) : (len > 0 && !c1)) {
            out.append(s, i, len);
            i += len;
            continue;
        }
        const size_t n = c1 ? 2 : 1;  // a C1 character: both of its bytes
        for (size_t k = 0; k < n; ++k) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(s[i + k]));
            out += buf;
        }
        i += n;
    }
    return out;
}

}  // namespace eng::nn
