// test_pretrain.cpp: the pretraining run end to end on a tiny synthetic
// dataset: it trains, writes its log and checkpoints, and a resumed run
// continues bit-exactly (2N steps == N steps + resume + N steps), also in
// bf16-true; the reference-check mode writes the losses, embeddings and gradients.
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "autograd/ops.h"
#include "mama/pretrain.h"
#include "nn/gpt2.h"
#include "nn/layers.h"
#include "nn/linear.h"
#include "mama/pretrain_guards.h"
#include "mama/pretrain_resume.h"
#include "mama/pretrain_validate.h"
#include "nn/safetensors.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cuda_backend.h"
#include "tensor/precision.h"
#include "tests/testing.h"
#include "tests/mama/pretrain_testing.h"
#include "tests/temp_dir.h"

using namespace eng;
using namespace mama;
namespace fs = std::filesystem;

namespace {

using testing::TempDir;

RunConfig tiny(const std::string& out, int64_t steps) { return testing::tiny_run_config(out, steps); }

// Quiet options that pause the run after `step` (a chunk of a longer run).
PretrainOptions paused_at(int64_t step) {
    PretrainOptions o;
    o.quiet = true;
    o.stop_at = step;
    return o;
}

// Checks that two runs' last checkpoints hold bit-identical model tensors (and
// optimiser state when asked); returns how many tensors were compared.
int compare_last_checkpoints(const fs::path& a, const fs::path& b, bool with_optimizer) {
    auto full = nn::load_safetensors((a / "last.safetensors").string());
    auto res = nn::load_safetensors((b / "last.safetensors").string());
    CHECK(full.size() == res.size());
    int compared = 0;
    for (auto& [k, v] : full) {
        if (k.rfind("model.", 0) != 0 && !(with_optimizer && k.rfind("optim.", 0) == 0)) continue;
        REQUIRE_MESSAGE(res.count(k), k);
        CHECK_MESSAGE(v.to_vector() == res.at(k).to_vector(), k);
        ++compared;
    }
    return compared;
}

}  // namespace

TEST_CASE("pretrain: 2N steps equal N steps + resume + N steps, bit for bit") {
    TempDir a("full"), b("resumed");
    PretrainOptions quiet;
    quiet.quiet = true;
    REQUIRE(run_pretrain(tiny(a.path.string(), 4), quiet) == 0);
    REQUIRE(run_pretrain(tiny(b.path.string(), 4), paused_at(2)) == 0);  // --stop-at 2: a chunk, exit 0
    CHECK(nn::SafeTensorsFile::open((b.path / "last.safetensors").string()).metadata().at("step") == "2");
    PretrainOptions resume = quiet;
    resume.resume = true;
    REQUIRE(run_pretrain(tiny(b.path.string(), 4), resume) == 0);
    CHECK(compare_last_checkpoints(a.path, b.path, true) > 50);
    // The log has one line per step (plus validation lines) and the losses are finite.
    std::ifstream log(a.path / "log.jsonl");
    std::string line;
    int steps = 0;
    while (std::getline(log, line))
        if (line.find("\"loss\":") != std::string::npos) {
            ++steps;
            CHECK(line.find("nan") == std::string::npos);
        }
    CHECK(steps == 4);
    CHECK(fs::exists(a.path / "tokenizer" / "vocab.json"));
}

TEST_CASE("pretrain: a run started from an init file resumes exactly after that file is gone") {
    TempDir a("full"), b("resumed"), init("init");
    const std::string init_path = (init.path / "text.safetensors").string();
    auto config = [&](const std::string& out, int64_t steps) {
        return testing::tiny_run_config(out, steps, {{"model.text.vocab", "256"},
                                                     {"train.init_text", "\"" + init_path + "\""}});
    };
    {  // the "pretrained" text tower: a GPT-2 of the config's shape with its own random weights
        Generator g(99);
        nn::GPT2Model gpt(config(a.path.string(), 4).model.text, &g);
        std::vector<std::pair<std::string, Tensor>> named;
        for (auto& [k, v] : gpt.state_dict()) named.emplace_back(k, v);
        nn::save_safetensors(init_path, named);
    }
    PretrainOptions quiet;
    quiet.quiet = true;
    REQUIRE(run_pretrain(config(a.path.string(), 4), quiet) == 0);
    REQUIRE(run_pretrain(config(b.path.string(), 4), paused_at(2)) == 0);
    fs::remove(init_path);
    PretrainOptions resume = quiet;
    resume.resume = true;
    REQUIRE(run_pretrain(config(b.path.string(), 4), resume) == 0);
    CHECK(compare_last_checkpoints(a.path, b.path, true) > 50);
    // A new run does need the file, and says which one is missing.
    TempDir c("new");
    CHECK_THROWS_CONTAINING(run_pretrain(config(c.path.string(), 2), quiet), "text.safetensors");
}

TEST_CASE("pretrain: validation after the step before late_start counts the late losses, as Lightning's") {
    // Lightning validates after the update, at global_step = step + 1.  Two
    // runs whose first two steps are identical (both before their late start)
    // validate after step 2: with late_start 2 that validation has all nine
    // cross-entropy terms, with late_start 3 only CLIP's two.
    auto val_loss = [](const fs::path& log) {
        std::ifstream in(log);
        std::string line;
        while (std::getline(in, line)) {
            const size_t at = line.find("\"val_loss\":");
            if (at != std::string::npos) return std::stod(line.substr(at + 11));
        }
        return -1.0;
    };
    TempDir a("late2"), b("late3");
    PretrainOptions quiet;
    quiet.quiet = true;
    REQUIRE(run_pretrain(testing::tiny_run_config(a.path.string(), 2, {{"model.late_start", "2"}}), quiet) == 0);
    REQUIRE(run_pretrain(testing::tiny_run_config(b.path.string(), 2, {{"model.late_start", "3"}}), quiet) == 0);
    const std::vector<double> la = testing::logged_losses(a.path / "log.jsonl"), lb = testing::logged_losses(b.path / "log.jsonl");
    REQUIRE(la.size() == 2);
    CHECK(la == lb);  // the same training
    const double with_late = val_loss(a.path / "log.jsonl"), clip_only = val_loss(b.path / "log.jsonl");
    REQUIRE(clip_only > 0);
    CHECK(with_late > clip_only + 1.0);  // seven more cross-entropy terms, each about ln(batch) or more
}

TEST_CASE("pretrain: a validation split smaller than one micro-batch is validated as one batch") {
    EmbedOptions eo;
    eo.data_dir = testing::tiny_dataset_dir();
    eo.warnings = false;
    const EmbedData data = load_embed(eo);
    const int64_t train = embed_dataset(data, Split::Train, EmbedTask::Birads).size();
    const int64_t valid = embed_dataset(data, Split::Valid, EmbedTask::Birads).size();
    REQUIRE(valid >= 2);
    REQUIRE(valid + 1 <= train);
    TempDir a("smallval");
    PretrainOptions quiet;
    quiet.quiet = true;
    REQUIRE(run_pretrain(testing::tiny_run_config(a.path.string(), 1, {{"train.micro_batch", std::to_string(valid + 1)},
                                                                       {"train.accumulate", "1"}}),
                         quiet) == 0);
    std::ifstream in(a.path / "log.jsonl");
    std::string line;
    int validations = 0;
    while (std::getline(in, line)) validations += line.find("\"val_loss\":") != std::string::npos;
    CHECK(validations == 1);
    CHECK(fs::exists(a.path / "best.safetensors"));
}

TEST_CASE("pretrain: a missing train.data_dir is refused before anything is written") {
    TempDir root("nodata");
    const fs::path out = root.path / "run";
    RunConfig c = testing::tiny_run_config(out.string(), 2,
                                           {{"train.data_dir", "\"" + (root.path / "absent").string() + "\""}});
    PretrainOptions quiet;
    quiet.quiet = true;
    CHECK_THROWS_CONTAINING(run_pretrain(c, quiet), "train.data_dir '" + (root.path / "absent").string() +
                                                        "' does not exist. HINT: make synthetic data with build/synth");
    CHECK_FALSE(fs::exists(out));
}

TEST_CASE("pretrain: train.device cuda without a usable GPU is a clear error") {
    if (cuda::is_available()) return;  // tests/cuda/test_cuda_mama.cpp trains there
    TempDir out("nogpu");
    PretrainOptions quiet;
    quiet.quiet = true;
    CHECK_THROWS_CONTAINING(run_pretrain(testing::tiny_run_config(out.path.string(), 1, {{"train.device", "cuda"}}), quiet),
                            "pretrain with train.device cuda");
}

TEST_CASE("pretrain: train.precision bf16 on the CPU follows the fp32 run") {
    TempDir a("fp32"), b("bf16");
    PretrainOptions quiet;
    quiet.quiet = true;
    auto bf16 = [](const std::string& out) {
        return testing::tiny_run_config(out, 4, {{"train.precision", "\"bf16\""}});
    };
    if (!cpu::gemm_bf16_supported()) {
        CHECK_THROWS_CONTAINING(run_pretrain(bf16(b.path.string()), quiet), "AVX512-BF16");
        return;
    }
    REQUIRE(run_pretrain(tiny(a.path.string(), 4), quiet) == 0);
    CHECK(cpu::gemm_precision() == cpu::GemmPrecision::fp32);  // auto means fp32 on the CPU
    const int bf16_status = run_pretrain(bf16(b.path.string()), quiet);
    const bool was_bf16 = cpu::gemm_precision() == cpu::GemmPrecision::bf16;
    cpu::set_gemm_precision(cpu::GemmPrecision::fp32);  // the rest of the suite runs in fp32
    REQUIRE(bf16_status == 0);
    CHECK(was_bf16);
    const std::vector<double> l32 = testing::logged_losses(a.path / "log.jsonl"),
                              l16 = testing::logged_losses(b.path / "log.jsonl");
    REQUIRE(l32.size() == 4);
    REQUIRE(l16.size() == 4);
    double moved = 0;
    for (size_t i = 0; i < 4; ++i) {
        // bf16 operands (8-bit significands) move the first loss (the same
        // weights) by well under 1 %; after AdamW steps, whose normalised
        // updates amplify small gradient differences, the runs drift apart
        // slowly (1.1 % at step 3 here).
        const double tol = i == 0 ? 1e-2 : 5e-2;
        CHECK_MESSAGE(std::fabs(l16[i] - l32[i]) <= tol * std::fabs(l32[i]),
                      "step " << i << ": bf16 loss " << l16[i] << ", fp32 " << l32[i]);
        moved += std::fabs(l16[i] - l32[i]);
    }
    CHECK(moved > 0);  // the products really ran in bf16
}

TEST_CASE("pretrain: train.precision bf16-true keeps every weight and state a bf16 number and resumes exactly") {
    TempDir a("fp32"), b("pure"), c("pure_resumed");
    PretrainOptions quiet;
    quiet.quiet = true;
    auto pure = [](const std::string& out, int64_t steps) {
        return testing::tiny_run_config(out, steps, {{"train.precision", "\"bf16-true\""}});
    };
    REQUIRE(run_pretrain(tiny(a.path.string(), 4), quiet) == 0);
    int status = run_pretrain(pure(b.path.string(), 4), quiet);
    const bool was_on = bf16_true();
    if (status == 0) status = run_pretrain(pure(c.path.string(), 4), paused_at(2));
    PretrainOptions resume = quiet;
    resume.resume = true;
    if (status == 0) status = run_pretrain(pure(c.path.string(), 4), resume);
    set_matmul_precision(Device::CPU, "fp32");  // the rest of the suite runs in fp32, without rounding
    REQUIRE(status == 0);
    CHECK(was_on);
    auto full = nn::load_safetensors((b.path / "last.safetensors").string());
    auto res = nn::load_safetensors((c.path / "last.safetensors").string());
    auto f32 = nn::load_safetensors((a.path / "last.safetensors").string());
    int compared = 0, not_bf16 = 0, differs_from_fp32 = 0;
    for (auto& [k, v] : full) {
        if (k.rfind("model.", 0) != 0 && k.rfind("optim.", 0) != 0) continue;
        REQUIRE_MESSAGE(res.count(k), k);
        const std::vector<float> values = v.to(DType::f32).to_vector();
        CHECK_MESSAGE(values == res.at(k).to(DType::f32).to_vector(), k);
        for (float x : values)
            if (round_to_bf16(x) != x) {
                ++not_bf16;
                break;
            }
        if (f32.count(k) && f32.at(k).to(DType::f32).to_vector() != values) ++differs_from_fp32;
        ++compared;
    }
    CHECK(compared > 50);
    CHECK(not_bf16 == 0);
    CHECK(differs_from_fp32 > 50);
    // The same initial weights, rounded: the first losses agree to bf16's
    // resolution (a few parts in a thousand through the whole model).
    const std::vector<double> l32 = testing::logged_losses(a.path / "log.jsonl"),
                              lb = testing::logged_losses(b.path / "log.jsonl");
    REQUIRE(l32.size() == 4);
    REQUIRE(lb.size() == 4);
    for (double l : lb) CHECK(std::isfinite(l));
    CHECK(std::fabs(lb[0] - l32[0]) <= 2e-2 * std::fabs(l32[0]));
    CHECK(lb[0] != l32[0]);
}

TEST_CASE("pretrain: reference-check mode dumps losses, embeddings and every trainable gradient") {
    TempDir dir("check");
    RunConfig rc = tiny(dir.path.string(), 1);
    Generator g(9);
    MamaModel model(rc.model, 120, &g);
    std::vector<std::pair<std::string, Tensor>> w;
    for (auto& [k, v] : model.state_dict()) w.emplace_back(k, v);
    std::string init = (dir.path / "w.safetensors").string(), batch = (dir.path / "b.safetensors").string(),
                dump = (dir.path / "d.safetensors").string();
    nn::save_safetensors(init, w);
    int64_t B = 3, T = 20;
    std::vector<int32_t> ids, mask;
    for (int64_t m = 0; m < B; ++m)
        for (int64_t t = 0; t < T; ++t) {
            bool real = t < T - 3;
            ids.push_back(!real ? 6 : (t % 5 == 4 ? 5 : int32_t(10 + (m * 7 + t) % 90)));
            mask.push_back(real ? 1 : 0);
        }
    Tensor images = expand(randn({B, 1, 28, 28}, &g), {B, 3, 28, 28}).contiguous();
    Tensor partners = expand(randn({B, 1, 28, 28}, &g), {B, 3, 28, 28}).contiguous();
    nn::save_safetensors(batch, {{"images", images}, {"partner_images", partners}, {"input_ids", from_ivector(ids, {B, T})},
                                 {"attention_mask", from_ivector(mask, {B, T})}, {"sep_token_id", from_ivector({5}, {})},
                                 {"pad_token_id", from_ivector({6}, {})}, {"step", from_ivector({100}, {})}});
    REQUIRE(run_reference_check(rc, init, batch, dump) == 0);
    auto d = nn::load_safetensors(dump);
    // Recompute directly: same weights, same batch, dropout already 0 in tiny.json.
    MamaBatch mb{images, partners, from_ivector(ids, {B, T}), from_ivector(mask, {B, T}), 5, 6};
    model.train();
    model.apply_schedule(100);
    MamaLosses l = model.forward(mb, 100);
    backward(l.total);
    CHECK(d.at("loss.total").item() == doctest::Approx(l.total.item()).epsilon(1e-6));
    CHECK(d.at("loss.sla").item() == doctest::Approx(l.sla.item()).epsilon(1e-6));
    CHECK(d.at("loss.clip").item() > 0.0f);
    CHECK_CLOSE(d.at("emb.image"), l.image_emb, 1e-6, 1e-5);
    CHECK_CLOSE(d.at("emb.text"), l.text_emb, 1e-6, 1e-5);
    int grads = 0;
    for (auto& [name, p] : model.named_parameters()) {
        if (!p->requires_grad()) {
            CHECK_MESSAGE(!d.count("grad." + name), name);
            continue;
        }
        REQUIRE_MESSAGE(d.count("grad." + name), name);
        CHECK_CLOSE(d.at("grad." + name), p->grad(), 1e-6, 1e-4);
        ++grads;
    }
    CHECK(d.count("grad.logit_scale"));
    CHECK(d.count("grad.text.transformer.h.0.attn.c_attn.lora_A.weight"));
    CHECK(!d.count("grad.text.transformer.wte.weight"));
    CHECK(grads > 20);
}

TEST_CASE("pretrain: --resume refuses changed settings that alter the run, unless told, and accepts the others") {
    TempDir a("settings");
    PretrainOptions quiet;
    quiet.quiet = true;
    REQUIRE(run_pretrain(tiny(a.path.string(), 1), quiet) == 0);
    PretrainOptions resume = quiet;
    resume.resume = true;
    // The learning rate and the seed change what is computed: refused, both named.
    auto changed = testing::tiny_run_config(a.path.string(), 2, {{"train.lr", "0.5"}, {"train.seed", "8"}});
    CHECK_THROWS_CONTAINING(run_pretrain(changed, resume), "train.lr: 0.001 in the checkpoint, 0.5 now");
    CHECK_THROWS_CONTAINING(run_pretrain(changed, resume), "train.seed");
    // A bigger global batch (micro_batch x accumulate x ranks) is refused too.
    auto bigger = testing::tiny_run_config(a.path.string(), 2, {{"train.accumulate", "3"}});
    CHECK_THROWS_CONTAINING(run_pretrain(bigger, resume), "the global batch");
    // The length of a cosine schedule is refused too: it bends the learning rate of the remaining steps.
    CHECK_THROWS_CONTAINING(run_pretrain(tiny(a.path.string(), 2), resume),
                            "train.steps: 1 in the checkpoint, 2 now (the length of the learning-rate schedule)");
    // The workers and the logging may change (as may where the data is).
    auto moved = testing::tiny_run_config(a.path.string(), 1, {{"train.workers", "1"}, {"train.log_every", "5"}});
    CHECK(run_pretrain(moved, resume) == 0);
    PretrainOptions forced = resume;
    forced.allow_config_change = true;
    CHECK(run_pretrain(testing::tiny_run_config(a.path.string(), 3, {{"train.lr", "0.5"}}), forced) == 0);
    const auto changes = resume_config_changes(
        nn::SafeTensorsFile::open((a.path / "last.safetensors").string()).metadata().at("config"),
        testing::tiny_run_config(a.path.string(), 9, {{"train.clip_grad", "0.25"}}).json, true);
    REQUIRE(changes.size() == 3);  // clip_grad, lr (the file was saved by the forced run), steps; sorted
    CHECK(changes[0].key == "train.clip_grad");
    CHECK(changes[0].saved == "(not set)");
    CHECK(changes[0].now == "0.25");
    CHECK_FALSE(changes[0].allowed);
    CHECK(changes[1].key == "train.lr");
    CHECK_FALSE(changes[1].allowed);
    CHECK(changes[2].key == "train.steps");
    CHECK_FALSE(changes[2].allowed);  // the cosine schedule's length
    // With a constant learning rate the number of steps is just where the run ends.
    const auto constant = resume_config_changes(
        nn::SafeTensorsFile::open((a.path / "last.safetensors").string()).metadata().at("config"),
        testing::tiny_run_config(a.path.string(), 9, {{"train.lr", "0.5"}, {"train.schedule", "\"constant\""}}).json,
        true);
    REQUIRE(constant.size() == 2);  // schedule (refused: it changes the rates), steps
    CHECK(constant[0].key == "train.schedule");
    CHECK_FALSE(constant[0].allowed);
    CHECK(constant[1].key == "train.steps");
    CHECK(constant[1].allowed);
    // Another accumulate with the global batch kept is another number of ranks:
    // allowed with per-rank negatives, refused when negatives are gathered
    // across the ranks (their number would change the loss).
    std::map<std::string, std::string> md = nn::SafeTensorsFile::open((a.path / "last.safetensors").string()).metadata();
    md["config"] = json::dump(testing::tiny_run_config(a.path.string(), 3, {{"train.lr", "0.5"}, {"train.accumulate", "2"}}).json);
    md["extra.global_batch"] = "8";
    const json::Value ranks_doubled =
        testing::tiny_run_config(a.path.string(), 3, {{"train.lr", "0.5"}, {"train.accumulate", "1"}}).json;
    CHECK_NOTHROW(check_resume_config(md, ranks_doubled, 8, false, false, false));
    CHECK_THROWS_CONTAINING(check_resume_config(md, ranks_doubled, 8, true, false, false),
                            "train.accumulate: 2 in the checkpoint, 1 now (another number of ranks");
}

TEST_CASE("pretrain: a resumed run logs each step once, and refuses a tokenizer that changed") {
    TempDir a("log");
    PretrainOptions quiet;
    quiet.quiet = true;
    // The uninterrupted 3 steps (a), against a run (b) checkpointed after 2
    // steps whose log then got a line for step 3 before it died: the resume
    // runs step 3 again and must replace that line, not add a second one.
    REQUIRE(run_pretrain(testing::tiny_run_config(a.path.string(), 3), quiet) == 0);
    TempDir b("log2");
    REQUIRE(run_pretrain(testing::tiny_run_config(b.path.string(), 3), paused_at(2)) == 0);
    {
        std::ofstream extra(b.path / "log.jsonl", std::ios::app);
        extra << "{\"step\":2,\"loss\":1.0}\n";  // a step logged after the checkpoint, then the run died
    }
    PretrainOptions resume = quiet;
    resume.resume = true;
    REQUIRE(run_pretrain(testing::tiny_run_config(b.path.string(), 3), resume) == 0);
    const std::vector<double> full = testing::logged_losses(a.path / "log.jsonl"),
                              resumed = testing::logged_losses(b.path / "log.jsonl");
    REQUIRE(resumed.size() == 3);
    CHECK(resumed == full);  // the same losses, each once (the stray line is gone)
    // Truncated merges: the same vocabulary size, other token ids: refused.
    const fs::path merges = b.path / "tokenizer" / "merges.txt";
    std::string text;
    {
        std::ifstream in(merges);
        text.assign(std::istreambuf_iterator<char>(in), {});
    }
    REQUIRE(text.size() > 200);
    {
        std::ofstream out(merges, std::ios::trunc);
        out << text.substr(0, text.find('\n', text.size() / 2) + 1);
    }
    CHECK_THROWS_CONTAINING(run_pretrain(testing::tiny_run_config(b.path.string(), 3), resume),
                            "the tokenizer differs");
}

TEST_CASE("pretrain guards: gradients_finite and first_non_finite see one NaN or infinity anywhere") {
    nn::Linear lin(3, 2, true);
    nn::BatchNorm1d bn(2);
    std::vector<Tensor*> params = lin.parameters();
    CHECK(gradients_finite(params));  // no gradients yet
    lin.weight.set_grad(full({2, 3}, 0.5f));
    lin.bias.set_grad(zeros({2}));
    CHECK(gradients_finite(params));
    Tensor g = full({2}, 1.0f);
    g.data<float>()[1] = INFINITY;
    lin.bias.set_grad(g);
    CHECK_FALSE(gradients_finite(params));
    g.data<float>()[1] = NAN;
    CHECK_FALSE(gradients_finite(params));
    CHECK(first_non_finite(lin) == "");
    lin.weight.data<float>()[4] = NAN;
    CHECK(first_non_finite(lin) == "weight");
    CHECK(first_non_finite(bn) == "");
    for (auto& [name, t] : bn.named_buffers())
        if (name == "running_var") t->data<float>()[0] = -INFINITY;
    CHECK(first_non_finite(bn) == "running_var");  // buffers too
}

TEST_CASE("pretrain: weights blown up by an absurd learning rate stop the run; no checkpoint holds NaN") {
    TempDir a("blowup");
    PretrainOptions quiet;
    quiet.quiet = true;
    // The loss stays finite a step longer than the weights and the BatchNorm
    // statistics: the guard before each checkpoint stops the run.
    const int status = run_pretrain(
        testing::tiny_run_config(a.path.string(), 8, {{"train.lr", "1e6"}, {"train.checkpoint_every", "1"}}), quiet);
    CHECK(status == 3);
    REQUIRE(fs::exists(a.path / "last.safetensors"));  // the steps before the blow-up were saved
    for (auto& [k, v] : nn::load_safetensors((a.path / "last.safetensors").string())) {
        if (v.dtype() == DType::i32) continue;
        int64_t bad = 0;
        for (float x : v.to(DType::f32).to_vector()) bad += !std::isfinite(x);
        CHECK_MESSAGE(bad == 0, k << " holds " << bad << " non-finite values");
    }
}

TEST_CASE("pretrain validation: top-k retrieval of the diagonal, and metrics oriented larger-is-better") {
    // Row 0: its match is the best; row 1: second best; row 2: third (of 3);
    // a tie with the diagonal does not push it down.
    const Tensor S = from_vector({0.9f, 0.1f, 0.2f,    //
                                  0.8f, 0.5f, 0.1f,    //
                                  0.7f, 0.6f, 0.1f},   //
                                 {3, 3});
    CHECK(topk_diagonal(S, 1) == doctest::Approx(1.0 / 3.0));
    CHECK(topk_diagonal(S, 2) == doctest::Approx(2.0 / 3.0));
    CHECK(topk_diagonal(S, 3) == 1.0);
    CHECK(topk_diagonal(from_vector({0.5f, 0.5f, 0.5f, 0.5f}, {2, 2}), 1) == 1.0);
    ValResult v;
    v.loss = 2.5, v.i2t1 = 0.25, v.i2t5 = 0.75, v.t2i1 = 0.125, v.t2i5 = 0.5;
    CHECK(metric_of(v, "val_loss") == -2.5);  // a lower loss is better
    CHECK(metric_of(v, "val_i2t_top1") == 0.25);
    CHECK(metric_of(v, "val_i2t_top5") == 0.75);
    CHECK(metric_of(v, "val_t2i_top1") == 0.125);
    CHECK(metric_of(v, "val_t2i_top5") == 0.5);
}

TEST_CASE("pretrain: every train.best_metric name has a value (the config's list and the loop's agree)") {
    for (const std::string& name : best_metric_names()) {
        CAPTURE(name);
        TempDir a("metric");
        PretrainOptions quiet;
        quiet.quiet = true;
        CHECK(run_pretrain(testing::tiny_run_config(a.path.string(), 1, {{"train.best_metric", "\"" + name + "\""}}),
                           quiet) == 0);
        CHECK(fs::exists(a.path / "best.safetensors"));
    }
}

TEST_CASE("pretrain guards: a real SIGINT raises the stop flag while the guard lives, and only then") {
    struct sigaction before = {};
    sigaction(SIGINT, nullptr, &before);  // (doctest's own crash handler, or the default)
    {
        StopOnSignal guard;
        CHECK_FALSE(StopOnSignal::requested());
        ::raise(SIGINT);  // handled: the process goes on
        CHECK(StopOnSignal::requested());  // (a second signal would end the process: not sent here)
    }
    CHECK_FALSE(StopOnSignal::requested());
    struct sigaction now = {};
    sigaction(SIGINT, nullptr, &now);
    CHECK(bool(now.sa_handler == before.sa_handler));  // the previous disposition is back
    // An ignored SIGINT (a background job) stays ignored.
    signal(SIGINT, SIG_IGN);
    {
        StopOnSignal guard;
        ::raise(SIGINT);
        CHECK_FALSE(StopOnSignal::requested());
    }
    sigaction(SIGINT, &before, nullptr);
    // SIGUSR1 and SIGUSR2 (what mpirun forwards to the ranks) and SIGTERM stop alike.
    for (int sig : {SIGTERM, SIGUSR1, SIGUSR2}) {
        CAPTURE(sig);
        StopOnSignal guard;
        ::raise(sig);  // without the handler, the default action would end the test program
        CHECK(StopOnSignal::requested());
    }
    CHECK_FALSE(StopOnSignal::requested());
}

TEST_CASE("pretrain: a stop request (Ctrl-C, SIGTERM) finishes the step, saves it, and --resume continues exactly") {
    TempDir a("full"), b("stopped");
    PretrainOptions quiet;
    quiet.quiet = true;
    REQUIRE(run_pretrain(tiny(a.path.string(), 3), quiet) == 0);
    StopOnSignal::request();  // as if the signal came during the first step
    CHECK(run_pretrain(tiny(b.path.string(), 3), quiet) == 130);
    CHECK_FALSE(StopOnSignal::requested());  // the request ended with its run
    CHECK(nn::SafeTensorsFile::open((b.path / "last.safetensors").string()).metadata().at("step") == "1");
    PretrainOptions resume = quiet;
    resume.resume = true;
    REQUIRE(run_pretrain(tiny(b.path.string(), 3), resume) == 0);
    CHECK(compare_last_checkpoints(a.path, b.path, true) > 50);
    CHECK(testing::logged_losses(b.path / "log.jsonl") == testing::logged_losses(a.path / "log.jsonl"));
}

TEST_CASE("pretrain resume: a checkpoint's log length must be a whole byte count") {
    TempDir d("logbytes");
    const std::string log = (d.path / "log.jsonl").string();
    std::ofstream(log) << "0123456789abcdef";
    // "12abc" read as 12 would have cut the log there.
    for (const char* bad : {"12abc", "-3", "", " 12"})
        CHECK_THROWS_CONTAINING(truncate_log_for_resume({{"extra.log_bytes", bad}}, log), "is not a byte count");
    truncate_log_for_resume({{"extra.log_bytes", "10"}}, log);
    CHECK(fs::file_size(log) == 10);
}

TEST_CASE("pretrain: a resumed checkpoint's extra.best must be a number (NaN would block every later best)") {
    TempDir a("best_nan");
    REQUIRE(run_pretrain(testing::tiny_run_config(a.path.string(), 2), paused_at(1)) == 0);
    const std::string last = (a.path / "last.safetensors").string();
    std::map<std::string, std::string> md;
    std::vector<std::pair<std::string, Tensor>> tensors;
    {
        nn::SafeTensorsFile f = nn::SafeTensorsFile::open(last);
        md = f.metadata();
        for (const std::string& n : f.names()) tensors.emplace_back(n, f.load(n));
    }
    md["extra.best"] = "nan";
    nn::save_safetensors(last, tensors, md);
    PretrainOptions resume;
    resume.quiet = true;
    resume.resume = true;
    CHECK_THROWS_CONTAINING(run_pretrain(testing::tiny_run_config(a.path.string(), 2), resume), "extra.best 'nan'");
}
