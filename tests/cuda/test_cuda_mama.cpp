// test_cuda_mama.cpp: a whole MaMA training step on the GPU against the same
// step on the CPU (tiny config with every loss on, both image views, LoRA with
// dropout, the BatchNorm heads, AdamW): the four losses, the gradient of every
// trainable parameter, the parameters after the update and BatchNorm's running
// statistics.  The CPU step is the reference (tested against finite
// differences in tests/mama/test_model.cpp).  Errors are measured per tensor as
// ‖gpu − cpu‖ / ‖cpu‖: fp32 GEMMs must agree to f32 rounding accumulated over
// the step (2e-4); bf16 GEMMs (the training default on a GPU) within 0.1, and
// so does bf16-true, whose weights after the step must be bf16 numbers.
// Some gradients are zero in exact arithmetic and pure rounding noise in both
// runs: the bias before a training-mode BatchNorm (BN removes any shift) and
// the key part of the qkv bias (softmax ignores a shift shared by all keys).
// Their error is measured against a floor of 1e-4 of the largest gradient's
// RMS instead of their own size.  For the same reason the parameters after
// AdamW's first step (≈ −lr·sign(g)) are compared element-wise within 2·lr,
// which still catches any wrong update.  Then build/pretrain's path on the
// GPU: a short run, checkpointed from device memory and resumed, equals the
// uninterrupted GPU run, and its logged losses follow the CPU run's; and
// build/evaluate's zero-shot and linear-probe logits and build/embed's
// embeddings on the GPU match the CPU's.  Skipped without a GPU.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "mama/config.h"
#include "mama/evaluate.h"
#include "mama/model.h"
#include "mama/objectives.h"
#include "mama/pretrain.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "tensor/precision.h"
#include "tests/cuda/cuda_testing.h"
#include "tests/mama/model_testing.h"
#include "tests/mama/pretrain_testing.h"
#include "tests/temp_dir.h"

using namespace eng;
using namespace mama;

namespace {

const float kLr = 1e-3f;

struct StepResult {
    std::map<std::string, double> losses;
    std::map<std::string, Tensor> grads, params_after, buffers_after;  // on the host
};

// One training step of the tiny model on device d, from the same initial
// weights and generator state on every call.
StepResult train_step(Device d) {
    MamaConfig c = load_run_config("mama/configs/tiny.json", {{"model.lora_dropout", "0.1"},
                                                              {"model.text.attn_pdrop", "0.1"},
                                                              {"model.text.resid_pdrop", "0.1"}})
                       .model;
    Generator g(3);
    MamaModel model(c, 120, &g);
    for (auto& [name, p] : model.named_parameters())  // non-zero LoRA B: both factors get gradients
        if (name.find("lora_B") != std::string::npos) p->detach().copy_(mul(randn(p->shape(), &g), 0.05f));
    MamaBatch batch = testing::random_mama_batch(6, 24, 28, g);
    model.to(d);
    if (bf16_true()) model.round_to_bf16();  // as pretrain starts a bf16-true run
    for (Tensor* t : {&batch.images, &batch.partner_images, &batch.input_ids, &batch.attention_mask}) *t = t->to(d);
    const int64_t step = c.schedule.late_start_step;
    model.train();
    model.apply_schedule(step);
    nn::AdamW opt({nn::ParamGroup{model.parameters(), kLr, 0.1f}});
    manual_seed(11);  // the dropout masks: the same counter-based stream on both devices
    MamaLosses l = model.forward(batch, step);
    backward(l.total);
    StepResult r;
    r.losses = {{"total", l.total.item()}, {"clip", l.clip.item()}, {"mv", l.mv.item()},
                {"partner_clip", l.partner_clip.item()}, {"sla", l.sla.item()}};
    for (auto& [name, p] : model.named_parameters())
        if (p->grad().defined()) r.grads[name] = p->grad().to(Device::CPU);
    opt.step();
    for (auto& [name, p] : model.named_parameters()) r.params_after[name] = p->to(Device::CPU);
    for (auto& [name, b] : model.named_buffers()) r.buffers_after[name] = b->to(Device::CPU);
    return r;
}

// ‖got − want‖ / max(‖want‖, floor_rms·√n)
double rel_err(const Tensor& got, const Tensor& want, double floor_rms = 0) {
    std::vector<float> a = got.to_vector(), b = want.to_vector();
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) num += double(a[i] - b[i]) * (a[i] - b[i]), den += double(b[i]) * b[i];
    return std::sqrt(num) / std::max({std::sqrt(den), floor_rms * std::sqrt(double(a.size())), 1e-30});
}

double rms(const Tensor& t) {
    double s = 0;
    for (float x : t.to_vector()) s += double(x) * x;
    return std::sqrt(s / double(std::max<int64_t>(t.numel(), 1)));
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    std::vector<float> x = a.to_vector(), y = b.to_vector();
    double m = 0;
    for (size_t i = 0; i < x.size(); ++i) m = std::max(m, double(std::fabs(x[i] - y[i])));
    return m;
}

// param_tol: how far a parameter may be after the AdamW step (2·lr, or more
// when the weights are bf16 numbers, which a rounding flip moves by an ulp).
void compare_steps(const StepResult& gpu, const StepResult& cpu, double tol, double param_tol = 2.01 * kLr) {
    for (auto& [name, v] : cpu.losses) {
        CHECK_MESSAGE(std::isfinite(gpu.losses.at(name)), name);
        CHECK_MESSAGE(std::fabs(gpu.losses.at(name) - v) <= tol * std::fabs(v) + 1e-6,
                      "loss " << name << ": gpu " << gpu.losses.at(name) << " cpu " << v);
    }
    REQUIRE(gpu.grads.size() == cpu.grads.size());
    CHECK(cpu.grads.size() > 40);  // every trainable tensor of the late phase
    double largest = 0;
    for (auto& [name, g] : cpu.grads) largest = std::max(largest, rms(g));
    double worst = 0;
    std::string worst_name;
    for (auto& [name, g] : cpu.grads) {
        REQUIRE_MESSAGE(gpu.grads.count(name), name);
        const double e = rel_err(gpu.grads.at(name), g, 1e-4 * largest);
        if (!(e <= worst)) worst = e, worst_name = name;
        CHECK_MESSAGE(e <= tol, "gradient of " << name << ": relative error " << e);
    }
    MESSAGE("largest gradient error " << worst << " (" << worst_name << ")");
    for (auto& [name, t] : cpu.params_after)
        CHECK_MESSAGE(max_abs_diff(gpu.params_after.at(name), t) <= param_tol,
                      "after the AdamW step: " << name << " differs by " << max_abs_diff(gpu.params_after.at(name), t));
    for (auto& [name, t] : cpu.buffers_after)  // BatchNorm's running statistics
        CHECK_MESSAGE(rel_err(gpu.buffers_after.at(name), t) <= tol, "buffer " << name << " differs by "
                                                                       << rel_err(gpu.buffers_after.at(name), t));
}

}  // namespace

TEST_CASE("cuda mama: the four losses on the GPU (composed from engine ops) match the fused CPU ops") {
    SKIP_WITHOUT_CUDA();
    // On the CPU check_devices runs the fused ops; on CUDA copies the same calls
    // take the composed path (mama/objective_composed.cpp).  Unit rows as the
    // model feeds them; D = 32 keeps random near-ties out of SLA's hard maxima.
    using V = std::vector<Tensor>;
    auto unit = [](const Shape& s, uint64_t seed) { return l2_normalize(cudatest::randn(s, seed)).detach(); };
    const cudatest::Tolerance tol{1e-5, 1e-4, 1e-6, 1e-4};
    Tensor v = unit({6, 32}, 81), u = unit({6, 32}, 82), theta = full({1}, 2.0f);
    cudatest::check_devices([](const V& x) { return mama::clip_loss(x[0], x[1], x[2]); }, {v, u, theta}, tol);
    cudatest::check_devices([](const V& x) { return mama::partner_clip_loss(x[0], x[1], x[2]); }, {v, u, theta}, tol);
    Tensor a = cudatest::randn({6, 32}, 83, 2.0f), b = cudatest::randn({6, 32}, 84, 2.0f);
    cudatest::check_devices([](const V& x) { return mama::nt_xent_loss(x[0], x[1], 0.5f); }, {a, b}, tol);
    std::vector<int64_t> J{3, 1, 2, 4, 2, 1};
    Tensor p = unit({6, 9, 32}, 85), s = unit({13, 32}, 86), th = full({1}, 1.5f);
    for (bool symmetric : {true, false}) {
        CAPTURE(symmetric);
        cudatest::check_devices([&](const V& x) { return mama::sla_loss(x[0], x[1], J, x[2], symmetric); },
                                {p, s, th}, tol);
    }
}

TEST_CASE("cuda mama: a whole training step matches the CPU (fp32 GEMMs)") {
    SKIP_WITHOUT_CUDA();
    StepResult cpu = train_step(Device::CPU);
    cuda::set_matmul_precision(cuda::MatmulPrecision::fp32);
    compare_steps(train_step(Device::CUDA), cpu, 2e-4);
}

TEST_CASE("cuda mama: the training step with bf16 GEMMs stays within mixed-precision error") {
    SKIP_WITHOUT_CUDA();
    StepResult cpu = train_step(Device::CPU);
    cuda::set_matmul_precision(cuda::MatmulPrecision::bf16);
    StepResult bf16 = train_step(Device::CUDA);
    cuda::set_matmul_precision(cuda::MatmulPrecision::fp32);
    compare_steps(bf16, cpu, 0.1);
}

TEST_CASE("cuda mama: a bf16-true training step follows the CPU's and leaves bf16 weights") {
    SKIP_WITHOUT_CUDA();
    Bf16TrueGuard pure;
    StepResult cpu = train_step(Device::CPU);
    cuda::set_matmul_precision(cuda::MatmulPrecision::bf16);
    StepResult gpu = train_step(Device::CUDA);
    cuda::set_matmul_precision(cuda::MatmulPrecision::fp32);
    compare_steps(gpu, cpu, 0.1, 2.01 * kLr + 2.0 / 128);  // one bf16 ulp of a weight up to 2
    for (auto& [name, t] : gpu.params_after)
        for (float x : t.to_vector()) {
            REQUIRE_MESSAGE(round_to_bf16(x) == x, name << " holds " << x << ", not a bf16 number");
        }
}

TEST_CASE("cuda mama: pretrain on the GPU resumes from a checkpoint as the uninterrupted run continues") {
    SKIP_WITHOUT_CUDA();
    testing::TempDir a("gpu-full"), b("gpu-resumed"), c("cpu");
    PretrainOptions quiet;
    quiet.quiet = true;
    auto gpu_config = [](const std::string& out, int64_t steps) {
        return testing::tiny_run_config(out, steps, {{"train.device", "\"cuda\""}, {"train.precision", "\"fp32\""}});
    };
    REQUIRE(run_pretrain(gpu_config(a.path.string(), 4), quiet) == 0);
    PretrainOptions paused = quiet;
    paused.stop_at = 2;  // a chunk of the 4-step run
    REQUIRE(run_pretrain(gpu_config(b.path.string(), 4), paused) == 0);
    PretrainOptions resume = quiet;
    resume.resume = true;
    REQUIRE(run_pretrain(gpu_config(b.path.string(), 4), resume) == 0);
    REQUIRE(run_pretrain(testing::tiny_run_config(c.path.string(), 4), quiet) == 0);
    auto full = nn::load_safetensors((a.path / "last.safetensors").string());
    auto res = nn::load_safetensors((b.path / "last.safetensors").string());
    int compared = 0;
    for (auto& [k, v] : full) {
        if (k.rfind("model.", 0) != 0) continue;
        REQUIRE_MESSAGE(res.count(k), k);
        // Resumed == uninterrupted on the same device: the kernels are deterministic.
        CHECK_MESSAGE(rel_err(res.at(k).to(DType::f32), v.to(DType::f32)) <= 1e-6, k);
        ++compared;
    }
    CHECK(compared > 50);
    // The GPU run follows the CPU run: the same logged loss at every step.
    std::vector<double> gpu_loss = testing::logged_losses(a.path / "log.jsonl"),
                        cpu_loss = testing::logged_losses(c.path / "log.jsonl");
    REQUIRE(gpu_loss.size() == 4);
    REQUIRE(cpu_loss.size() == 4);
    for (size_t i = 0; i < 4; ++i)
        CHECK_MESSAGE(std::fabs(gpu_loss[i] - cpu_loss[i]) <= 1e-3 * std::fabs(cpu_loss[i]),
                      "step " << i << ": gpu loss " << gpu_loss[i] << ", cpu " << cpu_loss[i]);
}

TEST_CASE("cuda mama: evaluation on the GPU (zero-shot, linear probe, embeddings) matches the CPU") {
    SKIP_WITHOUT_CUDA();
    // A 2-step run whose text length fits the zero-shot prompts (as tests/mama/test_evaluate.cpp).
    testing::TempDir run_dir("eval-run"), out("eval-out");
    PretrainOptions quiet;
    quiet.quiet = true;
    REQUIRE(run_pretrain(testing::tiny_run_config(run_dir.path.string(), 2,
                                                  {{"train.max_len", "256"}, {"model.text.positions", "256"}}),
                         quiet) == 0);
    const std::string ckpt = (run_dir.path / "last.safetensors").string();
    auto evaluate = [&](const std::string& mode, const std::string& device) {
        EvaluateOptions o;
        o.checkpoint = ckpt;
        o.task = "density";
        o.mode = mode;
        o.out_dir = (out.path / (mode + "-" + device)).string();
        o.steps = 3, o.batch = 4, o.max_test = 8, o.examples = 1, o.workers = 2;
        o.quiet = true;
        o.device = device;
        o.precision = "fp32";
        return run_evaluate(o);
    };
    for (const char* mode : {"zeroshot", "linear"}) {
        INFO("mode " << mode);
        EvaluateOutcome cpu = evaluate(mode, "cpu"), gpu = evaluate(mode, "cuda");
        REQUIRE(cpu.logits.size() == gpu.logits.size());
        REQUIRE(!cpu.logits.empty());
        Tensor a = from_vector(gpu.logits, {int64_t(gpu.logits.size())});
        Tensor b = from_vector(cpu.logits, {int64_t(cpu.logits.size())});
        CHECK(rel_err(a, b) <= 1e-3);
    }
    // build/embed's encoders on both devices.
    LoadedRun cpu_run = load_run(ckpt), gpu_run = load_run(ckpt, "", "", "cuda", "fp32");
    CHECK(gpu_run.device == Device::CUDA);
    const std::vector<std::string> texts = {"<|startoftext|>fatty breasts<|endofsentence|><|endoftext|>"};
    CHECK(rel_err(embed_texts(gpu_run, texts, "first_pad"), embed_texts(cpu_run, texts, "first_pad")) <= 1e-4);
}
