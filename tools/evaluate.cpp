// evaluate.cpp: build/evaluate, zero-shot / linear-probe / fine-tune evaluation
// of a pretrained MaMA run (mama/evaluate.h).
//
//   build/evaluate --checkpoint runs/cpu-small/last.safetensors --task density --mode zeroshot
//   build/evaluate --checkpoint RUN/last.safetensors --task birads --mode linear --steps 300 --batch 32
#include <iostream>
#include <string>

#include "mama/evaluate.h"

static int usage(const char* msg) {
    if (msg) std::cerr << "error: " << msg << "\n";
    std::cerr <<
        "usage: build/evaluate --checkpoint RUN/last.safetensors --task birads|density|rsna --mode zeroshot|linear|finetune\n"
        "  [--config C]          config (default: the one stored in the checkpoint)\n"
        "  [--data DIR]          dataset folder (EMBED: default train.data_dir of the config; RSNA: required)\n"
        "  [--out DIR]           outputs (default RUN/eval-TASK-MODE)\n"
        "  zero-shot:  [--softmax double|single] (double = the reference's softmax(softmax(s)))  [--pooling first_pad|mean]\n"
        "  linear / finetune:  [--steps 8000] [--warmup W (default 100 scaled by steps/8000)] [--batch 72]\n"
        "              [--lr 5e-4] [--min-lr 1e-5] [--momentum 0.9] [--weight-decay 1e-3]\n"
        "  RSNA files: [--rsna-image-dir DIR] [--rsna-suffix _resized.jpg]\n"
        "  [--eval-batch 32] [--max-test N] [--examples 4] [--workers N] [--seed 42] [--quiet]\n"
        "  [--device cpu|cuda] [--precision auto|fp32|tf32|bf16|bf16-true (default: the run's train.precision)]\n";
    return 2;
}

int main(int argc, char** argv) {
    mama::EvaluateOptions o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        try {
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
                return argv[++i];
            };
            if (a == "--checkpoint") o.checkpoint = value();
            else if (a == "--config") o.config = value();
            else if (a == "--task") o.task = value();
            else if (a == "--mode") o.mode = value();
            else if (a == "--data") o.data_dir = value();
            else if (a == "--out") o.out_dir = value();
            else if (a == "--softmax") o.softmax = value();
            else if (a == "--pooling") o.pooling = value();
            else if (a == "--steps") o.steps = std::stoll(value());
            else if (a == "--warmup") o.warmup = std::stoll(value());
            else if (a == "--batch") o.batch = std::stoll(value());
            else if (a == "--lr") o.lr = std::stod(value());
            else if (a == "--min-lr") o.min_lr = std::stod(value());
            else if (a == "--momentum") o.momentum = std::stod(value());
            else if (a == "--weight-decay") o.weight_decay = std::stod(value());
            else if (a == "--rsna-image-dir") o.rsna_image_dir = value();
            else if (a == "--rsna-suffix") o.rsna_image_suffix = value();
            else if (a == "--eval-batch") o.eval_batch = std::stoll(value());
            else if (a == "--device") o.device = value();
            else if (a == "--precision") o.precision = value();
            else if (a == "--max-test") o.max_test = std::stoll(value());
            else if (a == "--examples") o.examples = std::stoll(value());
            else if (a == "--workers") o.workers = std::stoll(value());
            else if (a == "--seed") o.seed = std::stoull(value());
            else if (a == "--quiet") o.quiet = true;
            else if (a == "--help" || a == "-h") return usage(nullptr);
            else return usage(("unknown argument " + a).c_str());
        } catch (const std::invalid_argument&) {
            return usage(("not a number after " + a).c_str());
        } catch (const std::exception& e) {
            return usage(e.what());
        }
    }
    if (o.checkpoint.empty()) return usage("--checkpoint is required");
    try {
        mama::run_evaluate(o);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "\nerror: " << e.what() << "\n";
        return 1;
    }
}
