// pretrain.cpp: the MaMA pretraining loop: data, tokenizer, model, AdamW with
// the cosine schedule, gradient accumulation, the late start, validation with
// retrieval accuracy, atomic checkpoints (last and best), exact resume, a
// progress line, a JSONL log of every step, guards against NaN losses,
// gradients and weights, and a clean stop on Ctrl-C or SIGTERM (the step in
// progress is finished and saved; mama/pretrain_guards.h).  A resumed run
// checks its settings, tokenizer and log against the checkpoint
// (mama/pretrain_resume.h); validation is in mama/pretrain_validate.h, the
// reference-check mode in mama/pretrain_check.cpp.
// Under mpirun it trains data-parallel (mama/pretrain_dist.h): the sharded
// loader, the gradient averaging and the gathered negatives come from there;
// only rank 0 writes the log, the progress, the checkpoints and validates.
#include "mama/pretrain.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>

#include "autograd/ops.h"
#include "mama/bpe_train.h"
#include "mama/loader.h"
#include "mama/pretrain_dist.h"
#include "mama/pretrain_guards.h"
#include "mama/pretrain_resume.h"
#include "mama/pretrain_validate.h"
#include "nn/atomic_file.h"
#include "nn/checkpoint.h"
#include "nn/checksum.h"
#include "nn/grad_overlap.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "nn/schedule.h"
#include "tensor/cuda_backend.h"
#include "tensor/precision.h"

namespace mama {

using namespace eng;
namespace fs = std::filesystem;

static double peak_rss_mib() {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}

BpeTokenizer make_run_tokenizer(const TrainConfig& t, const EmbedData& data, bool reuse_saved) {
    BpeTokenizer tok;
    std::string saved = t.out_dir + "/tokenizer";
    if (!t.tokenizer_json.empty()) {
        tok = BpeTokenizer::load_tokenizer_json(t.tokenizer_json);
    } else if (!t.tokenizer_vocab.empty() || !t.tokenizer_merges.empty()) {
        ENG_CHECK(!t.tokenizer_vocab.empty() && !t.tokenizer_merges.empty(),
                  "tokenizer: give both train.tokenizer_vocab and train.tokenizer_merges");
        tok = BpeTokenizer::load(t.tokenizer_vocab, t.tokenizer_merges);
    } else if (reuse_saved && fs::exists(saved + "/vocab.json") && fs::exists(saved + "/merges.txt")) {
        tok = BpeTokenizer::load(saved + "/vocab.json", saved + "/merges.txt");
    } else {
        // No BioMedLM files: learn a byte-level BPE from the unmasked training captions.
        std::vector<std::string> lines;
        for (int64_t i : data.split_indices(Split::Train)) lines.push_back(data.caption(i));
        ENG_CHECK(!lines.empty(), "tokenizer: the training split has no captions to learn a vocabulary from");
        BpeTrainOptions o;
        o.vocab_size = int(t.tokenizer_train_vocab);
        tok = train_bpe(lines, o);
        fs::create_directories(saved);
        tok.save(saved);
    }
    tok.add_mama_special_tokens();
    return tok;
}

namespace {

// Some things every rank reads for itself must be rank 0's: the tokenizer,
// the checkpoint a run resumes from, the training and validation splits (a
// rank whose out_dir or data is not shared could hold an earlier run's or
// another copy).  Rank 0
// sends a 64-bit fingerprint in four 16-bit pieces (exact in f32), and the
// ranks then agree whether any differs: if one does, every rank stops with
// the error, instead of training out of step (and then waiting forever in a
// collective).
void check_same_on_every_rank(DataParallel& dp, uint64_t fingerprint, const std::string& what,
                              const std::string& hint) {
    if (!dp.distributed()) return;
    std::vector<float> mine(4);
    for (int i = 0; i < 4; ++i) mine[size_t(i)] = float((fingerprint >> (16 * i)) & 0xffffu);
    Tensor t = from_vector(mine, {4}).to(dp.comm().device());  // NCCL sends GPU tensors
    dp.comm().broadcast(t, 0);
    const bool differs = t.to_vector() != mine;
    double ranks_differing = differs ? 1.0 : 0.0;
    dp.mean({&ranks_differing});
    ENG_CHECK(ranks_differing == 0.0, "pretrain: the ", what, " differs between the ranks (",
              differs ? "rank " + std::to_string(dp.rank()) + "'s is not rank 0's" : std::string("another rank's is not rank 0's"),
              "). HINT: ", hint);
}

uint64_t fingerprint_of(const std::map<std::string, std::string>& metadata) {
    std::string all;
    for (const auto& [k, v] : metadata) all += k + '\0' + v + '\0';
    return nn::checksum64(all.data(), all.size());
}

// A split as the loader sees it: the images (relative to the data folder,
// which may sit at another path on each machine) and their labels.
uint64_t fingerprint_of(const LoaderDataset& d, const std::string& data_dir) {
    std::string all = std::to_string(d.size()) + '\0';
    for (size_t i = 0; i < d.paths.size(); ++i) {
        const std::string& p = d.paths[i];
        all += (p.rfind(data_dir, 0) == 0 ? p.substr(data_dir.size()) : p) + '\0' + std::to_string(d.labels[i]) + '\0';
    }
    return nn::checksum64(all.data(), all.size());
}

std::string fmt(double v, int prec = 4) {
    std::ostringstream os;
    os << std::setprecision(prec) << v;
    return os.str();
}

// Before anything is written: without the data folder the first error would be
// a table that cannot be opened, and an empty out_dir would be left behind.
void check_data_dir(const TrainConfig& t) {
    std::error_code ec;
    const fs::file_status st = fs::status(t.data_dir, ec);
    ENG_CHECK(fs::is_directory(st), "pretrain: train.data_dir '", t.data_dir, "' ",
              fs::exists(st) ? "is not a folder" : "does not exist",
              ". HINT: make synthetic data with build/synth --patients 150 --seed 1 --size 256 --out ", t.data_dir,
              " (what make demo uses), or pass --train.data_dir pointing at an EMBED-layout folder (tables/, images/)");
}

// The training loader's options (this rank's shard is set by DataParallel::shard).
LoaderOptions train_loader_options(const TrainConfig& t) {
    LoaderOptions lo;
    lo.batch_size = int(t.micro_batch);
    lo.image_size = int(t.image_size);
    lo.max_len = int(t.max_len);
    lo.with_partners = true;
    lo.num_workers = int(t.workers > 0 ? t.workers : -1);
    lo.seed = t.seed;
    return lo;
}

// Validation runs on rank 0 alone, over the split in micro-batches, in order,
// without augmentation.  As the reference, it drops the split's last partial
// batch (drop_last); a split smaller than one micro-batch is validated as one
// partial batch rather than refused.
std::unique_ptr<BatchLoader> make_valid_loader(const TrainConfig& t, const LoaderDataset& valid_ds,
                                               const BpeTokenizer& tok, bool main_rank) {
    LoaderOptions vo = train_loader_options(t);
    vo.transform = LoaderTransform::Eval;
    vo.shuffle = false;
    vo.seed = t.seed + 1;
    vo.drop_last = valid_ds.size() >= t.micro_batch;
    if (main_rank && valid_ds.size() >= 2 && !vo.drop_last)
        std::cerr << "== note: the validation split has " << valid_ds.size() << " images, fewer than train.micro_batch "
                  << t.micro_batch << ": validating on them as one batch\n";
    if (valid_ds.size() < 2 || !main_rank) return nullptr;
    return std::make_unique<BatchLoader>(valid_ds, &tok, vo);
}

// The loss terms of one optimiser step: means over its micro-batches and the
// ranks; inactive terms are 0.
struct StepLosses {
    double total = 0, clip = 0, mv = 0, partner = 0, sla = 0;
};

// The forward and backward passes of one optimiser step over train.accumulate
// micro-batches, leaving in every trainable parameter's .grad the mean of the
// micro-batch gradients, averaged over the ranks.  `stop` says whether any
// rank was asked to stop (a signal, pretrain_guards.h); `images` counts the
// global batch.
StepLosses accumulate_gradients(MamaModel& model, BatchLoader& loader, DataParallel& dp, const TrainConfig& t,
                                const MamaSpecialIds& special, Device device, int64_t step, bool& stop,
                                int64_t& images) {
    // The terms stay on the device until the last backward has been queued:
    // reading one (item()) would make the host wait for the GPU mid-step.
    std::vector<Tensor> terms;  // total, clip, mv, partner_clip, sla per micro-batch (mv.. undefined when inactive)
    std::unique_ptr<nn::OverlappedGradientAverager> averager;  // buckets started during the last backward
    for (int64_t a = 0; a < t.accumulate; ++a) {
        Batch b = loader.next();
        std::unique_ptr<autograd::LeafGradHook> hook;
        if (a + 1 == t.accumulate && dp.distributed() && t.overlap_gradients) {
            averager = std::make_unique<nn::OverlappedGradientAverager>(dp.comm(), model.trainable_parameters());
            hook = averager->hook();
        }
        MamaLosses l = model.forward(to_model_batch(b, special, device), step);
        // The applied gradient is the mean of the micro-batch gradients.
        backward(mul(l.total, 1.0f / float(t.accumulate)));
        hook.reset();
        for (const Tensor* x : {&l.total, &l.clip, &l.mv, &l.partner_clip, &l.sla})
            terms.push_back(x->defined() ? x->detach() : Tensor());
        images += b.size() * dp.world();
    }
    StepLosses s;
    const double n = double(t.accumulate);
    for (size_t i = 0; i < terms.size(); i += 5) {
        s.total += terms[i].item() / n;
        s.clip += terms[i + 1].item() / n;
        if (terms[i + 2].defined())
            s.mv += terms[i + 2].item() / n, s.partner += terms[i + 3].item() / n, s.sla += terms[i + 4].item() / n;
    }
    if (averager) averager->finish();  // the mean of the ranks' gradients
    // The losses of the whole global batch, and whether any rank was asked to stop.
    double stop_asked = StopOnSignal::requested() ? 1.0 : 0.0;
    dp.mean({&s.total, &s.clip, &s.mv, &s.partner, &s.sla, &stop_asked});
    stop = stop_asked > 0.0;
    if (!averager && std::isfinite(s.total)) dp.reduce_gradients(model);  // the mean of the ranks' gradients
    return s;
}

// One line of log.jsonl per optimiser step (0-based step).
void log_step(std::ostream& log, int64_t step, float lr, const StepLosses& l, double images_per_s) {
    log << "{\"step\":" << step << ",\"lr\":" << lr << ",\"loss\":" << l.total << ",\"loss_clip\":" << l.clip
        << ",\"loss_mv\":" << l.mv << ",\"loss_partner_clip\":" << l.partner << ",\"loss_sla\":" << l.sla
        << ",\"images_per_s\":" << images_per_s << ",\"rss_mib\":" << peak_rss_mib() << "}\n";
}

// The progress line, redrawn in place: a bar, the losses, speed, memory, ETA.
void print_progress(int64_t step, int64_t start, int64_t steps, float lr, const StepLosses& l, double secs,
                    double images_per_s) {
    const int64_t done = step + 1 - start, left = steps - step - 1;
    const double eta = secs / double(done) * double(left);
    const int width = 24, filled = int(double(step + 1) / double(steps) * width);
    std::cerr << "\r[" << std::string(size_t(filled), '#') << std::string(size_t(width - filled), '.') << "] "
              << step + 1 << "/" << steps << " loss " << fmt(l.total) << " (clip " << fmt(l.clip)
              << (l.mv != 0 ? ", mv " + fmt(l.mv) + ", partner " + fmt(l.partner) + ", sla " + fmt(l.sla) : "")
              << ") lr " << fmt(lr, 3) << " " << fmt(images_per_s, 3) << " img/s " << fmt(peak_rss_mib(), 4)
              << " MiB eta " << int(eta) << "s   " << std::flush;
}

// Before a checkpoint every rank checks its weights and buffers (the
// BatchNorm running statistics differ between ranks); if any rank's are no
// longer finite, all stop together, keeping the previous checkpoints.
bool weights_finite_on_every_rank(MamaModel& model, DataParallel& dp, int64_t step, const std::string& out_dir) {
    const std::string bad = first_non_finite(model);
    double any_bad = bad.empty() ? 0.0 : 1.0;
    dp.mean({&any_bad});
    if (any_bad == 0.0) return true;
    if (dp.main())
        std::cerr << "\nerror: after step " << step << " the weights or buffers hold non-finite values ("
                  << (bad.empty() ? std::string("on another rank") : "first in " + bad)
                  << "); training stopped without overwriting the checkpoints in " << out_dir
                  << ".\nHINT: lower train.lr or set train.clip_grad\n";
    return false;
}

// Restores a run from its last checkpoint: every weight, the optimiser, the
// generators and the loader's position; returns the next step, and the best
// validation metric so far in `best`.
int64_t restore_run(const std::string& last_path, MamaModel& model, nn::AdamW& optimizer,
                    const nn::NamedGenerators& rngs, BatchLoader& train_loader, const DataParallel& dp, double& best) {
    nn::TrainingState st = nn::load_checkpoint(last_path, model, &optimizer, rngs);
    ENG_CHECK(st.extra.count("loader"), "--resume: ", last_path, " has no extra.loader (the data position). ",
              "HINT: it is not a checkpoint of build/pretrain; start without --resume");
    train_loader.set_position(dp.adapt_position(LoaderPosition::parse(st.extra.at("loader")), train_loader));
    if (st.extra.count("best")) {
        try {
            best = std::stod(st.extra.at("best"));
        } catch (const std::exception&) {
            best = NAN;
        }
        // NaN would never compare greater: no later validation could be the best.
        ENG_CHECK(!std::isnan(best), "--resume: ", last_path, ": extra.best '", st.extra.at("best"),
                  "' is not a number");
    }
    return st.step;
}

// What is about to train, on what, and (for a new run) where the towers start from.
void print_run_summary(MamaModel& model, const DataParallel& dp, const TrainConfig& t, Device device,
                       const std::string& precision, bool new_run) {
    std::cerr << "== model: " << model.num_parameters() << " parameters, " << model.num_parameters(true)
              << " trainable now; " << t.steps << " steps; late losses from step "
              << model.config.schedule.late_start_step << "\n== data parallel: " << dp.summary(t)
              << "\n== device: " << (device == Device::CUDA ? cuda::device_summary() : std::string("cpu")) << ", "
              << precision << (bf16_true() ? " (every stored value rounded to bf16)\n" : " matmuls\n");
    if (new_run)  // a paper-sized run without its pretrained towers is rarely what was meant
        std::cerr << "== init: image tower "
                  << (t.init_dinov2.empty() ? std::string("random (no train.init_dinov2)") : "from " + t.init_dinov2)
                  << ", text tower "
                  << (t.init_text.empty() ? std::string("random (no train.init_text)") : "from " + t.init_text) << "\n";
}

// A validation's line on the terminal and in log.jsonl.
void report_validation(std::ostream& log, int64_t step, const ValResult& v) {
    std::cerr << "\n== validation at step " << step + 1 << ": loss " << fmt(v.loss) << ", i2t top1/5 " << fmt(v.i2t1, 3)
              << "/" << fmt(v.i2t5, 3) << ", t2i top1/5 " << fmt(v.t2i1, 3) << "/" << fmt(v.t2i5, 3) << " ("
              << v.batches << " batches)\n";
    log << "{\"step\":" << step << ",\"val_loss\":" << v.loss << ",\"val_i2t_top1\":" << v.i2t1
        << ",\"val_i2t_top5\":" << v.i2t5 << ",\"val_t2i_top1\":" << v.t2i1 << ",\"val_t2i_top5\":" << v.t2i5
        << "}\n";
}

}  // namespace

int run_pretrain(const RunConfig& rc, const PretrainOptions& options) {
    const TrainConfig& t = rc.train;
    const Device device = t.device == "cuda" ? Device::CUDA : Device::CPU;
    if (device == Device::CUDA) cuda::require_available("pretrain with train.device cuda");
    const std::string precision = set_matmul_precision(device, t.precision);
    // One rank, or mpirun's (before any GPU allocation: NCCL picks this rank's GPU).
    DataParallel dp = options.comm ? DataParallel(options.comm) : DataParallel(device);
    PretrainOptions opt = options;
    if (!dp.main()) opt.quiet = true;
    check_data_dir(t);
    fs::create_directories(t.out_dir);
    std::string last_path = t.out_dir + "/last.safetensors", best_path = t.out_dir + "/best.safetensors";
    std::string log_path = t.out_dir + "/log.jsonl";
    if (dp.main()) {
        // Left by a run killed mid-write (checkpoints here, tokenizer files below).
        const int stale = nn::remove_stale_temporaries(t.out_dir) + nn::remove_stale_temporaries(t.out_dir + "/tokenizer");
        if (stale > 0) std::cerr << "== removed " << stale << " unfinished file(s) of a killed run\n";
    }
    // A resumed run checks its settings first, before the data and the model are built.
    const int64_t global_batch = t.micro_batch * t.accumulate * dp.world();
    std::map<std::string, std::string> resumed;  // the checkpoint's metadata
    if (opt.resume) {
        resumed = resume_metadata(last_path);
        check_same_on_every_rank(dp, fingerprint_of(resumed), "checkpoint " + last_path + " (its metadata)",
                                 "every rank must resume from the same file: put train.out_dir on a shared file "
                                 "system, or copy rank 0's last.safetensors to every machine");
        check_resume_config(resumed, rc.json, global_batch, t.negatives_follow_ranks(), opt.allow_config_change,
                            dp.main());
    } else if (dp.main() && fs::exists(last_path)) {
        // A new run replaces the old one's log and checkpoints; its best would
        // otherwise outlive it until the new run's first validation.
        std::cerr << "== note: " << t.out_dir << " held an earlier run; starting a new one there (--resume continues "
                  << "the old one instead)\n";
        fs::remove(best_path);
    }

    // ---- data and tokenizer ----
    EmbedOptions eo;
    eo.data_dir = t.data_dir;
    eo.image_suffix = t.image_suffix;
    EmbedData data = load_embed(eo);
    if (dp.main()) std::cerr << "== data: " << data.summary.text() << "\n";
    // Rank 0 trains and saves the tokenizer first; the others then load it (or,
    // without a shared out_dir, train the same one: BPE training is deterministic).
    BpeTokenizer tok;
    // A new run trains its own (a tokenizer left in out_dir by an earlier run
    // may have other settings); a resumed one reloads the run's.
    if (dp.main()) tok = make_run_tokenizer(t, data, opt.resume);
    dp.comm().barrier();
    if (!dp.main()) tok = make_run_tokenizer(t, data, true);
    MamaSpecialIds special = tok.add_mama_special_tokens();
    const std::string tokenizer_id = tok.fingerprint();
    if (opt.resume) check_resume_tokenizer(resumed, tokenizer_id, t.out_dir + "/tokenizer");
    check_same_on_every_rank(dp, std::stoull(tokenizer_id, nullptr, 16), "tokenizer (" + tokenizer_id + ")",
                             "put train.out_dir on a shared file system, or remove the stale OUT/tokenizer/ folders");
    LoaderDataset train_ds = embed_dataset(data, Split::Train, EmbedTask::Birads);
    LoaderDataset valid_ds = embed_dataset(data, Split::Valid, EmbedTask::Birads);
    ENG_CHECK(train_ds.size() >= t.micro_batch, "pretrain: the training split has ", train_ds.size(),
              " images, fewer than one micro-batch of ", t.micro_batch, ". HINT: more data or a smaller train.micro_batch");
    check_same_on_every_rank(dp, fingerprint_of(train_ds, t.data_dir), "training split (" + std::to_string(train_ds.size()) +
                             " images in " + t.data_dir + ")",
                             "every rank must read the same data: the same tables and images under train.data_dir");
    // Only rank 0 validates, but every rank decides from the split's size
    // whether a step validates, and with it whether a collective runs.
    check_same_on_every_rank(dp, fingerprint_of(valid_ds, t.data_dir), "validation split (" +
                             std::to_string(valid_ds.size()) + " images in " + t.data_dir + ")",
                             "every rank must read the same data: the same tables and images under train.data_dir");
    LoaderOptions lo = train_loader_options(t);
    dp.shard(lo);
    BatchLoader train_loader(train_ds, &tok, lo);
    std::unique_ptr<BatchLoader> valid_loader = make_valid_loader(t, valid_ds, tok, dp.main());

    // ---- model and optimiser ----
    MamaConfig mc = rc.model;
    // Without a BioMedLM file the text tower is random, over the whole vocabulary,
    // and (as BioMedLM's would be) frozen: its LoRA adapters and the heads train.
    if (t.init_text.empty()) mc.text.vocab = tok.vocab_size();
    manual_seed(t.seed);
    Generator init_gen(t.seed);
    MamaModel model(mc, tok.vocab_size(), &init_gen);
    // A checkpoint holds every weight, frozen ones included, so a resumed run
    // does not read the init files again (they may have moved; BioMedLM's are
    // gigabytes): the checkpoint overwrites the whole model below.
    if (!opt.resume) model.load_pretrained(t.init_dinov2, t.init_text);
    else if (dp.main() && (!t.init_dinov2.empty() || !t.init_text.empty()))
        std::cerr << "== resume: every weight comes from " << last_path << "; train.init_* are not read again\n";
    model.to(device);  // before the optimiser, whose state follows the parameters' device
    nn::AdamW optimizer({nn::ParamGroup{model.parameters(), float(t.lr), float(t.weight_decay)}});
    nn::Schedule sched{nn::Schedule::parse_kind(t.schedule), t.lr, t.min_lr, t.warmup, t.steps};
    nn::NamedGenerators rngs = {{"default", &default_generator()}};
    std::string config_text = eng::json::dump(rc.json);

    int64_t start = 0;
    double best = -INFINITY;
    if (opt.resume) {
        start = restore_run(last_path, model, optimizer, rngs, train_loader, dp, best);
        if (dp.main()) std::cerr << "== resumed from " << last_path << " at step " << start << "\n";
    }
    if (dp.main() && opt.stop_at > 0 && (opt.stop_at <= start || opt.stop_at >= t.steps))
        std::cerr << "== note: --stop-at " << opt.stop_at << " is not between step " << start << " and the last step "
                  << t.steps << ": the run goes on to the end\n";
    // Pure bf16 (tensor/precision.h): no f32 master weights, also when a run
    // saved by another precision is resumed in this one.
    if (bf16_true()) model.round_to_bf16();
    dp.start(model, t);
    if (dp.main()) print_run_summary(model, dp, t, device, precision, !opt.resume);

    std::ofstream log;  // rank 0 only
    if (dp.main()) {
        if (opt.resume) truncate_log_for_resume(resumed, log_path);  // the steps after the checkpoint run again
        log.open(log_path, opt.resume ? std::ios::app : std::ios::trunc);
        ENG_CHECK(log, "pretrain: cannot write the log ", log_path);
    }
    auto flush_log = [&] {
        log.flush();
        ENG_CHECK(log.good(), "pretrain: writing the log ", log_path, " failed. HINT: is the disk full?");
    };
    // Rank 0 saves a checkpoint (the weights were checked on every rank first).
    auto save = [&](const std::string& path, int64_t next_step) {
        nn::TrainingState st;
        st.step = next_step;
        st.extra["loader"] = train_loader.position().str();
        st.extra["best"] = fmt(best, 17);
        st.extra["tokenizer"] = tokenizer_id;
        st.extra["global_batch"] = std::to_string(global_batch);
        // The log is flushed by now; if someone removed it, resuming simply appends.
        std::error_code ec;
        const uintmax_t log_bytes = fs::file_size(log_path, ec);
        if (!ec) st.extra["log_bytes"] = std::to_string(log_bytes);
        nn::save_checkpoint(path, model, &optimizer, st, rngs, config_text);
    };
    if (dp.main() && !valid_loader && t.checkpoint_every <= 0)
        std::cerr << "== note: no validation split and train.checkpoint_every 0: the only checkpoint is written at "
                     "the end (or on Ctrl-C)\n";
    StopOnSignal stop_on_signal;

    // ---- the optimiser steps ----
    auto t0 = std::chrono::steady_clock::now();
    int64_t images = 0;
    for (int64_t step = start; step < t.steps; ++step) {
        model.train();
        model.apply_schedule(step);
        dp.begin_step(t.seed, step);
        const float lr = float(sched.lr_at(step));
        optimizer.set_lr(lr);
        bool stop = false;
        const StepLosses l = accumulate_gradients(model, train_loader, dp, t, special, device, step, stop, images);
        if (!std::isfinite(l.total)) {  // the same decision on every rank (the losses are the ranks' means)
            if (dp.main())
                std::cerr << "\nerror: the loss became " << l.total << " at step " << step << " (clip " << l.clip
                          << ", mv " << l.mv << ", partner " << l.partner << ", sla " << l.sla
                          << "); training stopped. The last good checkpoint is " << last_path
                          << ".\nHINT: lower train.lr, or check the data of this step\n";
            return 3;
        }
        // A finite loss can still leave inf or NaN gradients (an overflow in the
        // backward); AdamW would write them into the weights and the next
        // checkpoint.  The gradients are the ranks' mean: every rank decides alike.
        // With clipping on, the norm it computes anyway says it (a non-finite
        // norm leaves the gradients unscaled); else the same norm alone.
        const bool finite_gradients =
            t.clip_grad > 0 ? std::isfinite(nn::clip_grad_norm(model.trainable_parameters(), float(t.clip_grad)))
                            : gradients_finite(model.trainable_parameters());
        if (!finite_gradients) {
            if (dp.main())
                std::cerr << "\nerror: the gradients became non-finite at step " << step << " (loss " << l.total
                          << "); training stopped before the update. The last good checkpoint is " << last_path
                          << ".\nHINT: lower train.lr or set train.clip_grad\n";
            return 3;
        }
        optimizer.step();
        optimizer.zero_grad();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double ips = double(images) / std::max(secs, 1e-9);
        const bool last_step = step + 1 == t.steps;
        if (dp.main()) {
            log_step(log, step, lr, l, ips);
            flush_log();
            if (!opt.quiet && (step % std::max<int64_t>(t.log_every, 1) == 0 || last_step))
                print_progress(step, start, t.steps, lr, l, secs, ips);
        }
        // Whether this is a validation step is decided alike on every rank
        // (from the split, which every rank has), since it decides whether
        // the collective of the weights check below runs; only rank 0 has the
        // validation loader and validates.
        const bool val_step =
            valid_ds.size() >= 2 && ((t.val_every > 0 && (step + 1) % t.val_every == 0) || last_step);
        // A stop at the end is just the end.  stop_at is the same on every rank.
        const bool pause_now = opt.stop_at > 0 && step + 1 == opt.stop_at;
        const bool stop_now = (stop || pause_now) && !last_step;
        const bool checkpoint_now =
            val_step || (t.checkpoint_every > 0 && (step + 1) % t.checkpoint_every == 0) || last_step || stop_now;
        if (checkpoint_now && !weights_finite_on_every_rank(model, dp, step, t.out_dir)) return 3;
        if (!dp.main()) {
            if (stop_now) return stop ? 130 : 0;
            continue;  // the other ranks go on to the next step's collectives
        }
        if (val_step && valid_loader) {
            DataParallel::LocalOnly alone(model);
            // Lightning validates after the update, at global_step = step + 1:
            // the validation of the step before late_start already has all terms.
            const ValResult v = validate(model, *valid_loader, special, step + 1, t.val_batches);
            report_validation(log, step, v);
            flush_log();
            const double m = metric_of(v, t.best_metric);
            if (v.batches > 0 && m > best) {
                best = m;
                save(best_path, step + 1);
                std::cerr << "== new best " << t.best_metric << ": checkpoint " << best_path << "\n";
            }
        }
        if (checkpoint_now) save(last_path, step + 1);
        if (stop_now) {
            std::cerr << "\n== " << (stop ? "stopped by a signal" : "paused as asked (--stop-at)") << " after step "
                      << step + 1 << " of " << t.steps << ": checkpoint " << last_path
                      << "; continue with --resume\n";
            return stop ? 130 : 0;
        }
    }
    if (dp.main())
        std::cerr << "\n== done: " << t.steps << " steps; checkpoints in " << t.out_dir << ", log " << log_path << "\n";
    return 0;
}

}  // namespace mama
