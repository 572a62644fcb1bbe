// evaluate.cpp: build/evaluate's driver: the task's data (EMBED per-class test
// subset or the RSNA test split), the chosen protocol, and every output
// (terminal table, metrics.json, predictions.csv, report.html with heat maps).
#include "mama/evaluate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "mama/embed.h"
#include "mama/rsna.h"
#include "mama/transforms.h"
#include "tensor/check.h"

namespace mama {

using namespace eng;
namespace fs = std::filesystem;

namespace {

std::string fmt(double v, int prec = 4) {
    std::ostringstream os;
    os << std::setprecision(prec) << v;
    return os.str();
}

// Keeps the listed items of a dataset (in the given order).
LoaderDataset subset(const LoaderDataset& d, const std::vector<int64_t>& keep) {
    LoaderDataset s = d;  // every dataset-wide setting (RSNA's letterbox and prompt length, ...)
    s.paths.clear(), s.labels.clear(), s.records.clear(), s.reports.clear();
    for (int64_t i : keep) {
        s.paths.push_back(d.paths[size_t(i)]);
        s.labels.push_back(d.labels[size_t(i)]);
        s.records.push_back(d.records[size_t(i)]);
        if (!d.reports.empty()) s.reports.push_back(d.reports[size_t(i)]);
    }
    // Partners are not used by evaluation; the full set's lists would name
    // positions of the full set.
    s.partners.assign(s.paths.size(), {});
    return s;
}

// Up to `count` items, one of each class in turn, so the report shows several classes.
std::vector<int64_t> pick_examples(const std::vector<int>& labels, int K, int64_t count) {
    std::vector<int64_t> out;
    std::vector<size_t> next(size_t(K), 0);
    for (bool any = true; any && int64_t(out.size()) < count;) {
        any = false;
        for (int c = 0; c < K && int64_t(out.size()) < count; ++c) {
            size_t& i = next[size_t(c)];
            while (i < labels.size() && labels[i] != c) ++i;
            if (i < labels.size()) out.push_back(int64_t(i++)), any = true;
        }
    }
    return out;
}

// The sentence the heat map shows: the one that carries the task's label.
int label_sentence(EvalTask t, const std::vector<std::string>& sentences) {
    const char* key = t == EvalTask::Density ? "breast is" : t == EvalTask::Birads ? "BI-RADS" : "Cancer";
    for (size_t j = 0; j < sentences.size(); ++j)
        if (sentences[j].find(key) != std::string::npos) return int(j);
    return 0;
}

// Creates the output folder, or says why it cannot (a raw filesystem_error
// named only the system call).  Checked before the checkpoint is loaded when
// --out is given, so a typo does not cost the model's load time.
void check_out_dir(const std::string& dir, bool create) {
    std::error_code ec;
    const fs::file_status st = fs::status(dir, ec);
    ENG_CHECK(!fs::exists(st) || fs::is_directory(st), "evaluate: --out '", dir,
              "' exists and is not a folder. HINT: give a folder path for the outputs (metrics.json, "
              "predictions.csv, report.html), or remove that file");
    if (!create) return;
    fs::create_directories(dir, ec);
    ENG_CHECK(!ec, "evaluate: cannot create the output folder '", dir, "': ", ec.message(),
              ". HINT: check that its parent folders exist as folders and are writable, or choose another --out");
}

// After a successful run: removes what an earlier evaluation wrote into `dir`
// and this one did not (a zero-shot run into a linear probe's folder kept its
// probe.safetensors; two examples left example_2..3.png of an earlier four),
// so the folder holds one run's outputs.  Only these names; other files stay,
// and a linked examples folder is not unlinked.  Done at the end, so a run
// that is refused or fails leaves the earlier outputs in place.
int remove_stale_outputs(const std::string& dir, bool probe, size_t examples_written) {
    int removed = 0;
    std::error_code ec;
    if (!probe)
        for (const char* name : {"train_log.jsonl", "probe.safetensors"}) removed += fs::remove(fs::path(dir) / name, ec);
    const fs::path examples = fs::path(dir) / "examples";
    if (!fs::is_directory(examples, ec)) return removed;
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator(examples, ec)) {
        const std::string n = e.path().filename().string(), prefix = "example_";
        if (n.rfind(prefix, 0) != 0 || e.path().extension() != ".png") continue;
        const std::string digits = n.substr(prefix.size(), n.size() - prefix.size() - 4);
        if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        if (std::stoul(digits) >= examples_written) stale.push_back(e.path());
    }
    for (const fs::path& p : stale) removed += fs::remove(p, ec);
    if (!fs::is_symlink(examples, ec)) fs::remove(examples, ec);  // only if now empty
    return removed;
}

std::vector<HeatmapExample> heatmap_examples(LoadedRun& run, EvalTask task, const LoaderDataset& test,
                                             const EvalResult& r, int64_t count, const std::string& out_dir) {
    std::vector<HeatmapExample> ex;
    if (count <= 0) return ex;
    const int K = test.num_classes, S = int(run.config.train.image_size);
    fs::create_directories(out_dir + "/examples");
    TransformOptions to;
    to.size = S;
    for (int64_t i : pick_examples(test.labels, K, count)) {
        try {
            std::string caption = task == EvalTask::Rsna ? rsna_prompts(test.caption_options)[size_t(test.labels[size_t(i)])]
                                                         : cached_caption(test.reports[size_t(i)], test.caption_options);
            int j = label_sentence(task, caption_sentences(caption));
            // As the model saw it: through the dataset's letterbox (RSNA: 1024) and prompt length.
            const int source = test.source_size > 0 ? test.source_size : S;
            Image seen = eval_augment(load_source(test.paths[size_t(i)], source, to.faithful_uint8), to);
            std::string png = out_dir + "/examples/example_" + std::to_string(ex.size()) + ".png";
            save_png8(png, seen);
            HeatmapExample h;
            h.image_path = png;
            h.grid = local_similarity_map(run, load_eval_images({test.paths[size_t(i)]}, S, source), caption, j,
                                          &h.grid_h, &h.grid_w, &h.sentence, test.prompt_max_len);
            const auto& p = r.probs[size_t(i)];
            int pred = int(std::max_element(p.begin(), p.end()) - p.begin());
            h.title = fs::path(test.paths[size_t(i)]).filename().string() + ": label " + r.class_names[size_t(r.labels[size_t(i)])] +
                      ", predicted " + r.class_names[size_t(pred)] + " (p " + fmt(p[size_t(pred)], 3) + ")";
            ex.push_back(std::move(h));
        } catch (const std::exception& e) {
            std::cerr << "warning: no heat map for " << test.paths[size_t(i)] << ": " << e.what() << "\n";
        }
    }
    return ex;
}

}  // namespace

EvaluateOutcome run_evaluate(const EvaluateOptions& o) {
    const EvalTask task = parse_eval_task(o.task);
    ENG_CHECK(o.mode == "zeroshot" || o.mode == "linear" || o.mode == "finetune",
              "--mode must be zeroshot, linear or finetune, got '", o.mode, "'");
    const SoftmaxMode sm = parse_softmax_mode(o.softmax);
    ENG_CHECK(o.pooling == "first_pad" || o.pooling == "mean", "--pooling must be first_pad or mean, got '", o.pooling, "'");
    ENG_CHECK(o.eval_batch >= 1, "--eval-batch must be positive");
    ENG_CHECK(task != EvalTask::Rsna || !o.data_dir.empty(),
              "--task rsna needs --data DIR (the folder with train.csv and the RSNA images)");
    const bool progress = !o.quiet;
    if (!o.out_dir.empty()) check_out_dir(o.out_dir, false);

    LoadedRun run = load_run(o.checkpoint, o.config, task == EvalTask::Rsna ? "" : o.data_dir, o.device, o.precision);
    EvaluateOutcome res;
    res.out_dir = o.out_dir.empty() ? run.run_dir + "/eval-" + o.task + "-" + o.mode : o.out_dir;
    check_out_dir(res.out_dir, true);

    // ---- data ----
    LoaderDataset train, test;
    if (task == EvalTask::Rsna) {
        RsnaOptions ro;
        ro.data_dir = o.data_dir;
        if (!o.rsna_image_dir.empty()) ro.image_dir = o.rsna_image_dir;
        if (!o.rsna_image_suffix.empty()) ro.image_suffix = o.rsna_image_suffix;
        RsnaData rd = load_rsna(ro);
        test = rsna_dataset(rd, Split::Test);
        train = rsna_dataset(rd, Split::Train);
    } else {
        EmbedOptions eo;
        eo.data_dir = run.config.train.data_dir;
        eo.image_suffix = run.config.train.image_suffix;
        EmbedData data = load_embed(eo);
        EmbedTask et = task == EvalTask::Birads ? EmbedTask::Birads : EmbedTask::Density;
        test = embed_dataset(data, embed_test_subset(data, et), et, "EMBED test subset");
        train = embed_dataset(data, Split::Train, et);
    }
    if (o.max_test > 0 && o.max_test < test.size()) {
        // A seeded random subset (the per-class subset is ordered class by class), kept in order.
        std::vector<int64_t> perm = Generator(o.seed).permutation(test.size());
        perm.resize(size_t(o.max_test));
        std::sort(perm.begin(), perm.end());
        test = subset(test, perm);
    }
    ENG_CHECK(test.size() > 0, "evaluate: the test set of ", eval_task_name(task),
              " is empty. HINT: check --data and the tables");
    if (progress) std::cerr << "== " << eval_task_name(task) << ", " << o.mode << ": " << test.size() << " test images\n";

    // ---- the protocol ----
    const int K = test.num_classes;
    std::vector<float> probs;
    std::vector<std::pair<std::string, std::string>> info = {
        {"checkpoint", o.checkpoint}, {"task", eval_task_name(task)}, {"protocol", o.mode},
        {"test images", std::to_string(test.size())}};
    if (o.mode == "zeroshot") {
        res.logits = zeroshot_logits(run, task, test, o.pooling, o.eval_batch, o.workers, progress);
        probs = softmax_rows(res.logits, K, sm);
        info.emplace_back("probabilities", sm == SoftmaxMode::Double ? "softmax(softmax(s)) (the reference's)" : "softmax(s)");
        info.emplace_back("text pooling", o.pooling);
        info.emplace_back("exp(logit_scale)", fmt(std::exp(double(run.model->logit_scale.item()))));
    } else {
        ProbeOptions po;
        po.finetune = o.mode == "finetune";
        po.steps = o.steps;
        po.warmup = o.warmup >= 0 ? o.warmup : std::max<int64_t>(1, std::min<int64_t>(100, (o.steps * 100 + 7999) / 8000));
        if (po.warmup >= po.steps) {  // the schedule needs a warmup shorter than the run
            if (o.warmup >= 0)
                std::cerr << "evaluate: note: --warmup " << o.warmup << " is not shorter than --steps " << o.steps
                          << "; using warmup " << po.steps - 1 << "\n";
            po.warmup = po.steps - 1;
        }
        po.batch = o.batch;
        po.lr = o.lr, po.min_lr = o.min_lr, po.momentum = o.momentum, po.weight_decay = o.weight_decay;
        po.workers = o.workers;
        po.seed = o.seed;
        po.log_path = res.out_dir + "/train_log.jsonl";
        po.save_path = res.out_dir + "/probe.safetensors";
        po.progress = progress;
        // The heat maps pair the image tower's patch tokens with the local
        // heads trained beside it in pretraining; fine-tuning changes the
        // tower but not those heads, so the maps are drawn with the
        // pretrained tower, kept aside for them (the probe file has the tuned one).
        std::map<std::string, Tensor> pretrained_tower;
        if (po.finetune && o.examples > 0)
            for (auto& [name, t] : run.model->image.state_dict()) pretrained_tower[name] = t.clone();
        res.logits = probe_logits(run, train, test, po, o.eval_batch);
        if (!pretrained_tower.empty()) {
            run.model->image.load_state_dict(pretrained_tower, true);
            info.emplace_back("heat maps", "the pretrained image tower's (the local heads were trained with it)");
        }
        probs = softmax_rows(res.logits, K, SoftmaxMode::Single);
        info.emplace_back("training", std::to_string(po.steps) + " steps of " +
                                          std::to_string(std::min<int64_t>(po.batch, train.size())) +
                                          " balanced draws from " + std::to_string(train.size()) + " images, SGD lr " +
                                          fmt(po.lr) + ", warmup " + std::to_string(po.warmup));
        info.emplace_back("probabilities", "softmax(logits)");
    }

    // NaN or infinite weights give non-finite scores; say where they come from
    // (the metrics would only name a sample).
    for (size_t i = 0; i < res.logits.size(); ++i)
        ENG_CHECK(std::isfinite(res.logits[i]), "evaluate: the ", o.mode == "zeroshot" ? "zero-shot" : "probe",
                  " score of test image ", i / size_t(K), " (", test.paths[i / size_t(K)], ") is ", res.logits[i],
                  ": the checkpoint ", o.checkpoint, o.mode == "zeroshot" ? "" : " or the probe's training",
                  " gave non-finite values. HINT: build/inspect shows whether the weights hold NaN or inf; use an "
                  "earlier checkpoint of the run", o.mode == "zeroshot" ? "" : ", or a lower --lr");

    // ---- metrics and outputs ----
    EvalResult& r = res.result;
    r.task = eval_task_name(task);
    r.class_names = class_names(task);
    r.labels = test.labels;
    r.paths = test.paths;
    for (int64_t n = 0; n < test.size(); ++n) r.probs.emplace_back(probs.begin() + n * K, probs.begin() + (n + 1) * K);
    res.metrics = compute_metrics(r);
    if (!o.quiet) print_metrics_table(std::cout, r, res.metrics);
    write_metrics_json(res.out_dir + "/metrics.json", r, res.metrics);
    write_predictions_csv(res.out_dir + "/predictions.csv", r);

    ReportInputs rep;
    rep.title = std::string("MaMA evaluation: ") + eval_task_name(task) + ", " + o.mode;
    rep.info = info;
    std::string heading = (o.mode == "zeroshot" ? "Zero-shot" : o.mode == "linear" ? "Linear probing" : "Fine-tuning") +
                          std::string(", ") + eval_task_name(task);
    rep.evaluations.push_back({heading, r, res.metrics});
    if (o.mode == "zeroshot" && sm == SoftmaxMode::Double) {
        // §9.1: report the single-softmax variant too (it changes the multi-class AUC only).
        EvalResult single = r;
        std::vector<float> p1 = softmax_rows(res.logits, K, SoftmaxMode::Single);
        for (int64_t n = 0; n < test.size(); ++n)
            single.probs[size_t(n)].assign(p1.begin() + n * K, p1.begin() + (n + 1) * K);
        Metrics m1 = compute_metrics(single);
        rep.evaluations.push_back({heading + " (single softmax)", single, m1});
        if (!o.quiet)
            std::cout << "single-softmax AUC: " << (std::isnan(m1.auc) ? std::string("-") : fmt(100.0 * m1.auc))
                      << " (mean of defined classes " << fmt(100.0 * m1.auc_defined_mean) << ")\n";
    }
    std::string log_path = run.run_dir + "/log.jsonl";
    if (fs::exists(log_path)) rep.training_log_path = log_path;
    rep.examples = heatmap_examples(run, task, test, r, o.examples, res.out_dir);
    write_html_report(res.out_dir + "/report.html", rep);
    if (int n = remove_stale_outputs(res.out_dir, o.mode != "zeroshot", rep.examples.size()); n > 0)
        std::cerr << "evaluate: note: removed " << n << " file(s) an earlier evaluation left in " << res.out_dir << "\n";
    if (!o.quiet)
        std::cout << "outputs: " << res.out_dir << "/{metrics.json,predictions.csv,report.html}\nreport: " << res.out_dir
                  << "/report.html\n";
    return res;
}

}  // namespace mama
