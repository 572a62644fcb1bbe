// train_gpt.cpp: build/train_gpt trains a tiny GPT-2 as a byte-level language
// model on a text file and prints a sampled continuation: a demonstration that
// the engine (autograd, fused ops, AdamW, schedules, checkpoints) is general.
//
//   build/train_gpt --text FILE [--steps 600 --context 64 --width 64 --layers 2
//                   --heads 4 --batch 16 --lr 3e-3 --seed 1 --sample 200 ...]
//
// The loss (nats per byte) is printed with the text's unigram entropy: the
// loss of the best context-free model.  Falling well below it shows the model
// learnt to use the context.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "nn/text_lm.h"
#include "tools/cli_args.h"

namespace {

const char* kUsage =
    "usage: train_gpt --text FILE [options]\n"
    "  --steps N        optimiser steps (600)\n"
    "  --context N      bytes of context (64)\n"
    "  --width N        model width (64)\n"
    "  --layers N       transformer blocks (2)\n"
    "  --heads N        attention heads (4)\n"
    "  --batch N        windows per step (16)\n"
    "  --lr X           peak learning rate, cosine decay to X/10 (3e-3)\n"
    "  --warmup N       linear warmup steps (min(100, steps/10))\n"
    "  --seed N         initialisation, data order and sampling seed (1)\n"
    "  --exact-gelu     erf GELU instead of GPT-2's tanh form (gelu_new)\n"
    "  --every N        print the loss every N steps (steps/20)\n"
    "  --sample N       bytes to sample at the end (200; 0: none)\n"
    "  --prompt TEXT    the sample's prompt (the first line of the text)\n"
    "  --top-k K        sample among the K most likely bytes (0: all)\n"
    "  --temperature T  sampling temperature (1)\n"
    "  --save CKPT      write a checkpoint (model, AdamW, step, RNG, config) at the end\n"
    "  --resume CKPT    continue from a checkpoint written with the same sizes\n";

[[noreturn]] void usage_error(const std::string& msg) {
    std::cerr << "train_gpt: " << msg << "\n" << kUsage;
    std::exit(2);
}

// Upper bounds of the sizes: far above anything this demonstration trains, low
// enough that the products of sizes cannot overflow and a typo ("--steps
// 99999999999999999999") is refused instead of saturating or wrapping.
constexpr int64_t kMaxSteps = 1000000000, kMaxSize = 65536, kMaxLayers = 1024, kMaxBatch = 1 << 20;

}  // namespace

int main(int argc, char** argv) {
    eng::nn::TextLMConfig cfg;
    std::string text_path, save_path, resume_path, prompt;
    int64_t sample_n = 200, top_k = 0, every = 0;
    bool prompt_given = false;
    double temperature = 1.0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(a + " needs a value");
            return argv[++i];
        };
        try {
            if (a == "--text") text_path = value();
            else if (a == "--steps") cfg.steps = cli::parse_int(a, value(), 1, kMaxSteps);
            else if (a == "--context") cfg.context = cli::parse_int(a, value(), 1, kMaxSize);
            else if (a == "--width") cfg.width = cli::parse_int(a, value(), 1, kMaxSize);
            else if (a == "--layers") cfg.layers = cli::parse_int(a, value(), 1, kMaxLayers);
            else if (a == "--heads") cfg.heads = cli::parse_int(a, value(), 1, kMaxSize);
            else if (a == "--batch") cfg.batch = cli::parse_int(a, value(), 1, kMaxBatch);
            else if (a == "--lr") cfg.lr = cli::parse_double(a, value(), 0, INFINITY, true);
            else if (a == "--warmup") cfg.warmup = cli::parse_int(a, value(), 0, kMaxSteps);
            else if (a == "--seed") cfg.seed = cli::parse_u64(a, value());
            else if (a == "--exact-gelu") cfg.gelu_new = false;
            else if (a == "--every") every = cli::parse_int(a, value(), 0, kMaxSteps);
            else if (a == "--sample") sample_n = cli::parse_int(a, value(), 0, kMaxBatch);
            else if (a == "--prompt") prompt = value(), prompt_given = true;
            else if (a == "--top-k") top_k = cli::parse_int(a, value(), 0, 256);  // 256 byte values
            else if (a == "--temperature")  // checked as the float sampling uses, now rather than after training
                temperature = eng::nn::sampling_temperature(cli::parse_double(a, value(), 0, INFINITY, true));
            else if (a == "--save") save_path = value();
            else if (a == "--resume") resume_path = value();
            else if (a == "-h" || a == "--help") {
                std::cout << kUsage;
                return 0;
            } else usage_error("unknown argument '" + a + "'");
        } catch (const eng::Error& e) {
            usage_error(e.what());
        }
    }
    if (text_path.empty()) usage_error("--text FILE is required");
    if (cfg.width % cfg.heads != 0)
        usage_error("--width " + std::to_string(cfg.width) + " must be a multiple of --heads " +
                    std::to_string(cfg.heads));
    if (cfg.warmup > cfg.steps) {
        // Longer than the run: the learning rate would never reach --lr.
        std::fprintf(stderr, "train_gpt: note: --warmup %lld is longer than --steps %lld; using warmup %lld\n",
                     (long long)cfg.warmup, (long long)cfg.steps, (long long)cfg.steps);
        cfg.warmup = cfg.steps;
    }
    if (every <= 0) every = std::max<int64_t>(1, cfg.steps / 20);

    try {
        eng::nn::ByteCorpus corpus = eng::nn::ByteCorpus::from_file(text_path);
        double h = corpus.unigram_entropy();
        eng::nn::TextLMTrainer trainer(cfg, corpus);
        if (!resume_path.empty()) {
            trainer.load(resume_path);
            ENG_CHECK(trainer.step() <= cfg.steps, "train_gpt: ", resume_path, " is at step ", trainer.step(),
                      ", beyond --steps ", cfg.steps, ". HINT: give --steps ", trainer.step(),
                      " or more (the same value only evaluates and samples)");
            std::printf("resumed from %s at step %lld\n", resume_path.c_str(), (long long)trainer.step());
        }
        std::printf("text: %s, %zu bytes, unigram entropy %.4f nats/byte\n", text_path.c_str(), corpus.bytes.size(), h);
        std::printf("model: GPT-2, %lld layers, width %lld, %lld heads, context %lld, %lld parameters\n",
                    (long long)cfg.layers, (long long)cfg.width, (long long)cfg.heads, (long long)cfg.context,
                    (long long)trainer.model().num_parameters());
        auto t0 = std::chrono::steady_clock::now();
        double window = 0;
        int64_t in_window = 0;
        float last = 0;
        while (trainer.step() < cfg.steps) {
            double lr = trainer.lr_at(trainer.step());
            last = trainer.train_step();
            window += last;
            ++in_window;
            if (trainer.step() % every == 0 || trainer.step() == cfg.steps) {
                double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                std::printf("step %5lld  loss %.4f (mean of last %lld: %.4f)  unigram %.4f  lr %.2e  %.1fs\n",
                            (long long)trainer.step(), last, (long long)in_window, window / double(in_window), h, lr,
                            secs);
                std::fflush(stdout);
                window = 0;
                in_window = 0;
            }
        }
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        // Windows of the training text itself (there is no held-out split):
        // a fixed sample, so runs can be compared.
        float eval = trainer.evaluate(8, 12345);
        std::printf("done: %lld steps in %.1fs; loss on 8 random batches of the training text %.4f nats/byte vs "
                    "unigram entropy %.4f",
                    (long long)cfg.steps, secs, eval, h);
        if (h > 0) std::printf(" (%.0f%% of it)", 100.0 * eval / h);
        std::printf("\n");
        if (!save_path.empty()) {
            trainer.save(save_path);
            std::printf("checkpoint: %s\n", save_path.c_str());
        }
        if (sample_n > 0) {
            if (!prompt_given) {
                for (int32_t b : corpus.bytes) {
                    prompt.push_back(char(b));
                    if (b == '\n' || int64_t(prompt.size()) >= cfg.context / 2) break;
                }
            }
            std::string s = trainer.sample(prompt, sample_n, float(temperature), top_k, cfg.seed);
            std::printf("sample (temperature %g%s):\n%s\n", temperature,
                        top_k > 0 ? (", top-k " + std::to_string(top_k)).c_str() : "",
                        eng::nn::printable_bytes(prompt + s).c_str());  // one string: a character may span the two
        }
    } catch (const std::exception& e) {  // eng::Error, and std::bad_alloc for sizes that do not fit
        std::cerr << cli::error_line("train_gpt", e) << "\n";
        return 1;
    }
    return 0;
}
