// test_evaluate.cpp: build/evaluate and build/embed end to end on a tiny
// synthetic dataset and a 2-step pretraining run: zero-shot outputs parse and
// the double softmax equals softmax applied twice to logits recomputed here,
// linear probing and fine-tuning train what they should, and the embeddings
// written by build/embed have rows of norm 1.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "autograd/ops.h"
#include "mama/evaluate.h"
#include "mama/pretrain.h"
#include "mama/synth.h"
#include "nn/json.h"
#include "nn/safetensors.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cuda_backend.h"
#include "tensor/precision.h"
#include "tests/testing.h"
#include "tests/temp_dir.h"

using namespace eng;
using namespace mama;
namespace fs = std::filesystem;

namespace {

using testing::TempDir;

// One tiny dataset and one 2-step run shared by the cases below.  The text
// length is raised to 256 so that no zero-shot prompt is truncated (with the
// tiny 400-token BPE the density prompts are ~150 tokens).
struct Fixture {
    TempDir data{"data"}, run{"run"};
    std::string checkpoint;
    Fixture() {
        SynthOptions o;
        o.patients = 14;
        o.seed = 5;
        o.size = 64;
        o.contact_exams = 0;
        write_synth_dataset(o, data.path.string());
        RunConfig rc = load_run_config("mama/configs/tiny.json", {{"train.data_dir", "\"" + data.path.string() + "\""},
                                                                  {"train.out_dir", "\"" + run.path.string() + "\""},
                                                                  {"train.steps", "2"},
                                                                  {"train.workers", "2"},
                                                                  {"train.max_len", "256"},
                                                                  {"model.text.positions", "256"}});
        PretrainOptions quiet;
        quiet.quiet = true;
        REQUIRE(run_pretrain(rc, quiet) == 0);
        checkpoint = (run.path / "last.safetensors").string();
    }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

EvaluateOptions base_options(const std::string& mode, const std::string& out) {
    EvaluateOptions o;
    o.checkpoint = fixture().checkpoint;
    o.task = "density";
    o.mode = mode;
    o.out_dir = out;
    o.quiet = true;
    o.examples = 1;
    o.workers = 2;
    o.eval_batch = 5;  // several batches, the last one partial
    return o;
}

std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Plain softmax of one row, in double.
std::vector<double> softmax_ref(const std::vector<double>& x) {
    double mx = x[0], sum = 0;
    for (double v : x) mx = std::max(mx, v);
    std::vector<double> e;
    for (double v : x) e.push_back(std::exp(v - mx)), sum += e.back();
    for (double& v : e) v /= sum;
    return e;
}

// predictions.csv rows: path and the K probabilities.
struct CsvRow {
    std::string path;
    int label = -1;
    std::vector<double> probs;
};
std::vector<CsvRow> read_predictions(const fs::path& p, int K) {
    std::istringstream in(read_text(p));
    std::string line;
    std::getline(in, line);
    CHECK(line.rfind("path,label,label_name,predicted,prob_", 0) == 0);
    std::vector<CsvRow> rows;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::vector<std::string> f;
        std::stringstream ls(line);
        for (std::string cell; std::getline(ls, cell, ',');) f.push_back(cell);
        REQUIRE(f.size() == size_t(4 + K));
        CsvRow r;
        r.path = f[0];
        r.label = std::stoi(f[1]);
        for (int c = 0; c < K; ++c) r.probs.push_back(std::stod(f[size_t(4 + c)]));
        rows.push_back(r);
    }
    return rows;
}

}  // namespace

TEST_CASE("evaluate: softmax_rows and caption_sentences on hand-made cases") {
    // softmax([0, ln 2, ln 3]) = [1/6, 2/6, 3/6]; twice: softmax of that.
    std::vector<float> s = {0.0f, float(std::log(2.0)), float(std::log(3.0))};
    std::vector<float> p1 = softmax_rows(s, 3, SoftmaxMode::Single);
    CHECK(p1[0] == doctest::Approx(1.0 / 6).epsilon(1e-6));
    CHECK(p1[1] == doctest::Approx(2.0 / 6).epsilon(1e-6));
    CHECK(p1[2] == doctest::Approx(3.0 / 6).epsilon(1e-6));
    std::vector<float> p2 = softmax_rows(s, 3, SoftmaxMode::Double);
    double z = std::exp(1.0 / 6) + std::exp(2.0 / 6) + std::exp(3.0 / 6);
    CHECK(p2[0] == doctest::Approx(std::exp(1.0 / 6) / z).epsilon(1e-6));
    CHECK(p2[2] == doctest::Approx(std::exp(3.0 / 6) / z).epsilon(1e-6));
    CHECK_THROWS_AS(softmax_rows({1, 2, 3}, 2, SoftmaxMode::Single), eng::Error);
    CHECK_THROWS_AS(parse_softmax_mode("triple"), eng::Error);
    CHECK_THROWS_AS(parse_eval_task("chexpert"), eng::Error);

    auto sent = caption_sentences(std::string(kBosText) + "A: one" + kSepText + " B two" + kSepText + "  " + kEosText);
    REQUIRE(sent.size() == 2);
    CHECK(sent[0] == "A: one");
    CHECK(sent[1] == "B two");
}

TEST_CASE("evaluate: zero-shot density writes parseable outputs and the reference's double softmax") {
    TempDir out("zeroshot");
    EvaluateOutcome r = run_evaluate(base_options("zeroshot", out.path.string()));
    const int K = 4;

    // The test set is the §1.5 per-class subset of the test split without male images.
    EmbedOptions eo;
    eo.data_dir = fixture().data.path.string();
    eo.warnings = false;
    EmbedData data = load_embed(eo);
    int64_t expected = 0;
    for (int64_t i : embed_test_subset(data, EmbedTask::Density)) expected += data.records[size_t(i)].density >= 0;
    REQUIRE(expected >= 2);

    // metrics.json: rates in [0, 100] (or null where undefined).
    json::Value m = json::parse_file((out.path / "metrics.json").string());
    CHECK(m.at("num_samples").as_int() == expected);
    for (const char* k : {"accuracy", "balanced_accuracy", "macro_f1", "auc_defined_mean"}) {
        const json::Value& v = m.at(k);
        if (v.is_null()) continue;
        CHECK(v.as_number() >= 0.0);
        CHECK(v.as_number() <= 100.0);
    }

    // predictions.csv: one row per test image, the double-softmax property.
    std::vector<CsvRow> rows = read_predictions(out.path / "predictions.csv", K);
    REQUIRE(int64_t(rows.size()) == expected);
    const double lo = 1.0 / (std::exp(1.0) + K - 1), hi = std::exp(1.0) / (std::exp(1.0) + K - 1);
    for (const CsvRow& row : rows) {
        double sum = 0;
        for (double p : row.probs) {
            sum += p;
            CHECK(p >= lo - 1e-7);  // softmax of values in [0, 1] lies in [1/(e+K-1), e/(e+K-1)]
            CHECK(p <= hi + 1e-7);
        }
        CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
    }
    CHECK(fs::exists(out.path / "report.html"));
    CHECK(read_text(out.path / "report.html").find("<svg") != std::string::npos);

    // Recompute the logits of one image here and apply softmax twice by hand.
    LoadedRun run = load_run(fixture().checkpoint);
    const CsvRow& row = rows[rows.size() / 2];
    const EmbedRecord* rec = nullptr;
    for (const EmbedRecord& e : data.records)
        if (e.image_path == row.path) rec = &e;
    REQUIRE(rec != nullptr);
    CHECK(row.label == rec->density);
    NoGradGuard ng;
    std::vector<float> v = run.model->encode_images(load_eval_images({row.path}, 28)).to_vector();
    std::vector<std::string> prompts = density_prompts(rec->report);
    REQUIRE(prompts.size() == size_t(K));
    std::vector<int32_t> ids, mask;
    for (const std::string& p : prompts) {
        Encoding e = run.tokenizer.encode_padded(p, 256);
        REQUIRE(!e.truncated);
        ids.insert(ids.end(), e.ids.begin(), e.ids.end());
        mask.insert(mask.end(), e.attention_mask.begin(), e.attention_mask.end());
    }
    std::vector<float> u = run.model
                               ->encode_texts(from_ivector(ids, {K, 256}), from_ivector(mask, {K, 256}), run.special.pad,
                                              "first_pad")
                               .to_vector();
    const int64_t E = int64_t(v.size());
    double scale = std::exp(double(run.model->logit_scale.item()));
    std::vector<double> s;
    for (int c = 0; c < K; ++c) {
        double dot = 0;
        for (int64_t d = 0; d < E; ++d) dot += double(v[size_t(d)]) * double(u[size_t(c * E + d)]);
        s.push_back(scale * dot);
    }
    std::vector<double> twice = softmax_ref(softmax_ref(s));
    size_t n = size_t(&row - rows.data());
    for (int c = 0; c < K; ++c) {
        CHECK(r.logits[n * K + size_t(c)] == doctest::Approx(s[size_t(c)]).epsilon(1e-4));
        CHECK(row.probs[size_t(c)] == doctest::Approx(twice[size_t(c)]).epsilon(1e-6));
    }
    // The classes must not all get the same prompt embedding (a truncated prompt would).
    CHECK(std::fabs(s[0] - s[3]) > 1e-6);
}

// Every image of a --max-test run scores as in the run over the whole test set.
static void check_subset_scores(const EvaluateOutcome& full, const EvaluateOutcome& sub, int K) {
    const size_t n = full.result.paths.size();
    for (size_t i = 0; i < sub.result.paths.size(); ++i) {
        const size_t j = size_t(std::find(full.result.paths.begin(), full.result.paths.end(), sub.result.paths[i]) -
                                full.result.paths.begin());
        REQUIRE(j < n);
        for (int c = 0; c < K; ++c) {
            const float a = sub.logits[i * size_t(K) + size_t(c)], b = full.logits[j * size_t(K) + size_t(c)];
            CHECK_MESSAGE(std::fabs(a - b) <= 1e-5f * (1.0f + std::fabs(b)), sub.result.paths[i], " class ", c);
        }
    }
}

// Runs o over the whole test set, then over all but `drop` of its images
// (--max-test, written to sub_out), and checks every kept image scores alike.
static void check_max_test_subset(EvaluateOptions o, const std::string& sub_out, size_t drop, int K) {
    EvaluateOutcome full = run_evaluate(o);
    const size_t n = full.result.paths.size();
    REQUIRE(n >= drop + 2);
    o.max_test = int64_t(n - drop);
    o.out_dir = sub_out;
    EvaluateOutcome sub = run_evaluate(o);
    REQUIRE(sub.result.paths.size() == n - drop);
    check_subset_scores(full, sub, K);
}

TEST_CASE("evaluate: an EMBED --max-test subset (whose images have partners) scores each image as the whole set") {
    TempDir full_out("embed_full"), sub_out("embed_sub");
    EvaluateOptions o = base_options("zeroshot", full_out.path.string());
    o.examples = 0;
    check_max_test_subset(o, sub_out.path.string(), 2, 4);
}

TEST_CASE("evaluate: an RSNA --max-test subset keeps RSNA's 1024 letterbox and prompt length") {
    // An RSNA folder from the fixture's synthetic images: 20 patients of one image each.
    TempDir rsna("rsna"), full_out("rsna_full"), sub_out("rsna_sub");
    EmbedOptions eo;
    eo.data_dir = fixture().data.path.string();
    eo.warnings = false;
    EmbedData data = load_embed(eo);
    REQUIRE(data.records.size() >= 20);
    std::string csv = "patient_id,image_id,laterality,view,cancer\n";
    for (int i = 0; i < 20; ++i) {
        const std::string patient = std::to_string(100 + i), image = std::to_string(i);
        fs::create_directories(rsna.path / "RSNA_MAMMO_1080_JPG" / patient);
        fs::copy_file(data.records[size_t(i)].image_path,
                      rsna.path / "RSNA_MAMMO_1080_JPG" / patient / (image + "_resized.jpg"));  // stb reads by content
        csv += patient + "," + image + ",L,CC," + std::to_string(i % 2) + "\n";
    }
    std::ofstream(rsna.path / "train.csv") << csv;
    EvaluateOptions o = base_options("zeroshot", full_out.path.string());
    o.task = "rsna";
    o.data_dir = rsna.path.string();
    o.examples = 0;
    check_max_test_subset(o, sub_out.path.string(), 1, 2);  // each image read and prompted alike
}

TEST_CASE("evaluate: linear probing trains the head only; fine-tuning trains the tower but not its final norm") {
    TempDir lin("linear"), ft("finetune");
    EvaluateOptions o = base_options("linear", lin.path.string());
    o.steps = 3;
    o.batch = 4;
    o.examples = 0;
    EvaluateOutcome r = run_evaluate(o);
    const int K = 4;
    std::vector<CsvRow> rows = read_predictions(lin.path / "predictions.csv", K);
    REQUIRE(rows.size() == r.result.labels.size());
    for (size_t n = 0; n < rows.size(); ++n) {
        double sum = 0;
        std::vector<double> z(r.logits.begin() + long(n * K), r.logits.begin() + long((n + 1) * K));
        std::vector<double> p = softmax_ref(z);  // the probe test uses a single softmax
        for (int c = 0; c < K; ++c) {
            sum += rows[n].probs[size_t(c)];
            CHECK(rows[n].probs[size_t(c)] == doctest::Approx(p[size_t(c)]).epsilon(1e-6));
        }
        CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
    }
    std::istringstream log(read_text(lin.path / "train_log.jsonl"));
    int lines = 0;
    for (std::string line; std::getline(log, line);) {
        json::Value j = json::parse(line);
        CHECK(j.at("step").as_int() == lines);
        CHECK(std::isfinite(j.at("loss").as_number()));
        CHECK(j.at("images").as_int() == 4);
        ++lines;
    }
    CHECK(lines == 3);
    auto head = nn::load_safetensors((lin.path / "probe.safetensors").string());
    REQUIRE(head.count("head.weight"));
    CHECK(head.at("head.weight").shape() == Shape{K, 32});  // tiny ViT width 32
    CHECK(!head.count("image.blocks.0.attn.qkv.weight"));

    o = base_options("finetune", ft.path.string());
    o.steps = 2;
    o.batch = 4;
    o.warmup = 0;
    o.lr = 0.05;
    o.examples = 1;  // drawn with the pretrained tower, which the local heads were trained with
    run_evaluate(o);
    CHECK(read_text(ft.path / "report.html").find("the pretrained image tower") != std::string::npos);
    // The same example's picture (image, heat map, colour bar) as zero-shot
    // draws it from the untouched checkpoint.
    TempDir zs("zeroshot_map");
    run_evaluate(base_options("zeroshot", zs.path.string()));
    auto figure = [&](const fs::path& report) {
        const std::string html = read_text(report);
        const size_t a = html.find("<figure class=\"example\">"), b = html.find("<figcaption>", a);
        REQUIRE(a != std::string::npos);
        REQUIRE(b != std::string::npos);
        return html.substr(a, b - a);
    };
    CHECK(figure(ft.path / "report.html") == figure(zs.path / "report.html"));
    auto tuned = nn::load_safetensors((ft.path / "probe.safetensors").string());
    auto before = nn::load_safetensors(fixture().checkpoint);
    auto differs = [&](const std::string& name) {
        return tuned.at("image." + name).to_vector() != before.at("model.image." + name).to_vector();
    };
    CHECK(differs("blocks.0.attn.qkv.weight"));
    CHECK(differs("patch_embed.proj.weight"));
    CHECK(!differs("norm.weight"));
    CHECK(!differs("norm.bias"));
}

TEST_CASE("evaluate: build/embed image and text embeddings have rows of norm 1 and name their inputs") {
    TempDir out("embed");
    EmbedOptions eo;
    eo.data_dir = fixture().data.path.string();
    eo.warnings = false;
    EmbedData data = load_embed(eo);
    REQUIRE(data.records.size() >= 3);
    std::string list = (out.path / "list.txt").string(), texts = (out.path / "texts.txt").string();
    std::ofstream(list) << data.records[1].image_path << "\n\n" << data.records[2].image_path << "\n";
    // (with a UTF-8 byte-order mark, as some editors write: not part of the first text)
    std::ofstream(texts) << "\xEF\xBB\xBFThe breast is extremely dense. Negative.\nBreast composition: fatty\n";
    EmbedToolOptions o;
    o.checkpoint = fixture().checkpoint;
    o.images = {data.records[0].image_path, list};
    o.texts_file = texts;
    o.out = (out.path / "e.safetensors").string();
    o.progress = false;
    run_embed(o);
    nn::SafeTensorsFile f = nn::SafeTensorsFile::open(o.out);
    Tensor img = f.load("image_embeddings"), txt = f.load("text_embeddings");
    REQUIRE(img.shape() == Shape{3, 16});  // tiny embed_dim 16
    REQUIRE(txt.shape() == Shape{2, 16});
    for (const Tensor& t : {img, txt}) {
        std::vector<float> v = t.to_vector();
        for (int64_t r = 0; r < t.size(0); ++r) {
            double n2 = 0;
            for (int64_t d = 0; d < 16; ++d) n2 += double(v[size_t(r * 16 + d)]) * v[size_t(r * 16 + d)];
            CHECK(std::sqrt(n2) == doctest::Approx(1.0).epsilon(1e-5));
        }
    }
    json::Value names = json::parse(f.metadata().at("images"));
    REQUIRE(names.size() == 3);
    CHECK(names[0].as_string() == data.records[0].image_path);
    CHECK(names[2].as_string() == data.records[2].image_path);
    CHECK(json::parse(f.metadata().at("texts"))[0].as_string() == "The breast is extremely dense. Negative.");
    CHECK(json::parse(f.metadata().at("texts"))[1].as_string() == "Breast composition: fatty");
    CHECK(f.metadata().at("text_pooling") == "first_pad");
    CHECK(f.metadata().at("texts_truncated") == "0");
    CHECK(f.metadata().at("texts_without_pad") == "0");
    // Different images give different rows (not one vector repeated).
    CHECK(img.to_vector()[0] != img.to_vector()[16]);

    CHECK(f.metadata().at("checkpoint") == fixture().checkpoint);

    // A text longer than train.max_len is counted as cut (with first-pad
    // pooling every such text would get the BOS state's embedding).
    {
        std::string long_text;
        for (int i = 0; i < 200; ++i) long_text += "Scattered fibroglandular densities. ";
        std::ofstream(texts) << long_text << "\nBreast composition: fatty\n";
        EmbedToolOptions cut = o;
        cut.images.clear();
        run_embed(cut);
        CHECK(nn::SafeTensorsFile::open(o.out).metadata().at("texts_truncated") == "1");
        CHECK(nn::SafeTensorsFile::open(o.out).metadata().at("texts_without_pad") == "1");
    }

    // Bad inputs are errors that name the problem.
    EmbedToolOptions bad = o;
    bad.images = {(out.path / "missing.png").string()};
    bad.texts_file.clear();
    CHECK_THROWS_WITH_AS(run_embed(bad), doctest::Contains("missing.png"), eng::Error);
    bad.checkpoint = (out.path / "nothing.safetensors").string();
    CHECK_THROWS_WITH_AS(run_embed(bad), doctest::Contains("no such file"), eng::Error);
    // --out naming the checkpoint would replace the model: refused, the file intact.
    bad = o;
    bad.out = o.checkpoint;
    const uintmax_t size = fs::file_size(o.checkpoint);
    CHECK_THROWS_WITH_AS(run_embed(bad), doctest::Contains("is the checkpoint itself"), eng::Error);
    CHECK(fs::file_size(o.checkpoint) == size);
}

// A copy of the fixture's run folder (checkpoint and tokenizer) to damage.
void copy_run(const fs::path& to) {
    fs::copy(fixture().run.path / "tokenizer", to / "tokenizer", fs::copy_options::recursive);
    fs::copy_file(fixture().checkpoint, to / "last.safetensors");
}

TEST_CASE("evaluate: an epoch of probe training is as many draws as training images, the last batch short") {
    // The reference's loader: WeightedRandomSampler(num_samples = N) with
    // drop_last=False.  With a batch that does not divide N the epoch ends in
    // a batch of N mod batch images (dropping it changed the protocol on small
    // training splits; a split smaller than the batch trained on batch-size draws).
    TempDir lin("epoch");
    EvaluateOptions o = base_options("linear", lin.path.string());
    o.batch = 5;
    o.steps = 40;  // more than one epoch of the fixture's training split
    o.examples = 0;
    run_evaluate(o);
    std::istringstream log(read_text(lin.path / "train_log.jsonl"));
    std::vector<int64_t> images;
    for (std::string line; std::getline(log, line);) images.push_back(json::parse(line).at("images").as_int());
    int64_t n_train = 0;
    for (int64_t i : images) {
        if (i != 5) break;
        n_train += 5;
    }
    REQUIRE(images.size() > size_t(n_train / 5));
    n_train += images[size_t(n_train / 5)];  // the epoch's last, short batch
    INFO("first epoch: ", n_train, " draws");
    CHECK(n_train % 5 != 0);
    CHECK(images[size_t(n_train / 5)] == n_train % 5);
}

TEST_CASE("evaluate: a run into an earlier evaluation's folder removes that run's outputs, and only those") {
    TempDir out("rerun");
    EvaluateOptions o = base_options("linear", out.path.string());
    o.steps = 2;
    o.batch = 4;
    o.examples = 0;
    run_evaluate(o);
    REQUIRE(fs::exists(out.path / "probe.safetensors"));
    fs::create_directories(out.path / "examples");
    for (const char* stale : {"examples/example_1.png", "examples/example_3.png", "examples/mine.png", "notes.txt"})
        std::ofstream(out.path / stale) << "x";
    // A rerun that is refused leaves everything as it was (the removal once
    // ran before the options were checked).
    o.batch = 100000;
    CHECK_THROWS_CONTAINING(run_evaluate(o), "more than 4 times");
    CHECK(fs::exists(out.path / "probe.safetensors"));
    CHECK(fs::exists(out.path / "metrics.json"));
    CHECK(fs::exists(out.path / "examples/example_3.png"));
    o = base_options("zeroshot", out.path.string());  // one example
    run_evaluate(o);
    CHECK(!fs::exists(out.path / "probe.safetensors"));
    CHECK(!fs::exists(out.path / "train_log.jsonl"));
    CHECK(fs::exists(out.path / "examples/example_0.png"));
    CHECK(!fs::exists(out.path / "examples/example_1.png"));
    CHECK(!fs::exists(out.path / "examples/example_3.png"));
    CHECK(fs::exists(out.path / "examples/mine.png"));  // not a name evaluate writes
    CHECK(fs::exists(out.path / "notes.txt"));
    CHECK(fs::exists(out.path / "metrics.json"));
    // A linked examples folder stays a link; its stale examples go.
    TempDir gallery("gallery"), linked("linked_out");
    std::ofstream(gallery.path / "example_7.png") << "x";
    std::ofstream(gallery.path / "keep.png") << "x";
    fs::create_directory_symlink(gallery.path, linked.path / "examples");
    o = base_options("zeroshot", linked.path.string());
    o.examples = 0;
    run_evaluate(o);
    CHECK(fs::is_symlink(linked.path / "examples"));
    CHECK(!fs::exists(gallery.path / "example_7.png"));
    CHECK(fs::exists(gallery.path / "keep.png"));
}

TEST_CASE("evaluate: a probe batch far beyond the training set is refused before any work") {
    TempDir out("bigbatch");
    EvaluateOptions o = base_options("linear", (out.path / "eval").string());
    o.steps = 1;
    o.batch = 100000000;
    CHECK_THROWS_WITH_AS(run_evaluate(o), doctest::Contains("more than 4 times"), eng::Error);
}

TEST_CASE("evaluate: a checkpoint beside another run's tokenizer of the same size is refused") {
    TempDir run("swapped");
    copy_run(run.path);
    // Cut merges.txt in half: the vocabulary (and so the size check) is unchanged,
    // the token ids of most words are not.
    const fs::path merges = run.path / "tokenizer" / "merges.txt";
    const std::string text = read_text(merges);
    std::ofstream(merges, std::ios::trunc) << text.substr(0, text.find('\n', text.size() / 2) + 1);
    const std::string ckpt = (run.path / "last.safetensors").string();
    CHECK_THROWS_WITH_AS(load_run(ckpt), doctest::Contains("not the one this model was trained with"), eng::Error);
    EvaluateOptions o = base_options("zeroshot", (run.path / "eval").string());
    o.checkpoint = ckpt;
    CHECK_THROWS_WITH_AS(run_evaluate(o), doctest::Contains("not the one this model was trained with"), eng::Error);
}

TEST_CASE("evaluate: build/embed refuses to write embeddings from NaN weights") {
    TempDir run("nan");
    copy_run(run.path);
    const std::string ckpt = (run.path / "last.safetensors").string();
    {
        nn::SafeTensorsFile f = nn::SafeTensorsFile::open(fixture().checkpoint);
        std::vector<std::pair<std::string, Tensor>> tensors;
        for (const std::string& name : f.names()) {
            Tensor t = f.load(name);
            if (name == "model.image_proj.weight") t = full(t.shape(), NAN);
            tensors.emplace_back(name, t);
        }
        auto md = f.metadata();
        md.erase("checksums");  // as a file written before checksums were recorded: NaN weights, no damage
        nn::save_safetensors(ckpt, tensors, md);
    }
    EmbedData data = load_embed([] {
        EmbedOptions eo;
        eo.data_dir = fixture().data.path.string();
        eo.warnings = false;
        return eo;
    }());
    EmbedToolOptions o;
    o.checkpoint = ckpt;
    o.images = {data.records[0].image_path};
    o.out = (run.path / "e.safetensors").string();
    o.progress = false;
    CHECK_THROWS_WITH_AS(run_embed(o), doctest::Contains("non-finite"), eng::Error);
    CHECK_FALSE(fs::exists(o.out));
    // build/evaluate names the checkpoint too (the metrics would only name a sample).
    EvaluateOptions e = base_options("zeroshot", (run.path / "eval").string());
    e.checkpoint = ckpt;
    e.examples = 0;
    CHECK_THROWS_CONTAINING(run_evaluate(e), "gave non-finite values");
}

TEST_CASE("evaluate: a run's GPU-only train.precision falls back to fp32 on the CPU; an explicit one is checked") {
    // The fixture's config as a GPU run with tf32 products would store it.
    std::ifstream in("mama/configs/tiny.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto replace = [&](const std::string& from, const std::string& to) {
        const size_t at = text.find(from);
        REQUIRE(at != std::string::npos);
        text.replace(at, from.size(), to);
    };
    replace("\"train\": {", "\"train\": {\"device\": \"cuda\", \"precision\": \"tf32\",");
    replace("\"positions\": 96", "\"positions\": 256");
    replace("\"max_len\": 96", "\"max_len\": 256");
    TempDir dir("precision");
    const std::string config = (dir.path / "config.json").string();
    std::ofstream(config) << text;
    // Start from bf16 where the CPU has it, so that fp32 afterwards shows load_run set it.
    if (cpu::gemm_bf16_supported()) cpu::set_gemm_precision(cpu::GemmPrecision::bf16);
    LoadedRun run = load_run(fixture().checkpoint, config);  // on the CPU: a note, then fp32
    CHECK(run.config.train.precision == "tf32");
    CHECK(cpu::gemm_precision() == cpu::GemmPrecision::fp32);
    CHECK_THROWS_CONTAINING(load_run(fixture().checkpoint, config, "", "cpu", "tf32"), "tf32 exists only on the GPU");
    // ... before the weights are read: a damaged copy is refused for the
    // precision, not for its checksum (which reading the weights would find).
    const fs::path damaged = dir.path / "damaged.safetensors";
    fs::copy_file(fixture().checkpoint, damaged);
    {
        std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(-16, std::ios::end);
        char c = 0;
        f.read(&c, 1);
        c = char(c ^ 0x40);
        f.seekp(-16, std::ios::end);
        f.write(&c, 1);
    }
    fs::create_directories(dir.path / "tokenizer");
    for (const auto& e : fs::directory_iterator(fs::path(fixture().checkpoint).parent_path() / "tokenizer"))
        fs::copy_file(e.path(), dir.path / "tokenizer" / e.path().filename());
    CHECK_THROWS_CONTAINING(load_run(damaged.string(), config, "", "cpu", "fp32"), "checksum");
    CHECK_THROWS_CONTAINING(load_run(damaged.string(), config, "", "cpu", "tf32"), "tf32 exists only on the GPU");
}

TEST_CASE("evaluate: --precision bf16-true evaluates with the weights rounded to bf16") {
    LoadedRun f32 = load_run(fixture().checkpoint, "", "", "cpu", "fp32");
    LoadedRun pure = load_run(fixture().checkpoint, "", "", "cpu", "bf16-true");
    const bool was_on = bf16_true();
    set_matmul_precision(Device::CPU, "fp32");  // the rest of the suite runs without rounding
    CHECK(was_on);
    auto exact = f32.model->named_parameters(), rounded = pure.model->named_parameters();
    REQUIRE(exact.size() == rounded.size());
    int moved = 0;
    for (size_t i = 0; i < exact.size(); ++i) {
        std::vector<float> a = exact[i].second->to_vector(), b = rounded[i].second->to_vector();
        for (size_t j = 0; j < a.size(); ++j) REQUIRE(b[j] == round_to_bf16(a[j]));
        moved += a != b;
    }
    CHECK(moved > 10);  // the fixture's trained weights are not bf16 numbers
}

TEST_CASE("evaluate: a bad --device, or cuda without a usable GPU, is a clear error") {
    CHECK_THROWS_CONTAINING(load_run(fixture().checkpoint, "", "", "tpu"), "--device must be cpu or cuda");
    if (!cuda::is_available())  // tests/cuda/test_cuda_mama.cpp evaluates there
        CHECK_THROWS_CONTAINING(load_run(fixture().checkpoint, "", "", "cuda"), "--device cuda");
}
