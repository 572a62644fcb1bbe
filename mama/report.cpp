// report.cpp: the text outputs of an evaluation: terminal table, metrics JSON,
// predictions CSV (see report.h).
#include "mama/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "mama/report_svg.h"
#include "tensor/check.h"

namespace mama {

namespace {

using report_detail::write_text_file;
std::string pct(double fraction) { return report_detail::percent(fraction); }

// JSON cannot hold NaN or infinities: undefined values become null.
eng::json::Value num(double x) { return std::isfinite(x) ? eng::json::Value(x) : eng::json::Value(); }
eng::json::Value pct_json(double fraction) { return num(100.0 * fraction); }

eng::json::Value array_of(const std::vector<double>& v) {
    auto a = eng::json::Value::array();
    for (double x : v) a.push_back(num(x));
    return a;
}

// CSV field, quoted when it holds a comma, quote, CR or LF (RFC 4180).
std::string csv_quote(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string auc_label(const Metrics& m) { return m.binary() ? "AUC (binary)" : "AUC (macro, one-vs-rest)"; }

}  // namespace

Metrics compute_metrics(const EvalResult& r) {
    size_t n = r.labels.size(), k = r.class_names.size();
    ENG_CHECK(k >= 2, "evaluation '", r.task, "': ", k, " class names given, need at least 2");
    ENG_CHECK(r.probs.size() == n, "evaluation '", r.task, "': ", n, " labels but ", r.probs.size(),
              " probability rows");
    ENG_CHECK(r.paths.empty() || r.paths.size() == n, "evaluation '", r.task, "': ", n, " labels but ",
              r.paths.size(), " paths");
    return compute_metrics(r.labels, flatten_rows(r.probs, int(k)), int(k));
}

void print_metrics_table(std::ostream& os, const EvalResult& r, const Metrics& m) {
    const int K = m.num_classes;
    ENG_CHECK(int(r.class_names.size()) == K, "print_metrics_table: ", r.class_names.size(),
              " class names for metrics of ", K, " classes");
    os << "== " << (r.task.empty() ? std::string("evaluation") : r.task) << ": " << m.num_samples
       << " samples, " << K << " classes (values in %) ==\n";
    std::vector<std::pair<std::string, double>> summary = {{"accuracy", m.accuracy},
                                                           {"balanced accuracy", m.balanced_accuracy},
                                                           {auc_label(m), m.auc}};
    if (!m.binary() && std::isnan(m.auc) && !std::isnan(m.auc_defined_mean))
        summary.push_back({"AUC (mean of defined classes)", m.auc_defined_mean});
    summary.push_back({"macro F1", m.macro_f1});
    if (m.binary()) {
        const ClassMetrics& p = m.per_class[1];
        summary.push_back({"sensitivity (" + r.class_names[1] + ")", p.sensitivity});
        summary.push_back({"specificity", p.specificity});
        summary.push_back({"PPV", p.ppv});
        summary.push_back({"NPV", p.npv});
        summary.push_back({"F1", p.f1});
        summary.push_back({"probabilistic F1", m.probabilistic_f1});
    }
    size_t w = 0;
    for (auto& s : summary) w = std::max(w, s.first.size());
    for (auto& s : summary) os << "  " << std::left << std::setw(int(w)) << s.first << "  " << std::right
                               << std::setw(7) << pct(s.second) << "\n";

    // Per-class table: the name column as wide as the longest name.
    size_t nw = 5;
    for (auto& c : r.class_names) nw = std::max(nw, c.size());
    const char* heads[] = {"support", "sensitivity", "specificity", "PPV", "NPV", "F1", "AUC"};
    const int cw[] = {8, 12, 12, 8, 8, 8, 8};
    os << "\n  " << std::left << std::setw(int(nw)) << "class" << std::right;
    for (int j = 0; j < 7; ++j) os << std::setw(cw[j]) << heads[j];
    os << "\n";
    for (int c = 0; c < K; ++c) {
        const ClassMetrics& p = m.per_class[c];
        os << "  " << std::left << std::setw(int(nw)) << r.class_names[c] << std::right << std::setw(cw[0])
           << p.support << std::setw(cw[1]) << pct(p.sensitivity) << std::setw(cw[2]) << pct(p.specificity)
           << std::setw(cw[3]) << pct(p.ppv) << std::setw(cw[4]) << pct(p.npv) << std::setw(cw[5]) << pct(p.f1)
           << std::setw(cw[6]) << pct(p.auc) << "\n";
    }
    os << "  (sensitivity = per-class accuracy = recall; one-vs-rest at the argmax prediction)\n";

    // Confusion matrix: counts, columns wide enough for the names and the largest count.
    size_t cwid = 6;
    for (auto& c : r.class_names) cwid = std::max(cwid, c.size() + 2);
    for (auto& row : m.confusion)
        for (int64_t v : row) cwid = std::max(cwid, std::to_string(v).size() + 2);
    std::string corner = "true \\ pred";
    size_t rw = std::max(nw, corner.size());
    os << "\n  confusion matrix (rows = true, columns = predicted)\n  " << std::left << std::setw(int(rw)) << corner
       << std::right;
    for (int c = 0; c < K; ++c) os << std::setw(int(cwid)) << r.class_names[c];
    os << "\n";
    for (int a = 0; a < K; ++a) {
        os << "  " << std::left << std::setw(int(rw)) << r.class_names[a] << std::right;
        for (int b = 0; b < K; ++b) os << std::setw(int(cwid)) << m.confusion[a][b];
        os << "\n";
    }
    for (auto& wmsg : m.warnings) os << "  warning: " << wmsg << "\n";
}

eng::json::Value metrics_to_json(const EvalResult& r, const Metrics& m) {
    using eng::json::Value;
    const int K = m.num_classes;
    ENG_CHECK(int(r.class_names.size()) == K, "metrics_to_json: ", r.class_names.size(),
              " class names for metrics of ", K, " classes");
    Value j = Value::object();
    j.set("task", r.task);
    j.set("units", "percent (x100) for all rates; ROC points in [0, 1]; null = undefined");
    j.set("num_samples", m.num_samples);
    j.set("num_classes", K);
    Value names = Value::array();
    for (auto& c : r.class_names) names.push_back(c);
    j.set("class_names", names);
    j.set("accuracy", pct_json(m.accuracy));
    j.set("balanced_accuracy", pct_json(m.balanced_accuracy));
    j.set("auc", pct_json(m.auc));
    j.set("auc_kind", m.binary() ? "binary" : "macro_ovr");
    j.set("auc_defined_mean", pct_json(m.auc_defined_mean));
    j.set("macro_f1", pct_json(m.macro_f1));
    if (m.binary()) {
        const ClassMetrics& p = m.per_class[1];
        j.set("sensitivity", pct_json(p.sensitivity));
        j.set("specificity", pct_json(p.specificity));
        j.set("ppv", pct_json(p.ppv));
        j.set("npv", pct_json(p.npv));
        j.set("f1", pct_json(p.f1));
        j.set("probabilistic_f1", pct_json(m.probabilistic_f1));
        j.set("specificity_at_80_sensitivity", pct_json(m.specificity_at_80_sensitivity));
    }
    Value per = Value::array();
    for (int c = 0; c < K; ++c) {
        const ClassMetrics& p = m.per_class[c];
        Value o = Value::object();
        o.set("name", r.class_names[c]);
        o.set("support", p.support);
        o.set("tp", p.tp);
        o.set("fp", p.fp);
        o.set("fn", p.fn);
        o.set("tn", p.tn);
        o.set("accuracy", pct_json(p.sensitivity));  // per-class accuracy = recall
        o.set("sensitivity", pct_json(p.sensitivity));
        o.set("specificity", pct_json(p.specificity));
        o.set("ppv", pct_json(p.ppv));
        o.set("npv", pct_json(p.npv));
        o.set("f1", pct_json(p.f1));
        o.set("auc", pct_json(p.auc));
        per.push_back(std::move(o));
    }
    j.set("per_class", per);
    Value cm = Value::array();
    for (auto& row : m.confusion) {
        Value rr = Value::array();
        for (int64_t v : row) rr.push_back(v);
        cm.push_back(std::move(rr));
    }
    j.set("confusion_matrix", cm);
    Value rocs = Value::array();
    for (size_t i = 0; i < m.roc.size(); ++i) {
        Value o = Value::object();
        o.set("class", r.class_names[m.binary() ? 1 : i]);
        o.set("fpr", array_of(m.roc[i].fpr));
        o.set("tpr", array_of(m.roc[i].tpr));
        o.set("thresholds", array_of(m.roc[i].thresholds));
        rocs.push_back(std::move(o));
    }
    j.set("roc", rocs);
    Value warn = Value::array();
    for (auto& w : m.warnings) warn.push_back(w);
    j.set("warnings", warn);
    return j;
}

void write_metrics_json(const std::string& path, const EvalResult& r, const Metrics& m) {
    write_text_file(path, eng::json::dump(metrics_to_json(r, m), 1) + "\n");
}

void write_predictions_csv(const std::string& path, const EvalResult& r) {
    const size_t n = r.labels.size(), k = r.class_names.size();
    ENG_CHECK(r.probs.size() == n, "write_predictions_csv: ", n, " labels but ", r.probs.size(),
              " probability rows");
    ENG_CHECK(r.paths.empty() || r.paths.size() == n, "write_predictions_csv: ", n, " labels but ",
              r.paths.size(), " paths");
    std::ostringstream os;
    os << "path,label,label_name,predicted";
    for (auto& c : r.class_names) os << "," << csv_quote("prob_" + c);
    os << "\n";
    std::vector<int> pred = argmax_rows(flatten_rows(r.probs, int(k)), int(k));
    char buf[32];
    for (size_t i = 0; i < n; ++i) {
        int y = r.labels[i];
        ENG_CHECK(y >= 0 && size_t(y) < k, "write_predictions_csv: label ", y, " of row ", i, " is outside [0, ",
                  k, ")");
        os << csv_quote(r.paths.empty() ? std::string() : r.paths[i]) << "," << y << ","
           << csv_quote(r.class_names[y]) << "," << pred[i];
        for (float p : r.probs[i]) {
            std::snprintf(buf, sizeof buf, "%.9g", double(p));
            os << "," << buf;
        }
        os << "\n";
    }
    write_text_file(path, os.str());
}

}  // namespace mama
