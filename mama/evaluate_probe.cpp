// evaluate_probe.cpp: linear probing and full fine-tuning of the image tower
// (mama-reference.md §8.2, §8.3, §9.2).
//
// The classifier is a new Linear(Dv -> C) on the mean of the ViT's pre-norm
// tokens (no normalisation), trained with softmax cross-entropy, SGD
// (momentum 0.9, dampening 0, weight decay coupled as L2: g += wd·w) and the
// cosine-warmup schedule lr(k) = min + (max - min)·k/W for k < W, else
// min + (max - min)·½(1 + cos(π(k - W)/(T - W))).  Batches are class-balanced
// draws with replacement under the train transform.  Linear: the tower is
// frozen and runs without a graph.  Fine-tuning: every ViT parameter trains
// except the final LayerNorm (unused by the mean-pooled feature) and
// mask_token.  The test uses the final weights (quirk 22).
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "autograd/ops.h"
#include "mama/evaluate.h"
#include "nn/linear.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "nn/schedule.h"
#include "tensor/check.h"
#include "tensor/precision.h"

namespace mama {

using namespace eng;

std::vector<float> probe_logits(LoadedRun& run, const LoaderDataset& train, const LoaderDataset& test,
                                const ProbeOptions& o, int64_t eval_batch) {
    MamaModel& m = *run.model;
    const int C = train.num_classes;
    const char* name = o.finetune ? "finetune" : "linear";
    ENG_CHECK(o.steps >= 1 && o.batch >= 1, name, ": --steps and --batch must be positive");
    ENG_CHECK(o.warmup >= 0 && o.warmup < o.steps, name, ": --warmup ", o.warmup, " must be in [0, steps = ", o.steps, ")");
    ENG_CHECK(train.size() > 0, name, ": the training set '", train.name, "' is empty");
    ENG_CHECK(test.size() > 0, name, ": the test set '", test.name, "' is empty");
    ENG_CHECK(test.num_classes == C, name, ": ", C, " training classes but ", test.num_classes, " test classes");
    // An epoch is as many balanced draws as training images (the reference's
    // sampler), so a batch larger than the training set trains on batches of
    // the set's size (said below); one more than 4 times it is refused as a
    // likely typo.
    const int64_t max_batch = std::max<int64_t>(4 * train.size(), 1024);
    ENG_CHECK(o.batch <= max_batch, name, ": --batch ", o.batch, " is more than 4 times the ", train.size(),
              " training images (at most ", max_batch, " here). HINT: the paper probes with batches of 32-256");

    // ---- what trains ----
    Generator g(o.seed);
    nn::Linear head(m.config.vit.width, C, true, &g);
    head.to(run.device);
    if (bf16_true()) head.round_to_bf16();  // (tensor/precision.h)
    m.requires_grad(false);
    std::vector<Tensor*> params;
    if (o.finetune) {
        m.image.requires_grad(true);
        m.image.norm.requires_grad(false);
        m.image.set_requires_grad("mask_token", false);
        for (Tensor* p : m.image.trainable_parameters()) params.push_back(p);
    }
    for (Tensor* p : head.parameters()) params.push_back(p);
    nn::SGD opt({nn::ParamGroup{params, float(o.lr), float(o.weight_decay)}}, float(o.momentum));
    nn::Schedule sched{nn::Schedule::Kind::Cosine, o.lr, o.min_lr, o.warmup, o.steps};

    // ---- data: balanced draws with replacement, train transform, no captions ----
    LoaderOptions lo;
    lo.batch_size = int(o.batch);
    lo.image_size = int(run.config.train.image_size);
    lo.transform = LoaderTransform::Train;
    lo.captions = CaptionMode::None;
    lo.balanced = true;
    // As the reference's WeightedRandomSampler loader: as many draws per epoch
    // as training images, and a short last batch (a training split smaller
    // than the batch gives batches of its size).
    lo.num_samples = train.size();
    lo.drop_last = false;
    lo.num_workers = int(o.workers);
    lo.seed = o.seed;
    BatchLoader loader(train, nullptr, lo);

    std::ofstream log;
    if (!o.log_path.empty()) {
        log.open(o.log_path, std::ios::trunc);
        ENG_CHECK(log, name, ": cannot write ", o.log_path);
    }
    if (o.batch > train.size())
        std::cerr << name << ": note: --batch " << o.batch << " is more than the " << train.size()
                  << " training images; an epoch is " << train.size() << " draws, so each batch has " << train.size()
                  << "\n";
    if (o.progress)
        std::cerr << "== " << name << ": " << params.size() << " trainable tensors, " << o.steps << " steps of "
                  << std::min<int64_t>(o.batch, train.size()) << " balanced draws from " << train.size()
                  << " images; SGD lr " << o.lr << " (warmup "
                  << o.warmup << ", min " << o.min_lr << "), momentum " << o.momentum << ", wd " << o.weight_decay << "\n";
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t step = 0; step < o.steps; ++step) {
        float lr = float(sched.lr_at(step));
        opt.set_lr(lr);
        Batch b = loader.next();
        Tensor feat, images = run.on_device(b.images);
        if (o.finetune) {
            m.image.train();
            feat = m.image_features(images);
        } else {
            NoGradGuard ng;
            m.image.eval();
            feat = m.image_features(images);
        }
        Tensor loss = cross_entropy(head.forward(feat), run.on_device(b.labels));
        double l = loss.item();
        ENG_CHECK(std::isfinite(l), name, ": the loss became ", l, " at step ", step,
                  ". HINT: lower --lr, or check the images of this step");
        backward(loss);
        opt.step();
        opt.zero_grad();
        if (log)
            log << "{\"step\":" << step << ",\"lr\":" << lr << ",\"loss\":" << l << ",\"images\":" << b.labels.numel()
                << "}\n";
        if (o.progress) {
            double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            double eta = secs / double(step + 1) * double(o.steps - step - 1);
            std::cerr << "\r[" << name << "] step " << step + 1 << "/" << o.steps << " loss " << std::setprecision(4) << l
                      << " lr " << std::setprecision(3) << lr << " eta " << int(eta) << "s   " << std::flush;
        }
    }
    if (o.progress) std::cerr << "\n";
    m.requires_grad(false);
    head.requires_grad(false);

    if (!o.save_path.empty()) {
        std::vector<std::pair<std::string, Tensor>> out{{"head.weight", head.weight}, {"head.bias", head.bias}};
        if (o.finetune)
            for (auto& [k, v] : m.image.state_dict()) out.emplace_back("image." + k, v);
        nn::save_safetensors(o.save_path, out, {{"protocol", name}, {"steps", std::to_string(o.steps)}});
    }

    // ---- test: final weights, eval transform ----
    LoaderOptions to;
    to.batch_size = int(eval_batch);
    to.image_size = int(run.config.train.image_size);
    to.transform = LoaderTransform::Eval;
    to.captions = CaptionMode::None;
    to.shuffle = false;
    to.drop_last = false;
    to.num_workers = int(o.workers);
    BatchLoader tl(test, nullptr, to);
    std::vector<float> logits(size_t(test.size() * C));
    NoGradGuard ng;
    m.eval();
    Batch b;
    int64_t done = 0;
    while (tl.next_in_epoch(b)) {
        std::vector<float> z = head.forward(m.image_features(run.on_device(b.images))).to_vector();
        for (int64_t j = 0; j < b.size(); ++j)
            std::copy(z.begin() + j * C, z.begin() + (j + 1) * C, logits.begin() + b.items[size_t(j)] * C);
        done += b.size();
        if (o.progress) std::cerr << "\rtest images " << done << "/" << test.size() << std::flush;
    }
    if (o.progress) std::cerr << "\n";
    ENG_CHECK(done == test.size(), name, ": the loader delivered ", done, " of ", test.size(), " test images");
    return logits;
}

}  // namespace mama
