// evaluate_run.cpp: loading a trained run for evaluation (config, tokenizer,
// model), the eval-mode encoders, the softmax helpers, the task tables and
// zero-shot prompts, and build/embed's embedding writer.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "autograd/ops.h"
#include "mama/evaluate.h"
#include "mama/pretrain.h"
#include "tensor/precision.h"
#include "mama/transforms.h"
#include "nn/checkpoint.h"
#include "nn/json.h"
#include "nn/safetensors.h"
#include "tensor/check.h"
#include "tensor/cuda_backend.h"

namespace mama {

using namespace eng;
namespace fs = std::filesystem;

// ---- loading a run ---------------------------------------------------------------

LoadedRun load_run(const std::string& checkpoint, const std::string& config_path, const std::string& data_dir,
                   const std::string& device, const std::string& precision) {
    ENG_CHECK(fs::exists(checkpoint), "--checkpoint ", checkpoint,
              ": no such file. HINT: give RUN/last.safetensors or RUN/best.safetensors of a build/pretrain run");
    LoadedRun run;
    run.checkpoint = checkpoint;
    run.run_dir = fs::path(checkpoint).parent_path().string();
    if (run.run_dir.empty()) run.run_dir = ".";
    nn::SafeTensorsFile file = nn::SafeTensorsFile::open(checkpoint);
    if (config_path.empty()) {
        auto it = file.metadata().find("config");
        ENG_CHECK(it != file.metadata().end(), "--checkpoint ", checkpoint,
                  ": the file stores no config. HINT: pass the run's config with --config");
        run.config = run_config_from_json(json::parse(it->second, checkpoint + " (config)"));
    } else {
        run.config = load_run_config(config_path);
    }
    if (!data_dir.empty()) run.config.train.data_dir = data_dir;

    // The tokenizer must be the one the model was trained with: never learn a new one here.
    TrainConfig t = run.config.train;
    bool files_given = !t.tokenizer_json.empty() || !t.tokenizer_vocab.empty();
    if (!files_given) {
        auto has = [](const std::string& dir) { return fs::exists(dir + "/tokenizer/vocab.json") && fs::exists(dir + "/tokenizer/merges.txt"); };
        if (has(run.run_dir)) t.out_dir = run.run_dir;
        else
            ENG_CHECK(has(t.out_dir), "load_run: no tokenizer for ", checkpoint, ": neither ", run.run_dir,
                      "/tokenizer/ nor ", t.out_dir,
                      "/tokenizer/ holds vocab.json and merges.txt. HINT: keep the checkpoint in its run folder, or "
                      "copy the run's tokenizer/ folder next to it");
    }
    run.tokenizer = make_run_tokenizer(t, EmbedData{});
    run.special = run.tokenizer.add_mama_special_tokens();
    // The size check below cannot tell two tokenizers of one size apart (the
    // config fixes the size); the fingerprint build/pretrain records can.
    if (auto fp = file.metadata().find("extra.tokenizer"); fp != file.metadata().end())
        ENG_CHECK(fp->second == run.tokenizer.fingerprint(), "--checkpoint ", checkpoint,
                  ": the tokenizer found (", files_given ? std::string("the config's tokenizer files") : t.out_dir + "/tokenizer/",
                  ") is not the one this model was trained with (fingerprint ", run.tokenizer.fingerprint(),
                  ", the checkpoint's ", fp->second, "): its token ids would mean other words. HINT: keep the "
                  "checkpoint in its run folder with that run's tokenizer/, or copy the run's tokenizer/ next to it");

    MamaConfig mc = run.config.model;
    if (run.config.train.init_text.empty()) mc.text.vocab = run.tokenizer.vocab_size();  // as build/pretrain does
    const std::string wte = "model.text.transformer.wte.weight";
    ENG_CHECK(file.has(wte), "--checkpoint ", checkpoint, ": no tensor ", wte,
              ". HINT: is this a build/pretrain checkpoint?");
    ENG_CHECK(file.info(wte).shape.size() == 2 && file.info(wte).shape[0] == run.tokenizer.vocab_size(),
              "--checkpoint ", checkpoint, ": the text embedding has ", shape_str(file.info(wte).shape),
              " rows but the run's tokenizer has ", run.tokenizer.vocab_size(),
              " tokens. HINT: the tokenizer/ folder next to the checkpoint belongs to another run");
    // The device and an explicit --precision are checked before the weights
    // are read (gigabytes at full size).  An explicit --precision must work as
    // asked (or fail clearly).  The run's own train.precision may name what
    // this device lacks (tf32 from a GPU run, bf16 on a CPU without
    // AVX512-BF16): then the products stay fp32.
    ENG_CHECK(device == "cpu" || device == "cuda", "--device must be cpu or cuda, got '", device, "'");
    if (device == "cuda") cuda::require_available("--device cuda");
    const Device dev = device == "cuda" ? Device::CUDA : Device::CPU;
    if (!precision.empty()) set_matmul_precision(dev, precision);  // throws for what this device cannot do
    run.model = std::make_unique<MamaModel>(mc, run.tokenizer.vocab_size());
    nn::load_checkpoint(checkpoint, *run.model, nullptr);
    std::string p = precision.empty() ? run.config.train.precision : precision;
    if (precision.empty() && !matmul_precision_available(dev, p)) {
        std::cerr << "note: the run's train.precision " << p << " is not available on this "
                  << (dev == Device::CUDA ? "GPU" : "CPU") << "; evaluating with fp32 matmuls\n";
        p = "fp32";
    }
    set_matmul_precision(dev, p);
    if (device == "cuda") {
        run.device = Device::CUDA;
        run.model->to(run.device);
    }
    if (bf16_true()) run.model->round_to_bf16();  // a run evaluated in bf16-true (tensor/precision.h)
    run.model->eval();
    run.model->requires_grad(false);
    return run;
}

// ---- encoders ------------------------------------------------------------------------

void tokenize_texts(const BpeTokenizer& tok, const std::vector<std::string>& texts, int max_len, Tensor& ids,
                    Tensor& mask) {
    std::vector<int32_t> id, m;
    id.reserve(texts.size() * size_t(max_len));
    m.reserve(texts.size() * size_t(max_len));
    for (const std::string& s : texts) {
        Encoding e = tok.encode_padded(s, max_len);
        id.insert(id.end(), e.ids.begin(), e.ids.end());
        m.insert(m.end(), e.attention_mask.begin(), e.attention_mask.end());
    }
    int64_t n = int64_t(texts.size());
    ids = from_ivector(id, {n, max_len});
    mask = from_ivector(m, {n, max_len});
}

static void progress_line(bool on, const char* what, int64_t done, int64_t total) {
    if (!on) return;
    std::cerr << "\r" << what << " " << done << "/" << total << (done == total ? "\n" : "") << std::flush;
}

TextFit fit_texts(const BpeTokenizer& tok, const std::vector<std::string>& model_texts, int64_t max_len) {
    TextFit f;
    for (const std::string& s : model_texts) {
        const int64_t n = int64_t(tok.encode(s).size());
        f.full += n >= max_len;
        f.cut += n > max_len;
    }
    return f;
}

Tensor embed_texts(LoadedRun& run, const std::vector<std::string>& texts, const std::string& pooling, int64_t batch,
                   bool progress, int max_len) {
    ENG_CHECK(batch >= 1, "embed_texts: batch must be positive, got ", batch);
    NoGradGuard ng;
    run.model->eval();
    int64_t n = int64_t(texts.size()), E = run.model->config.embed_dim;
    std::vector<float> out;
    out.reserve(size_t(n * E));
    for (int64_t i = 0; i < n; i += batch) {
        std::vector<std::string> chunk(texts.begin() + i, texts.begin() + std::min(n, i + batch));
        Tensor ids, mask;
        tokenize_texts(run.tokenizer, chunk, max_len > 0 ? max_len : int(run.config.train.max_len), ids, mask);
        std::vector<float> e =
            run.model->encode_texts(run.on_device(ids), run.on_device(mask), run.special.pad, pooling).to_vector();
        out.insert(out.end(), e.begin(), e.end());
        progress_line(progress, "text embeddings", std::min(n, i + batch), n);
    }
    return from_vector(out, {n, E});
}

Tensor load_eval_images(const std::vector<std::string>& paths, int image_size, int source_size) {
    if (source_size <= 0) source_size = image_size;
    TransformOptions o;
    o.size = image_size;
    int64_t n = int64_t(paths.size()), plane = 3 * int64_t(image_size) * image_size;
    Tensor images = empty({n, 3, image_size, image_size});
    float* dst = images.data<float>();
    std::vector<std::string> errors(paths.size());
#pragma omp parallel for schedule(dynamic)
    for (int64_t i = 0; i < n; ++i) {
        try {
            std::vector<float> v = eval_transform(load_source(paths[size_t(i)], source_size, o.faithful_uint8), o);
            std::copy(v.begin(), v.end(), dst + i * plane);
        } catch (const std::exception& e) {
            errors[size_t(i)] = e.what();
        }
    }
    for (size_t i = 0; i < errors.size(); ++i)
        ENG_CHECK(errors[i].empty(), "cannot load image '", paths[i], "': ", errors[i]);
    return images;
}

Tensor embed_images(LoadedRun& run, const std::vector<std::string>& paths, int64_t batch, bool progress) {
    ENG_CHECK(batch >= 1, "embed_images: batch must be positive, got ", batch);
    NoGradGuard ng;
    run.model->eval();
    int64_t n = int64_t(paths.size()), E = run.model->config.embed_dim;
    std::vector<float> out;
    out.reserve(size_t(n * E));
    for (int64_t i = 0; i < n; i += batch) {
        std::vector<std::string> chunk(paths.begin() + i, paths.begin() + std::min(n, i + batch));
        Tensor img = load_eval_images(chunk, int(run.config.train.image_size));
        std::vector<float> e = run.model->encode_images(run.on_device(img)).to_vector();
        out.insert(out.end(), e.begin(), e.end());
        progress_line(progress, "image embeddings", std::min(n, i + batch), n);
    }
    return from_vector(out, {n, E});
}

// ---- softmax, tasks, prompts ---------------------------------------------------------------

SoftmaxMode parse_softmax_mode(const std::string& name) {
    if (name == "double") return SoftmaxMode::Double;
    if (name == "single") return SoftmaxMode::Single;
    ENG_FAIL("--softmax must be 'double' (the reference's softmax(softmax(s))) or 'single', got '", name, "'");
}

std::vector<float> softmax_rows(const std::vector<float>& logits, int K, SoftmaxMode mode) {
    ENG_CHECK(K >= 1 && logits.size() % size_t(K) == 0, "softmax_rows: ", logits.size(), " values are not rows of ", K);
    std::vector<float> out(logits.size());
    std::vector<double> row(static_cast<size_t>(K));
    for (size_t r = 0; r < logits.size() / size_t(K); ++r) {
        for (int c = 0; c < K; ++c) row[size_t(c)] = logits[r * size_t(K) + size_t(c)];
        for (int pass = 0; pass < (mode == SoftmaxMode::Double ? 2 : 1); ++pass) {
            double mx = row[0], sum = 0;
            for (double v : row) mx = std::max(mx, v);
            for (double& v : row) sum += (v = std::exp(v - mx));
            for (double& v : row) v /= sum;
        }
        for (int c = 0; c < K; ++c) out[r * size_t(K) + size_t(c)] = float(row[size_t(c)]);
    }
    return out;
}

EvalTask parse_eval_task(const std::string& name) {
    if (name == "birads") return EvalTask::Birads;
    if (name == "density") return EvalTask::Density;
    if (name == "rsna") return EvalTask::Rsna;
    ENG_FAIL("--task must be birads, density or rsna, got '", name, "'");
}

const char* eval_task_name(EvalTask t) {
    switch (t) {
        case EvalTask::Birads: return "embed_birads";
        case EvalTask::Density: return "embed_density";
        default: return "rsna_cancer";
    }
}

std::vector<std::string> class_names(EvalTask t) {
    switch (t) {
        case EvalTask::Birads: return {"BI-RADS 0", "BI-RADS 1", "BI-RADS 2", "BI-RADS 3", "BI-RADS 4", "BI-RADS 5", "BI-RADS 6"};
        case EvalTask::Density: return {"density A", "density B", "density C", "density D"};
        default: return {"negative", "cancer"};
    }
}

std::vector<std::string> zeroshot_prompts(EvalTask t, const ReportFields* report, const CaptionOptions& opt) {
    if (t == EvalTask::Rsna) return rsna_prompts(opt);
    ENG_CHECK(report, "zero-shot prompts for ", eval_task_name(t), " need the image's report fields");
    return t == EvalTask::Birads ? birads_prompts(*report, opt) : density_prompts(*report, opt);
}

// ---- build/embed ----------------------------------------------------------------------------

static std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

static std::vector<std::string> read_lines(const std::string& path, const char* what) {
    std::ifstream in(path);
    ENG_CHECK(in, what, " ", path, ": cannot open the file");
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (lines.empty() && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark
        lines.push_back(line);
    }
    return lines;
}

void run_embed(const EmbedToolOptions& o) {
    ENG_CHECK(!o.out.empty(), "build/embed: --out is required");
    ENG_CHECK(!o.images.empty() || !o.texts_file.empty(), "build/embed: give --images and/or --texts");
    ENG_CHECK(o.pooling == "first_pad" || o.pooling == "mean", "build/embed: --pooling must be first_pad or mean, got '",
              o.pooling, "'");
    std::vector<std::string> images;
    for (const std::string& a : o.images) {
        std::string ext = fs::path(a).extension().string();
        if (ext == ".txt" || ext == ".lst") {
            for (const std::string& l : read_lines(a, "--images list"))
                if (!trim(l).empty()) images.push_back(trim(l));
        } else {
            images.push_back(a);
        }
    }
    std::vector<std::string> texts;
    if (!o.texts_file.empty())
        for (const std::string& l : read_lines(o.texts_file, "--texts")) {
            ENG_CHECK(!trim(l).empty(), "--texts ", o.texts_file, " line ", texts.size() + 1,
                      ": empty line (one text per line). HINT: remove blank lines");
            texts.push_back(l);
        }
    ENG_CHECK(!images.empty() || !texts.empty(), "build/embed: the inputs list no image and no text");
    std::error_code same_ec;
    ENG_CHECK(!(fs::exists(o.out) && fs::equivalent(o.out, o.checkpoint, same_ec)), "build/embed: --out ", o.out,
              " is the checkpoint itself; writing the embeddings there would replace the model. HINT: choose "
              "another --out file");
    LoadedRun run = load_run(o.checkpoint, o.config, "", o.device, o.precision);
    std::vector<std::pair<std::string, Tensor>> tensors;
    std::map<std::string, std::string> meta{{"checkpoint", o.checkpoint}};
    auto names = [](const std::vector<std::string>& v) {
        json::Value a = json::Value::array();
        for (const std::string& s : v) a.push_back(s);
        return json::dump(a);
    };
    if (!images.empty()) {
        tensors.emplace_back("image_embeddings", embed_images(run, images, o.batch, o.progress));
        meta["images"] = names(images);
    }
    if (!texts.empty()) {
        std::vector<std::string> model_texts;
        for (const std::string& s : texts)
            model_texts.push_back(o.raw_text || s.rfind(kBosText, 0) == 0 ? s : to_model_text(s, true));
        const int64_t T = run.config.train.max_len;
        const TextFit fit = fit_texts(run.tokenizer, model_texts, T);
        if (fit.cut > 0)
            std::cerr << "warning: embed: " << fit.cut << " of " << texts.size() << " texts have more than " << T
                      << " tokens (train.max_len), so their ends are cut\n";
        if (fit.full > 0 && o.pooling == "first_pad")
            std::cerr << "warning: embed: " << fit.full << " of " << texts.size() << " texts fill all " << T
                      << " tokens, so first-pad pooling gives them all the same embedding (the BOS state). HINT: "
                         "--pooling mean, or shorter texts\n";
        meta["texts_truncated"] = std::to_string(fit.cut);
        meta["texts_without_pad"] = std::to_string(fit.full);
        tensors.emplace_back("text_embeddings", embed_texts(run, model_texts, o.pooling, o.batch, o.progress));
        meta["texts"] = names(texts);
        meta["text_pooling"] = o.pooling;
    }
    // A NaN weight gives NaN embeddings that would only surface far downstream.
    for (const auto& [name, t] : tensors)
        for (float x : t.to_vector())
            ENG_CHECK(std::isfinite(x), "build/embed: the ", name, " hold non-finite values: the checkpoint ",
                      o.checkpoint, " has NaN or infinite weights (build/inspect shows which). HINT: use an "
                      "earlier checkpoint of the run");
    nn::save_safetensors(o.out, tensors, meta);
    if (o.progress)
        std::cerr << "== wrote " << o.out << ": " << images.size() << " image and " << texts.size()
                  << " text embeddings of width " << run.model->config.embed_dim << "\n";
}

}  // namespace mama
