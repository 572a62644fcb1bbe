// metrics.cpp: classification metrics with scikit-learn semantics (see metrics.h).
#include "mama/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "tensor/check.h"

namespace mama {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// a / b, or NaN when b == 0 (an undefined ratio).
double ratio(double a, double b) { return b == 0 ? kNaN : a / b; }

void check_labels(const std::vector<int>& labels, int num_classes, const char* op) {
    ENG_CHECK(num_classes >= 2, op, ": need at least 2 classes, got ", num_classes);
    for (size_t i = 0; i < labels.size(); ++i)
        ENG_CHECK(labels[i] >= 0 && labels[i] < num_classes, op, ": label ", labels[i], " of sample ", i,
                  " is outside [0, ", num_classes, ")", " HINT: labels must be class indices 0..K-1");
}

void check_probs(const std::vector<int>& labels, const std::vector<float>& probs, int num_classes,
                 const char* op) {
    check_labels(labels, num_classes, op);
    ENG_CHECK(probs.size() == labels.size() * size_t(num_classes), op, ": ", labels.size(), " labels and ",
              num_classes, " classes need ", labels.size() * size_t(num_classes), " probabilities, got ",
              probs.size());
    for (size_t i = 0; i < probs.size(); ++i)
        ENG_CHECK(std::isfinite(probs[i]), op, ": score of sample ", i / size_t(num_classes), " class ",
                  i % size_t(num_classes), " is not finite (", probs[i], ")");
}

void check_scores(const std::vector<int>& is_positive, const std::vector<float>& scores, const char* op) {
    ENG_CHECK(is_positive.size() == scores.size(), op, ": ", is_positive.size(), " labels but ", scores.size(),
              " scores");
    for (size_t i = 0; i < scores.size(); ++i)
        ENG_CHECK(std::isfinite(scores[i]), op, ": score ", i, " is not finite (", scores[i], ")");
}

// Column c of a flat [N, K] buffer.
std::vector<float> column(const std::vector<float>& probs, int num_classes, int c) {
    size_t n = probs.size() / size_t(num_classes);
    std::vector<float> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = probs[i * num_classes + c];
    return out;
}

std::vector<int> one_vs_rest(const std::vector<int>& labels, int c) {
    std::vector<int> out(labels.size());
    for (size_t i = 0; i < labels.size(); ++i) out[i] = labels[i] == c;
    return out;
}

}  // namespace

std::vector<int> argmax_rows(const std::vector<float>& probs, int num_classes) {
    ENG_CHECK(num_classes >= 1, "argmax_rows: num_classes must be positive, got ", num_classes);
    ENG_CHECK(probs.size() % size_t(num_classes) == 0, "argmax_rows: ", probs.size(),
              " values do not form rows of ", num_classes);
    size_t n = probs.size() / size_t(num_classes);
    std::vector<int> out(n);
    for (size_t i = 0; i < n; ++i) {
        const float* row = probs.data() + i * num_classes;
        int best = 0;
        for (int c = 1; c < num_classes; ++c)
            if (row[c] > row[best]) best = c;  // strict: the first maximum wins
        out[i] = best;
    }
    return out;
}

std::vector<float> flatten_rows(const std::vector<std::vector<float>>& rows, int num_classes) {
    std::vector<float> out;
    out.reserve(rows.size() * size_t(std::max(num_classes, 0)));
    for (size_t i = 0; i < rows.size(); ++i) {
        ENG_CHECK(rows[i].size() == size_t(num_classes), "probabilities: row ", i, " has ", rows[i].size(),
                  " values, expected one per class (", num_classes, ")");
        out.insert(out.end(), rows[i].begin(), rows[i].end());
    }
    return out;
}

std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int>& labels,
                                                   const std::vector<int>& predictions, int num_classes) {
    check_labels(labels, num_classes, "confusion_matrix");
    check_labels(predictions, num_classes, "confusion_matrix (predictions)");
    ENG_CHECK(labels.size() == predictions.size(), "confusion_matrix: ", labels.size(), " labels but ",
              predictions.size(), " predictions");
    std::vector<std::vector<int64_t>> m(num_classes, std::vector<int64_t>(num_classes, 0));
    for (size_t i = 0; i < labels.size(); ++i) ++m[labels[i]][predictions[i]];
    return m;
}

double accuracy(const std::vector<int>& labels, const std::vector<int>& predictions) {
    ENG_CHECK(labels.size() == predictions.size(), "accuracy: ", labels.size(), " labels but ",
              predictions.size(), " predictions");
    ENG_CHECK(!labels.empty(), "accuracy: no samples");
    size_t hit = 0;
    for (size_t i = 0; i < labels.size(); ++i) hit += labels[i] == predictions[i];
    return double(hit) / double(labels.size());
}

double balanced_accuracy(const std::vector<int>& labels, const std::vector<int>& predictions, int num_classes) {
    ENG_CHECK(!labels.empty(), "balanced_accuracy: no samples");
    auto m = confusion_matrix(labels, predictions, num_classes);
    // Mean recall over the classes that occur in the labels (sklearn drops the
    // NaN recall of classes that only occur among the predictions).
    double sum = 0;
    int present = 0;
    for (int c = 0; c < num_classes; ++c) {
        int64_t row = std::accumulate(m[c].begin(), m[c].end(), int64_t(0));
        if (row == 0) continue;
        sum += double(m[c][c]) / double(row);
        ++present;
    }
    return sum / present;
}

double binary_auc_or_nan(const std::vector<int>& is_positive, const std::vector<float>& scores) {
    check_scores(is_positive, scores, "binary_auc");
    // Mann-Whitney: AUC = (R+ - P(P+1)/2) / (P N), R+ the sum of the (1-based,
    // tie-averaged) ranks of the positives among all scores.  A tied
    // positive/negative pair then contributes exactly 1/2, as the trapezoid
    // over a diagonal ROC segment does.
    size_t n = scores.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t(0));
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
    double rank_sum = 0;
    size_t pos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && scores[order[j]] == scores[order[i]]) ++j;
        double avg_rank = 0.5 * double(i + 1 + j);  // mean of ranks i+1 .. j
        for (size_t k = i; k < j; ++k)
            if (is_positive[order[k]]) {
                rank_sum += avg_rank;
                ++pos;
            }
        i = j;
    }
    size_t neg = n - pos;
    if (pos == 0 || neg == 0) return kNaN;
    return (rank_sum - 0.5 * double(pos) * double(pos + 1)) / (double(pos) * double(neg));
}

double binary_auc(const std::vector<int>& is_positive, const std::vector<float>& scores) {
    double auc = binary_auc_or_nan(is_positive, scores);
    ENG_CHECK(!std::isnan(auc), "binary_auc: only one class present among ", scores.size(),
              " samples; ROC AUC is not defined (sklearn raises here too)");
    return auc;
}

std::vector<double> ovr_auc_per_class(const std::vector<int>& labels, const std::vector<float>& probs,
                                      int num_classes) {
    check_probs(labels, probs, num_classes, "ovr_auc_per_class");
    std::vector<double> out(num_classes);
    for (int c = 0; c < num_classes; ++c)
        out[c] = binary_auc_or_nan(one_vs_rest(labels, c), column(probs, num_classes, c));
    return out;
}

namespace {
// sklearn requires probability rows for the multi-class AUC.
void check_rows_sum_to_one(const std::vector<float>& probs, int num_classes, const char* op) {
    size_t n = probs.size() / size_t(num_classes);
    for (size_t i = 0; i < n; ++i) {
        double s = 0;
        for (int c = 0; c < num_classes; ++c) s += probs[i * num_classes + c];
        ENG_CHECK(std::fabs(s - 1.0) <= 1e-3, op, ": probabilities of sample ", i, " sum to ", s,
                  ", not 1. HINT: the multi-class AUC needs softmax outputs (sklearn raises here too)");
    }
}
}  // namespace

double macro_auc_ovr(const std::vector<int>& labels, const std::vector<float>& probs, int num_classes) {
    check_probs(labels, probs, num_classes, "macro_auc_ovr");
    check_rows_sum_to_one(probs, num_classes, "macro_auc_ovr");
    auto per = ovr_auc_per_class(labels, probs, num_classes);
    double sum = 0;
    for (int c = 0; c < num_classes; ++c) {
        ENG_CHECK(!std::isnan(per[c]), "macro_auc_ovr: class ", c,
                  (std::count(labels.begin(), labels.end(), c) == 0 ? " has no sample" : " holds every sample"),
                  " among the ", labels.size(), " labels; the one-vs-rest AUC is undefined "
                  "(sklearn raises 'Number of classes in y_true not equal to the number of columns')");
        sum += per[c];
    }
    return sum / num_classes;
}

RocCurve roc_curve(const std::vector<int>& is_positive, const std::vector<float>& scores, bool drop_intermediate) {
    check_scores(is_positive, scores, "roc_curve");
    size_t n = scores.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    RocCurve r;
    r.fpr.push_back(0);
    r.tpr.push_back(0);
    r.thresholds.push_back(std::numeric_limits<double>::infinity());
    // One point after each group of equal scores (thresholding at >= score).
    double tp = 0, fp = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && scores[order[j]] == scores[order[i]]) {
            (is_positive[order[j]] ? tp : fp) += 1;
            ++j;
        }
        r.tpr.push_back(tp);
        r.fpr.push_back(fp);
        r.thresholds.push_back(scores[order[i]]);
        i = j;
    }
    // sklearn keeps the first and last points after the start and those where
    // the fp or tp counts turn (a non-zero second difference), on the counts,
    // which are exact, before the ratios are taken.
    if (drop_intermediate && r.tpr.size() > 3) {
        RocCurve kept;
        for (size_t k = 0; k < r.tpr.size(); ++k) {
            const bool end = k <= 1 || k + 1 == r.tpr.size();
            if (end || r.fpr[k - 1] - 2 * r.fpr[k] + r.fpr[k + 1] != 0 || r.tpr[k - 1] - 2 * r.tpr[k] + r.tpr[k + 1] != 0) {
                kept.fpr.push_back(r.fpr[k]);
                kept.tpr.push_back(r.tpr[k]);
                kept.thresholds.push_back(r.thresholds[k]);
            }
        }
        r = std::move(kept);
    }
    for (auto& v : r.tpr) v = ratio(v, tp);
    for (auto& v : r.fpr) v = ratio(v, fp);
    return r;
}

double trapezoid_auc(const RocCurve& roc) {
    ENG_CHECK(roc.fpr.size() == roc.tpr.size(), "trapezoid_auc: fpr and tpr differ in length");
    double area = 0;
    for (size_t i = 1; i < roc.fpr.size(); ++i)
        area += (roc.fpr[i] - roc.fpr[i - 1]) * (roc.tpr[i] + roc.tpr[i - 1]) * 0.5;
    return area;  // NaN propagates from a NaN curve
}

double probabilistic_f1(const std::vector<int>& labels, const std::vector<float>& positive_probs) {
    check_scores(labels, positive_probs, "probabilistic_f1");
    double ctp = 0, cfp = 0, npos = 0;
    for (size_t i = 0; i < labels.size(); ++i) {
        double p = std::min(1.0, std::max(0.0, double(positive_probs[i])));
        if (labels[i]) {
            ctp += p;
            npos += 1;
        } else {
            cfp += p;
        }
    }
    // Empty denominators can only occur with ctp == 0, where F1 is 0 anyway.
    double precision = ctp + cfp > 0 ? ctp / (ctp + cfp) : 0.0;
    double recall = npos > 0 ? ctp / npos : 0.0;
    if (precision <= 0 || recall <= 0) return 0.0;
    return 2 * precision * recall / (precision + recall);
}

double specificity_at_sensitivity(const RocCurve& roc, double target) {
    size_t best = roc.tpr.size();
    double best_dist = 0;
    for (size_t i = 0; i < roc.tpr.size(); ++i) {
        double d = std::fabs(roc.tpr[i] - target);
        if (std::isnan(d)) return kNaN;
        if (best == roc.tpr.size() || d < best_dist) {
            best = i;
            best_dist = d;
        }
    }
    if (best == roc.tpr.size()) return kNaN;
    return 1.0 - roc.fpr[best];
}

Metrics compute_metrics(const std::vector<int>& labels, const std::vector<float>& probs, int num_classes) {
    check_probs(labels, probs, num_classes, "compute_metrics");
    ENG_CHECK(!labels.empty(), "compute_metrics: no samples. HINT: is the test split empty?");
    const int K = num_classes;
    Metrics m;
    m.num_classes = K;
    m.num_samples = int64_t(labels.size());
    std::vector<int> pred = argmax_rows(probs, K);
    m.confusion = confusion_matrix(labels, pred, K);
    m.accuracy = accuracy(labels, pred);
    m.balanced_accuracy = balanced_accuracy(labels, pred, K);

    const double N = double(labels.size());
    std::vector<double> auc_per = ovr_auc_per_class(labels, probs, K);
    m.per_class.resize(K);
    double f1_sum = 0;
    int f1_count = 0;
    for (int c = 0; c < K; ++c) {
        ClassMetrics& pc = m.per_class[c];
        int64_t row = 0, col = 0;
        for (int j = 0; j < K; ++j) {
            row += m.confusion[c][j];
            col += m.confusion[j][c];
        }
        pc.tp = m.confusion[c][c];
        pc.fn = row - pc.tp;
        pc.fp = col - pc.tp;
        pc.tn = int64_t(N) - pc.tp - pc.fn - pc.fp;
        pc.support = row;
        pc.sensitivity = ratio(pc.tp, pc.tp + pc.fn);
        pc.specificity = ratio(pc.tn, pc.tn + pc.fp);
        pc.ppv = ratio(pc.tp, pc.tp + pc.fp);
        pc.npv = ratio(pc.tn, pc.tn + pc.fn);
        pc.f1 = ratio(2.0 * pc.tp, 2.0 * pc.tp + pc.fp + pc.fn);
        pc.auc = auc_per[c];
        if (!std::isnan(pc.f1)) {
            f1_sum += pc.f1;
            ++f1_count;
        }
        if (row == 0)
            m.warnings.push_back("class " + std::to_string(c) +
                                 " has no test sample: its sensitivity, NPV and AUC are undefined");
    }
    m.macro_f1 = f1_count ? f1_sum / f1_count : kNaN;

    double def_sum = 0;
    int def_count = 0;
    for (double a : auc_per)
        if (!std::isnan(a)) {
            def_sum += a;
            ++def_count;
        }
    if (K == 2) {
        std::vector<int> pos = one_vs_rest(labels, 1);
        std::vector<float> p1 = column(probs, K, 1);
        m.auc = binary_auc_or_nan(pos, p1);
        m.auc_defined_mean = m.auc;
        m.roc.push_back(roc_curve(pos, p1));
        m.probabilistic_f1 = probabilistic_f1(pos, p1);
        m.specificity_at_80_sensitivity = specificity_at_sensitivity(roc_curve(pos, p1, true), 0.8);
        if (std::isnan(m.auc)) m.warnings.push_back("only one class in the labels: the AUC is undefined");
    } else {
        check_rows_sum_to_one(probs, K, "compute_metrics");
        m.auc_defined_mean = def_count ? def_sum / def_count : kNaN;
        m.auc = def_count == K ? def_sum / K : kNaN;
        if (def_count != K)
            m.warnings.push_back("the macro AUC is undefined because " + std::to_string(K - def_count) +
                                 " class(es) lack positives or negatives (sklearn raises); the mean over the " +
                                 std::to_string(def_count) + " defined classes is reported separately");
        for (int c = 0; c < K; ++c) m.roc.push_back(roc_curve(one_vs_rest(labels, c), column(probs, K, c)));
        m.probabilistic_f1 = kNaN;
        m.specificity_at_80_sensitivity = kNaN;
    }
    return m;
}

}  // namespace mama
