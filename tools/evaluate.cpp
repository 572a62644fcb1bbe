// evaluate.cpp: build/evaluate, zero-shot / linear-probe / fine-tune evaluation
// of a pretrained MaMA run (mama/evaluate.h).
//
//   build/evaluate --checkpoint runs/cpu-small/last.safetensors --task density --mode zeroshot
//   build/evaluate --checkpoint RUN/last.safetensors --task birads --mode linear --steps 300 --batch 32
//
// Numbers are read by tools/cli_args.h: whole text, range checked, finite.
#include <cmath>
#include <cstdint>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "mama/evaluate.h"
#include "tools/cli_args.h"

// Bounds: far beyond real use, low enough to stay clear of overflow in the
// loaders' int conversions.
static constexpr int64_t kMaxSteps = 1000000000, kMaxBatch = 1 << 20, kMaxExamples = 1000;

// Help (msg null) goes to stdout with status 0; a usage error to stderr with 2.
static int usage(const char* msg) {
    if (msg) std::cerr << "error: " << msg << "\n";
    (msg ? std::cerr : std::cout) <<
        "usage: build/evaluate --checkpoint RUN/last.safetensors [--task T] [--mode M] [options]\n"
        "  [--task T]            birads (7 classes), density (4) or rsna (2; needs --data); default density\n"
        "  [--mode M]            zeroshot, linear (frozen ViT, new linear head) or finetune (the ViT too); default zeroshot\n"
        "  [--config C]          config (default: the one stored in the checkpoint)\n"
        "  [--data DIR]          dataset folder (EMBED: default train.data_dir of the config; RSNA: required,\n"
        "                        DIR/train.csv and DIR/RSNA_MAMMO_1080_JPG/<patient_id>/<image_id>_resized.jpg)\n"
        "  [--out DIR]           outputs (default RUN/eval-TASK-MODE)\n"
        "  zero-shot:  [--softmax double|single] (double = the reference's softmax(softmax(s)))  [--pooling first_pad|mean]\n"
        "  linear / finetune:  [--steps 8000] [--warmup W (default 100 scaled by steps/8000)] [--batch 72]\n"
        "              [--lr 5e-4] [--min-lr 1e-5] [--momentum 0.9] [--weight-decay 1e-3]\n"
        "  RSNA files: [--rsna-image-dir D (default DIR/RSNA_MAMMO_1080_JPG)] [--rsna-suffix _resized.jpg]:\n"
        "              images at D/<patient_id>/<image_id><suffix>; the Kaggle DICOMs are read only after\n"
        "              build/prepare --in DIR/train_images --out DIR/RSNA_MAMMO_1080_JPG (the default layout)\n"
        "  [--eval-batch 32]     test images (and prompts) per forward\n"
        "  [--max-test N]        only a seeded random N of the test images (a quick look)\n"
        "  [--examples 4]        test images shown with their heat map in the report (OUT/examples/)\n"
        "  [--workers N (0..1024; default one per core)] [--seed 42] [--quiet]\n"
        "  [--device cpu|cuda] [--precision auto|fp32|tf32|bf16|bf16-true (default: the run's train.precision)]\n";
    return msg ? 2 : 0;
}

// Options that only some modes or tasks read: given elsewhere, a note says so.
static void note_ignored(const std::set<std::string>& given, const mama::EvaluateOptions& o) {
    auto note = [&](const std::vector<std::string>& names, const std::string& why) {
        std::string list;
        for (const std::string& n : names)
            if (given.count(n)) list += (list.empty() ? "" : ", ") + n;
        if (!list.empty()) std::cerr << "note: " << list << " ignored: " << why << "\n";
    };
    if (o.mode != "zeroshot" && o.mode != "linear" && o.mode != "finetune") return;  // run_evaluate says so
    if (o.mode == "zeroshot")
        note({"--steps", "--warmup", "--batch", "--lr", "--min-lr", "--momentum", "--weight-decay"},
             "zero-shot trains nothing (they set --mode linear or finetune)");
    else
        note({"--softmax", "--pooling"}, "they set the zero-shot scoring (a probe scores with its own head)");
    if (o.task != "rsna") note({"--rsna-image-dir", "--rsna-suffix"}, "they locate RSNA's images (--task rsna)");
}

int main(int argc, char** argv) {
    mama::EvaluateOptions o;
    bool min_lr_given = false;
    std::set<std::string> given;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        given.insert(a);
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
            else if (a == "--steps") o.steps = cli::parse_int(a, value(), 1, kMaxSteps);
            else if (a == "--warmup") o.warmup = cli::parse_int(a, value(), 0, kMaxSteps);
            else if (a == "--batch") o.batch = cli::parse_int(a, value(), 1, kMaxBatch);
            else if (a == "--lr") o.lr = cli::parse_double(a, value(), 0, INFINITY, true);
            else if (a == "--min-lr") o.min_lr = cli::parse_double(a, value(), 0, INFINITY), min_lr_given = true;
            else if (a == "--momentum") o.momentum = cli::parse_double(a, value(), 0, 1);
            else if (a == "--weight-decay") o.weight_decay = cli::parse_double(a, value(), 0, INFINITY);
            else if (a == "--rsna-image-dir") o.rsna_image_dir = value();
            else if (a == "--rsna-suffix") o.rsna_image_suffix = value();
            else if (a == "--eval-batch") o.eval_batch = cli::parse_int(a, value(), 1, kMaxBatch);
            else if (a == "--device") o.device = value();
            else if (a == "--precision") o.precision = value();
            else if (a == "--max-test") o.max_test = cli::parse_int(a, value(), 0, INT64_MAX);
            else if (a == "--examples") o.examples = cli::parse_int(a, value(), 0, kMaxExamples);
            else if (a == "--workers") o.workers = cli::parse_threads(a, value(), 0);  // 0: load in this thread
            else if (a == "--seed") o.seed = cli::parse_u64(a, value());
            else if (a == "--quiet") o.quiet = true;
            else if (a == "--help" || a == "-h") return usage(nullptr);
            else return usage(("unknown argument " + a).c_str());
        } catch (const std::exception& e) {
            return usage(e.what());
        }
    }
    if (o.checkpoint.empty()) return usage("--checkpoint is required");
    note_ignored(given, o);
    if (o.mode != "zeroshot" && o.min_lr > o.lr) {  // (zero-shot trains nothing)
        std::ostringstream msg;
        msg << "--min-lr " << o.min_lr << (min_lr_given ? "" : " (the default)") << " is above --lr " << o.lr
            << ": the schedule decays from --lr down to --min-lr. HINT: give a --min-lr of at most " << o.lr;
        return usage(msg.str().c_str());
    }
    try {
        mama::run_evaluate(o);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "\nerror: " << cli::exception_text(e) << "\n";
        return 1;
    }
}
