// test_model.cpp: the MaMA model: parameter-name contract, the late start
// (which losses and which parameters are active), and the gradient of the
// whole loss against finite differences on a tiny config.
#include <cmath>

#include "autograd/ops.h"
#include "mama/config.h"
#include "mama/model.h"
#include "tests/mama/model_testing.h"
#include "tests/testing.h"

using namespace eng;
using namespace mama;

namespace {

MamaConfig tiny_config() { return load_run_config("mama/configs/tiny.json").model; }

}  // namespace

TEST_CASE("mama model: saved parameter names follow the contract") {
    Generator g(1);
    MamaModel model(tiny_config(), 120, &g);
    auto sd = model.state_dict();
    for (const char* k : {"image.blocks.0.attn.qkv.weight", "image.register_tokens", "image.patch_embed.proj.weight",
                          "text.transformer.h.0.attn.c_attn.weight", "text.transformer.h.0.attn.c_attn.lora_A.weight",
                          "text.transformer.h.1.attn.c_attn.lora_B.weight", "text.transformer.wte.weight",
                          "image_proj.weight", "image_proj.bias", "text_proj.weight", "text_proj.bias",
                          "image_local.fc1.weight", "image_local.bn1.running_mean", "image_local.bn1.weight",
                          "image_local.fc2.bias", "image_local.bn2.running_var", "text_local.fc1.weight",
                          "text_local.bn2.running_mean", "mv_head.fc1.weight", "mv_head.bn1.weight",
                          "mv_head.fc2.weight", "mv_head.bn2.bias", "logit_scale", "local_scale"})
        CHECK_MESSAGE(sd.count(k), k);
    CHECK(!sd.count("mv_head.fc1.bias"));
    CHECK(!sd.count("image_local.bn2.weight"));  // the last local BatchNorm has no affine part
    CHECK(sd.at("text.transformer.h.0.attn.c_attn.weight").shape() == Shape{32, 96});  // Conv1D [in, out]
    CHECK(sd.at("text.transformer.h.0.attn.c_attn.lora_A.weight").shape() == Shape{4, 32});
    CHECK(sd.at("text.transformer.h.0.attn.c_attn.lora_B.weight").shape() == Shape{96, 4});
    CHECK(sd.at("text.transformer.wte.weight").shape() == Shape{120, 32});  // resized for the special tokens
    CHECK(sd.at("logit_scale").dim() == 0);
    CHECK(std::fabs(sd.at("logit_scale").item() - std::log(1.0f / 0.07f)) < 1e-6f);
    // The text tower trains only its LoRA adapters.
    for (auto& [name, p] : model.text.named_parameters())
        CHECK_MESSAGE(p->requires_grad() == (name.find("lora_") != std::string::npos), name);
    CHECK(!model.image.norm.weight.requires_grad());  // frozen with mean pooling (§4.4)
}

TEST_CASE("mama model: before the late start only the CLIP loss runs and the local heads are frozen") {
    Generator g(2);
    MamaConfig c = tiny_config();
    MamaModel model(c, 120, &g);
    MamaBatch batch = testing::random_mama_batch(4, 24, 28, g);
    model.apply_schedule(0);
    MamaLosses l0 = model.forward(batch, 0);
    CHECK(l0.clip.defined());
    CHECK(!l0.sla.defined());
    CHECK(!l0.mv.defined());
    CHECK(!model.local_scale.requires_grad());
    CHECK(!model.image_local.fc1.weight.requires_grad());
    backward(l0.total);
    CHECK(model.logit_scale.grad().defined());
    CHECK(!model.mv_head.fc1.weight.grad().defined());
    CHECK(model.image_proj.weight.grad().defined());
    model.zero_grad();
    int64_t late = c.schedule.late_start_step;
    model.apply_schedule(late);
    CHECK(model.local_scale.requires_grad());
    MamaLosses l1 = model.forward(batch, late);
    REQUIRE(l1.sla.defined());
    REQUIRE(l1.mv.defined());
    REQUIRE(l1.partner_clip.defined());
    float sum_terms = l1.clip.item() + l1.mv.item() + l1.partner_clip.item() + l1.sla.item();
    CHECK(l1.total.item() == doctest::Approx(sum_terms).epsilon(1e-5));
    for (float v : {l1.clip.item(), l1.mv.item(), l1.partner_clip.item(), l1.sla.item()}) CHECK(std::isfinite(v));
    backward(l1.total);
    CHECK(model.local_scale.grad().defined());
    CHECK(model.mv_head.fc1.weight.grad().defined());
    CHECK(model.text_local.fc1.weight.grad().defined());
    CHECK(model.text.find_parameter("transformer.h.0.attn.c_attn.lora_B.weight")->grad().defined());
    CHECK(!model.text.transformer.wte->weight.grad().defined());
}

TEST_CASE("mama model: the multi-view head sees the partner view first, then the anchor, as the reference") {
    // The order only shows in the head's BatchNorm running statistics (each
    // call updates them); the reference calls simclr_proj on the partner's
    // pooled features, then the anchor's.
    MamaConfig c = tiny_config();
    Generator g1(3), g2(3), gb(4);
    MamaModel model(c, 120, &g1), manual(c, 120, &g2);
    MamaBatch batch = testing::random_mama_batch(4, 24, 28, gb);
    const int64_t late = c.schedule.late_start_step;
    model.apply_schedule(late);
    model.forward(batch, late);
    auto pooled = [&](const Tensor& images) {
        auto out = manual.image.forward(images, c.grayscale_input);
        return c.image_pool_mean ? mean(out.prenorm, {1}) : out.cls;
    };
    Tensor anchor = pooled(batch.images), partner = pooled(batch.partner_images);
    manual.mv_head.forward(partner);
    manual.mv_head.forward(anchor);
    for (auto [a, b] : {std::pair{&model.mv_head.bn1, &manual.mv_head.bn1}, {&model.mv_head.bn2, &manual.mv_head.bn2}})
        for (auto [x, y] : {std::pair{&a->running_mean, &b->running_mean}, {&a->running_var, &b->running_var}}) {
            std::vector<float> got = x->to_vector(), want = y->to_vector();
            REQUIRE(got.size() == want.size());
            for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
        }
}

TEST_CASE("mama model: the total loss's gradient matches finite differences") {
    Generator g(3);
    MamaModel model(tiny_config(), 120, &g);
    // Non-zero LoRA B so the adapters' gradients are exercised in both factors.
    for (auto& [name, p] : model.named_parameters())
        if (name.find("lora_B") != std::string::npos) p->detach().copy_(mul(randn(p->shape(), &g), 0.05f));
    MamaBatch batch = testing::random_mama_batch(4, 24, 28, g);
    int64_t step = model.config.schedule.late_start_step;
    model.apply_schedule(step);
    // The running statistics change on every training forward; snapshot them so each
    // evaluation sees the same state (the loss itself uses batch statistics).
    auto buffers = model.named_buffers();
    std::vector<Tensor> saved;
    for (auto& [n, b] : buffers) saved.push_back(b->clone());
    auto restore = [&] {
        for (size_t i = 0; i < buffers.size(); ++i) buffers[i].second->detach().copy_(saved[i]);
    };
    restore();
    const double f0 = [&] {
        NoGradGuard ng;
        return double(model.forward(batch, step).total.item());
    }();
    restore();
    backward(model.forward(batch, step).total);
    const char* names[] = {"logit_scale", "local_scale", "image_proj.weight", "text_proj.bias",
                           "image_local.fc1.weight", "text_local.fc2.weight", "mv_head.fc1.weight",
                           "image.blocks.1.mlp.fc2.weight", "image.pos_embed",
                           "text.transformer.h.1.attn.c_attn.lora_A.weight"};
    for (const char* name : names) {
        Tensor* p = model.find_parameter(name);
        REQUIRE_MESSAGE(p, name);
        REQUIRE_MESSAGE(p->grad().defined(), name);
        std::vector<float> grad = p->grad().to_vector();
        float* data = p->data<float>();
        int64_t n = p->numel();
        for (int64_t j : {int64_t(0), n / 3, n - 1}) {
            float orig = data[j];
            double eps = 1e-3;
            NoGradGuard ng;
            data[j] = float(orig + eps);
            restore();
            double plus = model.forward(batch, step).total.item();
            data[j] = float(orig - eps);
            restore();
            double minus = model.forward(batch, step).total.item();
            data[j] = orig;
            double numeric = (plus - minus) / (2 * eps);
            // The heads' ReLUs and the local alignment's max have kinks: where
            // one lies within ±eps the central difference averages the two
            // one-sided slopes, and autograd's gradient is one of them.
            auto near = [&](double d) { return std::fabs(d - grad[size_t(j)]) <= 3e-3 + 2e-2 * std::fabs(d); };
            const double right = (plus - f0) / eps, left = (f0 - minus) / eps;
            CHECK_MESSAGE((near(numeric) || near(right) || near(left)),
                          std::string(name) << "[" << j << "]: autograd " << grad[size_t(j)] << " vs numeric "
                                            << numeric << " (one-sided " << left << ", " << right << ")");
        }
    }
}

TEST_CASE("mama config: files parse, overrides apply, unknown keys are rejected") {
    RunConfig paper = load_run_config("mama/configs/paper.json");
    CHECK(paper.model.vit.width == 768);
    CHECK_FALSE(paper.model.text.scaled_residual_init);  // a random text tower stands in for BioMedLM (config.cpp)
    CHECK(paper.model.vit.registers == 4);
    CHECK(paper.model.text.layers == 32);
    CHECK(paper.model.text.width == 2560);
    CHECK(paper.model.schedule.late_start_step == 8000);
    CHECK(paper.train.micro_batch == 36);
    CHECK(paper.train.accumulate == 8);
    CHECK(paper.train.lr == doctest::Approx(4e-5));
    CHECK(paper.train.min_lr == doctest::Approx(1e-8));
    CHECK(paper.train.steps == 40000);
    CHECK(paper.train.warmup == 4000);
    RunConfig t = load_run_config("mama/configs/tiny.json", {{"train.steps", "9"}, {"model.vit.depth", "3"},
                                                             {"train.out_dir", "runs/x y"}});
    CHECK(t.train.steps == 9);
    CHECK(t.model.vit.depth == 3);
    CHECK(t.train.out_dir == "runs/x y");
    CHECK_THROWS_CONTAINING(load_run_config("mama/configs/tiny.json", {{"train.stpes", "9"}}), "unknown key 'train.stpes'");
    CHECK_THROWS_CONTAINING(load_run_config("mama/configs/tiny.json", {{"train.micro_batch", "1"}}), "at least 2");
    CHECK_THROWS_CONTAINING(load_run_config("mama/configs/tiny.json", {{"train.device", "tpu"}}),
                            "train.device must be \"cpu\" or \"cuda\"");
    CHECK_THROWS_CONTAINING(load_run_config("mama/configs/tiny.json", {{"train.precision", "fp8"}}),
                            "unknown precision 'fp8'");
    CHECK(load_run_config("mama/configs/tiny.json", {{"train.device", "cuda"}}).train.device == "cuda");
    CHECK(load_run_config("mama/configs/tiny.json").train.precision == "auto");  // bf16 on the GPU, fp32 on the CPU
    CHECK_THROWS_CONTAINING(load_run_config("mama/configs/tiny.json", {{"train.precision", "tf32"}}),
                            "tf32 exists only on the GPU");
    CHECK(load_run_config("mama/configs/tiny.json", {{"train.device", "cuda"}, {"train.precision", "tf32"}})
              .train.precision == "tf32");
    for (const char* f : {"mama/configs/cpu-small.json", "mama/configs/bench-cpu.json"}) CHECK_NOTHROW(load_run_config(f));
}

namespace {

// The error of loading tiny.json with one override ("" when it loads).
std::string config_error(const std::string& key, const std::string& value) {
    return testing::error_of([&] { load_run_config("mama/configs/tiny.json", {{key, value}}); });
}

}  // namespace

TEST_CASE("mama config: train.best_metric is checked when the config is read, not at the first validation") {
    for (const std::string& name : best_metric_names())
        CHECK(load_run_config("mama/configs/tiny.json", {{"train.best_metric", name}}).train.best_metric == name);
    const std::string msg = config_error("train.best_metric", "val_acc");
    CHECK_MESSAGE(msg.find("train.best_metric 'val_acc' is not one of val_loss, val_i2t_top1, val_i2t_top5, "
                           "val_t2i_top1, val_t2i_top5") != std::string::npos, msg);
}

TEST_CASE("mama config: zero sizes are errors naming the key (they divided by zero: SIGFPE)") {
    // Each of these once reached a `%` or `/` by zero, killing the program.
    CHECK(config_error("model.vit.patch", "0").find("model.vit.patch must be at least 1, got 0") != std::string::npos);
    CHECK(config_error("model.text.heads", "0").find("model.text.heads must be at least 1, got 0") != std::string::npos);
    CHECK(config_error("model.vit.heads", "0").find("model.vit.heads must be at least 1, got 0") != std::string::npos);
    // The towers check too when built without a config: tests/nn/test_models.cpp.
}

TEST_CASE("mama config: an override that is not UTF-8 is refused before anything runs") {
    // A Latin-1 path would be stored escaped in checkpoints and read back as
    // another path (a resume then saw a changed setting).
    const std::string msg = config_error("train.out_dir", std::string("runs/caf") + char(0xE9));
    CHECK_MESSAGE(msg.find("--train.out_dir: byte 8 (0xe9) of its value is not UTF-8") != std::string::npos, msg);
    CHECK(config_error("train.out_dir", "runs/caf\xC3\xA9").empty());
}

TEST_CASE("mama config: a float beyond float's range, or a negative LoRA alpha, is refused (it became +-inf)") {
    CHECK(config_error("model.nt_xent_temperature", "1e39").find("beyond a float's range") != std::string::npos);
    CHECK(config_error("model.vit.layerscale_init", "1e39").find("beyond a float's range") != std::string::npos);
    CHECK(config_error("model.lora_alpha", "-1e39").find("beyond a float's range") != std::string::npos);
    CHECK(config_error("model.lora_alpha", "-2").find("model.lora_alpha must be 0 or more") != std::string::npos);
    CHECK(config_error("model.lora_alpha", "8").empty());
}

TEST_CASE("mama config: sizes, counts and rates out of range are errors naming the key") {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"model.vit.image_size", "0"}, {"model.vit.width", "0"},       {"model.vit.depth", "0"},
        {"model.vit.registers", "-1"}, {"model.vit.mlp_ratio", "0"},   {"model.vit.checkpoint_every", "-1"},
        {"model.text.width", "0"},     {"model.text.layers", "0"},     {"model.text.vocab", "0"},
        {"model.text.positions", "0"}, {"model.text.inner", "-1"},     {"model.text.attn_pdrop", "1.5"},
        {"model.embed_dim", "0"},      {"model.local_hidden", "0"},    {"model.mv_hidden", "-1"},
        {"model.lora_r", "-1"},        {"model.lora_dropout", "-0.1"}, {"model.nt_xent_temperature", "0"},
        {"model.special_token_seed", "-1"},
        {"train.image_size", "0"},     {"train.max_len", "0"},         {"train.workers", "-1"},
        {"train.micro_batch", "0"},    {"train.accumulate", "0"},      {"train.steps", "0"},
        {"train.seed", "-1"},          {"train.lr", "-0.001"},         {"train.min_lr", "-1e-5"},
        {"train.warmup", "-1"},        {"train.clip_grad", "-1"},      {"train.weight_decay", "-0.1"},
        {"train.val_batches", "0"},    {"train.val_every", "-1"},      {"train.checkpoint_every", "-1"},
        {"train.log_every", "-1"},     {"train.tokenizer_train_vocab", "0"}};
    for (auto& [key, value] : bad) {
        const std::string msg = config_error(key, value);
        CHECK_MESSAGE(msg.find(key) != std::string::npos, key, " = ", value, " gave: '", msg, "'");
    }
    // Relations between keys.
    CHECK(config_error("train.min_lr", "0.01").find("train.min_lr 0.01 is above train.lr 0.001") != std::string::npos);
    CHECK(config_error("model.text.heads", "3").find("model.text.width 32 is not divisible by model.text.heads 3") !=
          std::string::npos);
    CHECK(config_error("train.max_len", "97").find("train.max_len 97 exceeds model.text.positions 96") !=
          std::string::npos);
    CHECK(config_error("train.schedule", "cosin").find("train.schedule: unknown learning-rate schedule 'cosin'") !=
          std::string::npos);
    // The documented "off" values stay accepted.
    RunConfig ok = load_run_config("mama/configs/tiny.json", {{"train.seed", "0"}, {"train.clip_grad", "0"},
                                                               {"model.vit.registers", "0"}, {"model.lora_r", "0"},
                                                               {"train.lr", "0"}, {"train.min_lr", "0"},
                                                               {"train.warmup", "0"}, {"train.workers", "0"}});
    CHECK(ok.train.seed == 0);
    CHECK(ok.model.vit.registers == 0);
}

TEST_CASE("mama config: a value of the wrong type names its section.key") {
    // "abc" does not parse as JSON, so the override is the string "abc".
    std::string msg = config_error("train.steps", "abc");
    CHECK_MESSAGE(msg.find("train.steps: json: expected a number, got a string") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("HINT") != std::string::npos, msg);
    msg = config_error("model.vit.patch", "\"14\"");
    CHECK_MESSAGE(msg.find("model.vit.patch: json: expected a number") != std::string::npos, msg);
    msg = config_error("model.symmetric_local", "1");
    CHECK_MESSAGE(msg.find("model.symmetric_local: json: expected a bool") != std::string::npos, msg);
    msg = config_error("train.lr", "true");
    CHECK_MESSAGE(msg.find("train.lr: json:") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("(true)") != std::string::npos, msg);  // the value given
    // A path that reads as a number or a bool: the hint shows the JSON quoting.
    msg = config_error("train.out_dir", "2024");
    CHECK_MESSAGE(msg.find("train.out_dir: json: expected a string, got a number (2024)") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("--train.out_dir '\"2024\"'") != std::string::npos, msg);
    CHECK(load_run_config("mama/configs/tiny.json", {{"train.out_dir", "\"2024\""}}).train.out_dir == "2024");
}
