// report_html.cpp: assembles the HTML evaluation report: run facts, one
// section per evaluation (metric tables, ROC curves, confusion matrix),
// training curves from the JSONL log and test images with a local-alignment
// heat map.  Every element is closed explicitly (XHTML style, <meta .../>),
// so the output is also well-formed XML apart from the doctype.
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mama/report.h"
#include "mama/report_svg.h"
#include "tensor/check.h"

namespace mama {

namespace {

using report_detail::percent;
using report_detail::xml_escape;

const char* kStyle =
    "body{font-family:sans-serif;margin:24px;color:#222;max-width:1150px}"
    "h1{font-size:24px}h2{font-size:20px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}"
    "h3{font-size:16px}table{border-collapse:collapse;margin:8px 0}"
    "td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px}th{background:#f3f3f3}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".figs,.grid,.examples{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}"
    "figure{margin:0;padding:6px;border:1px solid #eee}figcaption{font-size:12px;max-width:320px;margin-top:4px}"
    "figure.example svg{display:block}.warn{color:#a33;font-size:13px}.note{color:#555;font-size:13px}";

// A URL for a relative path: every byte outside [A-Za-z0-9-._~/] is %-encoded.
std::string url_path(const std::string& p) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : p) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
            out += char(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string read_bytes(const std::string& path, bool* ok) {
    std::ifstream in(path, std::ios::binary);
    *ok = in.is_open();
    if (!*ok) return "";
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

std::string row(const std::string& key, const std::string& value) {
    return "<tr><th>" + xml_escape(key) + "</th><td class=\"num\">" + xml_escape(value) + "</td></tr>\n";
}

std::string eval_section(const EvalSection& e) {
    const EvalResult& r = e.result;
    const Metrics& m = e.metrics;
    const int K = m.num_classes;
    ENG_CHECK(int(r.class_names.size()) == K && int(m.per_class.size()) == K, "html report: section '", e.heading,
              "' has ", r.class_names.size(), " class names for metrics of ", K, " classes");
    std::string s = "<section class=\"eval\">\n<h3>" + xml_escape(e.heading) + "</h3>\n";
    s += "<p class=\"note\">task " + xml_escape(r.task) + ", " + std::to_string(m.num_samples) +
         " test images, values in %</p>\n<table class=\"summary\">\n";
    s += row("accuracy", percent(m.accuracy));
    s += row("balanced accuracy", percent(m.balanced_accuracy));
    s += row(m.binary() ? "AUC (binary)" : "AUC (macro, one-vs-rest)", percent(m.auc));
    if (!m.binary() && std::isnan(m.auc) && !std::isnan(m.auc_defined_mean))
        s += row("AUC (mean of defined classes)", percent(m.auc_defined_mean));
    s += row("macro F1", percent(m.macro_f1));
    if (m.binary()) {
        s += row("probabilistic F1", percent(m.probabilistic_f1));
        s += row("specificity at 80% sensitivity", percent(m.specificity_at_80_sensitivity));
    }
    s += "</table>\n<table class=\"perclass\">\n<tr><th>class</th><th>support</th><th>sensitivity (accuracy)</th>"
         "<th>specificity</th><th>PPV</th><th>NPV</th><th>F1</th><th>AUC</th></tr>\n";
    for (int c = 0; c < K; ++c) {
        const ClassMetrics& p = m.per_class[c];
        s += "<tr><th>" + xml_escape(r.class_names[c]) + "</th>";
        for (const std::string& v : {std::to_string(p.support), percent(p.sensitivity), percent(p.specificity),
                                     percent(p.ppv), percent(p.npv), percent(p.f1), percent(p.auc)})
            s += "<td class=\"num\">" + v + "</td>";
        s += "</tr>\n";
    }
    s += "</table>\n<div class=\"figs\">\n";
    // ROC: the binary task plots class 1's curve; otherwise one per class.
    std::vector<std::string> names;
    std::vector<double> aucs;
    if (m.binary()) {
        names.push_back(r.class_names[1]);
        aucs.push_back(m.auc);
    } else {
        for (int c = 0; c < K; ++c) {
            names.push_back(r.class_names[c]);
            aucs.push_back(m.per_class[c].auc);
        }
    }
    s += "<figure>\n" + report_detail::svg_roc(m.roc, names, aucs) + "<figcaption>ROC curve" +
         (m.binary() ? std::string(" of ") + xml_escape(r.class_names[1]) : std::string("s, one class against the rest")) +
         "</figcaption>\n</figure>\n";
    s += "<figure>\n" + report_detail::svg_confusion(m.confusion, r.class_names) +
         "<figcaption>Confusion matrix: counts, and % of each true class</figcaption>\n</figure>\n</div>\n";
    for (auto& w : m.warnings) s += "<p class=\"warn\">warning: " + xml_escape(w) + "</p>\n";
    return s + "</section>\n";
}

std::string training_section(const std::string& path) {
    std::string s = "<h2>Training curves</h2>\n";
    TrainingLog log;
    try {
        log = read_training_log(path);
    } catch (const eng::Error& e) {
        return s + "<p class=\"warn\">" + xml_escape(e.what()) + "</p>\n";
    }
    s += "<p class=\"note\">" + xml_escape(path) + ": " + std::to_string(log.lines) + " lines, " +
         std::to_string(log.keys.size()) + " numeric series";
    if (log.bad_lines) {
        s += "; " + std::to_string(log.bad_lines) + " malformed line(s) skipped (line";
        for (int64_t n : log.bad_line_numbers) s += " " + std::to_string(n);
        if (log.bad_lines > int64_t(log.bad_line_numbers.size())) s += " ...";
        s += ")";
    }
    s += "</p>\n<div class=\"grid\">\n";
    for (size_t k = 0; k < log.keys.size(); ++k)
        s += report_detail::svg_line_chart(log.keys[k], log.series[k]);
    return s + "</div>\n";
}

std::string example_figure(const HeatmapExample& ex, size_t index, bool embed, const std::string& report_dir) {
    bool ok = false;
    std::string bytes = read_bytes(ex.image_path, &ok);
    int w = 0, h = 0;
    double dw = 300, dh = 300;  // display size; the aspect ratio of a PNG is kept
    if (ok && report_detail::png_size(bytes, &w, &h)) dh = std::min(600.0, dw * double(h) / double(w));
    std::string href;
    if (ok && embed) {
        bool jpeg = bytes.size() > 2 && uint8_t(bytes[0]) == 0xff && uint8_t(bytes[1]) == 0xd8;
        href = std::string("data:image/") + (jpeg ? "jpeg" : "png") + ";base64," + report_detail::base64(bytes);
    } else if (ok) {
        std::error_code ec;
        auto rel = std::filesystem::proximate(ex.image_path, report_dir.empty() ? "." : report_dir, ec);
        href = url_path(ec ? ex.image_path : rel.generic_string());
    }
    float lo = INFINITY, hi = -INFINITY;
    for (float v : ex.grid)
        if (std::isfinite(v)) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    std::string s = "<figure class=\"example\">\n";
    try {
        s += report_detail::svg_heatmap_overlay(href, dw, dh, ex.grid_h, ex.grid_w, ex.grid);
    } catch (const eng::Error& e) {
        ENG_FAIL("html report: example ", index, " (", ex.image_path, "): ", e.what());
    }
    s += report_detail::svg_colour_bar(lo, hi);
    s += "<figcaption><b>" + xml_escape(ex.title) + "</b><br/>sentence: &#8220;" + xml_escape(ex.sentence) +
         "&#8221;";
    if (!ok) s += "<br/><span class=\"warn\">image not found: " + xml_escape(ex.image_path) + "</span>";
    return s + "</figcaption>\n</figure>\n";
}

}  // namespace

std::string html_report(const ReportInputs& in, const std::string& report_dir) {
    std::string s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>" +
                    xml_escape(in.title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
    s += "<h1>" + xml_escape(in.title) + "</h1>\n";
    if (!in.info.empty()) {
        s += "<table class=\"info\">\n";
        for (auto& kv : in.info)
            s += "<tr><th>" + xml_escape(kv.first) + "</th><td>" + xml_escape(kv.second) + "</td></tr>\n";
        s += "</table>\n";
    }
    if (!in.evaluations.empty()) {
        s += "<h2>Evaluation</h2>\n";
        for (auto& e : in.evaluations) s += eval_section(e);
    }
    if (!in.training_log_path.empty()) s += training_section(in.training_log_path);
    if (!in.examples.empty()) {
        s += "<h2>Local alignment: similarity of one sentence to each image patch</h2>\n"
             "<p class=\"note\">Colour and opacity grow with the similarity, scaled to each image's own "
             "range.</p>\n<div class=\"examples\">\n";
        for (size_t i = 0; i < in.examples.size(); ++i)
            s += example_figure(in.examples[i], i, in.embed_images, report_dir);
        s += "</div>\n";
    }
    return s + "</body>\n</html>\n";
}

void write_html_report(const std::string& path, const ReportInputs& in) {
    std::string dir = std::filesystem::path(path).parent_path().string();
    report_detail::write_text_file(path, html_report(in, dir.empty() ? "." : dir));
}

}  // namespace mama
