// report.h: the evaluation outputs: a terminal table, a metrics JSON file, a
// per-image predictions CSV, the training-log (JSONL) reader and a
// self-contained HTML report with inline SVG figures.
//
// Typical use by an evaluation program:
//   mama::EvalResult r;  r.task = "embed_density"; r.class_names = {...};
//   r.labels = ...; r.probs = ...; r.paths = ...;          // one entry per test image
//   mama::Metrics m = mama::compute_metrics(r);
//   mama::print_metrics_table(std::cout, r, m);
//   mama::write_metrics_json(out + "/metrics.json", r, m);
//   mama::write_predictions_csv(out + "/predictions.csv", r);
//   mama::ReportInputs rep;  rep.evaluations.push_back({"Zero-shot", r, m});
//   rep.training_log_path = run + "/log.jsonl";  rep.examples = ...;
//   mama::write_html_report(out + "/report.html", rep);
//
// Units: the table, the JSON and the HTML show accuracy, balanced accuracy,
// AUC, sensitivity, specificity, PPV, NPV and F1 multiplied by 100, as the
// paper does (mama-reference.md §9.3); ROC points stay rates in [0, 1].
// Undefined values (NaN) print as "-" and are null in JSON.
//
// Images in the HTML report are EMBEDDED as base64 data URIs by default, so
// the report is one file that can be moved or mailed; set
// ReportInputs::embed_images = false to reference them by a path relative to
// the report's folder instead (smaller file, but it breaks when moved).
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "mama/metrics.h"
#include "nn/json.h"

namespace mama {

// The raw outcome of evaluating one task on a test set.
struct EvalResult {
    std::string task;                       // e.g. "embed_birads", shown in titles
    std::vector<std::string> class_names;   // K names, index = class id
    std::vector<int> labels;                // [N] true class ids
    std::vector<std::vector<float>> probs;  // [N][K] class probabilities
    std::vector<std::string> paths;         // [N] image paths, or empty
};

// Checks the sizes (throws eng::Error naming the mismatch) and computes the metrics.
Metrics compute_metrics(const EvalResult& r);

// ---- terminal, JSON, CSV --------------------------------------------------------

// Summary lines, a per-class table and the confusion matrix, columns aligned.
void print_metrics_table(std::ostream& os, const EvalResult& r, const Metrics& m);
// All metrics (see the units note above), the confusion matrix, per-class
// values, ROC points (the first threshold, +infinity, is null) and warnings.
eng::json::Value metrics_to_json(const EvalResult& r, const Metrics& m);
void write_metrics_json(const std::string& path, const EvalResult& r, const Metrics& m);
// Header: path,label,label_name,predicted,prob_<class 0>,...,prob_<class K-1>;
// one row per image, probabilities with 9 significant digits (float round trip).
void write_predictions_csv(const std::string& path, const EvalResult& r);

// ---- training log ------------------------------------------------------------------

// Numeric series from a JSONL log: one JSON object per line with a numeric
// "step" and any other keys.  Every other numeric key becomes a series against
// step (keys in first-seen order); strings, null, arrays and objects are ignored.
// Blank lines are skipped silently; a line that is not valid JSON, not an
// object, or lacks a numeric "step" is skipped and counted in bad_lines.
struct TrainingLog {
    std::vector<std::string> keys;
    std::vector<std::vector<std::pair<double, double>>> series;  // per key: (step, value)
    int64_t lines = 0;                    // non-blank lines seen
    int64_t bad_lines = 0;                // skipped as malformed
    std::vector<int64_t> bad_line_numbers;  // the first 20 (1-based)
};
TrainingLog parse_training_log(const std::string& text);
// Throws eng::Error when the file cannot be read.
TrainingLog read_training_log(const std::string& path);

// ---- HTML report -------------------------------------------------------------------

// One test image with the local-alignment similarity of one sentence to each
// image patch, drawn as semi-transparent cells over the image.
struct HeatmapExample {
    std::string image_path;   // PNG (or JPEG) file on disk
    std::string title;        // e.g. "patient 12, CC left, label BI-RADS 2"
    std::string sentence;     // the sentence whose similarity the grid shows
    int grid_h = 0, grid_w = 0;
    std::vector<float> grid;  // [grid_h, grid_w] row-major; non-finite cells are left clear
};

struct EvalSection {
    std::string heading;  // e.g. "Zero-shot, EMBED density"
    EvalResult result;
    Metrics metrics;
};

struct ReportInputs {
    std::string title = "MaMA evaluation report";
    std::vector<std::pair<std::string, std::string>> info;  // run facts shown as a table (checkpoint, config, ...)
    std::vector<EvalSection> evaluations;
    std::string training_log_path;  // JSONL; "" = no training-curve section
    std::vector<HeatmapExample> examples;
    bool embed_images = true;       // base64 data URIs (true) or relative paths (false)
};

// The HTML text; `report_dir` is the folder relative image paths are computed from.
std::string html_report(const ReportInputs& in, const std::string& report_dir);
// Writes html_report() to `path` (relative image paths from path's folder).
void write_html_report(const std::string& path, const ReportInputs& in);

}  // namespace mama
