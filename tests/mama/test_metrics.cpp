// test_metrics.cpp: the classification metrics on hand-computed cases (ties,
// a perfect and a constant classifier, an absent class), against a brute-force
// pair count, and against scikit-learn values in tests/fixtures/metrics_sklearn.json
// (made by tools/reference/metrics_fixtures.py).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mama/metrics.h"
#include "nn/json.h"
#include "tensor/check.h"
#include "tests/testing.h"

using namespace mama;

namespace {

bool is_nan(double x) { return std::isnan(x); }

// The AUC as the definition states it: over all (positive, negative) pairs,
// 1 if the positive scores higher, 1/2 on a tie.
double brute_force_auc(const std::vector<int>& pos, const std::vector<float>& s) {
    double num = 0, pairs = 0;
    for (size_t i = 0; i < s.size(); ++i)
        for (size_t j = 0; j < s.size(); ++j)
            if (pos[i] && !pos[j]) {
                num += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
                pairs += 1;
            }
    return num / pairs;
}

// A tiny LCG, so the random cases do not depend on the engine's generator.
struct Lcg {
    uint64_t state;
    uint32_t next() {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return uint32_t(state >> 33);
    }
};

}  // namespace

TEST_CASE("metrics: binary AUC with a tie across the classes (hand computed)") {
    // labels 1 0 1 0, scores .8 .8 .4 .2.  Positive/negative pairs:
    // (.8,.8) tie = 1/2, (.8,.2) = 1, (.4,.8) = 0, (.4,.2) = 1  ->  2.5 / 4.
    std::vector<int> y = {1, 0, 1, 0};
    std::vector<float> s = {0.8f, 0.8f, 0.4f, 0.2f};
    CHECK(binary_auc(y, s) == doctest::Approx(0.625).epsilon(1e-12));
    // ROC, one point per distinct score: >= .8 -> tp 1 fp 1; >= .4 -> tp 2 fp 1;
    // >= .2 -> tp 2 fp 2.  Normalised by 2 positives and 2 negatives.
    RocCurve r = roc_curve(y, s);
    CHECK(r.fpr == std::vector<double>{0, 0.5, 0.5, 1});
    CHECK(r.tpr == std::vector<double>{0, 0.5, 1, 1});
    REQUIRE(r.thresholds.size() == 4);
    CHECK(std::isinf(r.thresholds[0]));
    CHECK(r.thresholds[1] == double(0.8f));
    CHECK(r.thresholds[2] == double(0.4f));
    CHECK(r.thresholds[3] == double(0.2f));
    // Trapezoids: .5 * (0 + .5)/2 + 0 + .5 * (1 + 1)/2 = .125 + .5.
    CHECK(trapezoid_auc(r) == doctest::Approx(0.625).epsilon(1e-12));
}

TEST_CASE("metrics: perfect three-class classifier") {
    std::vector<int> y = {0, 1, 2, 0};
    std::vector<float> p = {0.8f, 0.1f, 0.1f, 0.1f, 0.7f, 0.2f, 0.2f, 0.2f, 0.6f, 0.5f, 0.3f, 0.2f};
    Metrics m = compute_metrics(y, p, 3);
    CHECK(m.accuracy == 1.0);
    CHECK(m.balanced_accuracy == 1.0);
    // Every positive outscores every negative in its column: AUC 1 per class.
    CHECK(m.auc == 1.0);
    CHECK(m.macro_f1 == 1.0);
    CHECK(m.confusion == std::vector<std::vector<int64_t>>{{2, 0, 0}, {0, 1, 0}, {0, 0, 1}});
    for (const auto& c : m.per_class) {
        CHECK(c.sensitivity == 1.0);
        CHECK(c.specificity == 1.0);
        CHECK(c.ppv == 1.0);
        CHECK(c.npv == 1.0);
        CHECK(c.auc == 1.0);
    }
    CHECK(m.warnings.empty());
    CHECK(is_nan(m.probabilistic_f1));  // binary only
}

TEST_CASE("metrics: constant binary classifier") {
    // Every row [.5 .5]: argmax picks class 0 (first maximum), all scores tie.
    std::vector<int> y = {0, 1, 1, 0, 1};
    std::vector<float> p(10, 0.5f);
    Metrics m = compute_metrics(y, p, 2);
    CHECK(m.auc == 0.5);                // all pairs tie: 1/2 each
    CHECK(m.accuracy == doctest::Approx(0.4));           // 2 of 5 are class 0
    CHECK(m.balanced_accuracy == doctest::Approx(0.5));  // recall 1 and 0
    CHECK(m.confusion == std::vector<std::vector<int64_t>>{{2, 0}, {3, 0}});
    // Class 1: tp 0 fn 3 fp 0 tn 2.
    const ClassMetrics& c1 = m.per_class[1];
    CHECK(c1.tp == 0);
    CHECK(c1.fn == 3);
    CHECK(c1.fp == 0);
    CHECK(c1.tn == 2);
    CHECK(c1.sensitivity == 0.0);
    CHECK(c1.specificity == 1.0);
    CHECK(is_nan(c1.ppv));  // nothing predicted positive: 0/0
    CHECK(c1.npv == doctest::Approx(0.4));
    CHECK(c1.f1 == 0.0);
    // Class 0: tp 2 fn 0 fp 3 tn 0: F1 = 4 / (4 + 3).
    CHECK(m.per_class[0].f1 == doctest::Approx(4.0 / 7.0));
    CHECK(is_nan(m.per_class[0].npv));
    CHECK(m.macro_f1 == doctest::Approx(2.0 / 7.0));
    // ROC: (0,0) then (1,1) at the single threshold .5.
    REQUIRE(m.roc.size() == 1);
    CHECK(m.roc[0].fpr == std::vector<double>{0, 1});
    CHECK(m.roc[0].tpr == std::vector<double>{0, 1});
    // Probabilistic F1: cTP = 1.5, cFP = 1; P = .6, R = 1.5/3 = .5; F1 = .6/1.1.
    CHECK(m.probabilistic_f1 == doctest::Approx(0.6 / 1.1).epsilon(1e-12));
    // tpr nearest .8 is the (1,1) point: specificity 0.
    CHECK(m.specificity_at_80_sensitivity == 0.0);
}

TEST_CASE("metrics: constant three-class classifier has macro AUC 0.5") {
    std::vector<int> y = {0, 1, 2, 1};
    std::vector<float> p;
    for (int i = 0; i < 4; ++i) p.insert(p.end(), {0.25f, 0.5f, 0.25f});
    Metrics m = compute_metrics(y, p, 3);
    CHECK(m.auc == 0.5);
    CHECK(macro_auc_ovr(y, p, 3) == 0.5);
    CHECK(m.accuracy == 0.5);                                  // always class 1
    CHECK(m.balanced_accuracy == doctest::Approx(1.0 / 3.0));  // recalls 0, 1, 0
}

TEST_CASE("metrics: three classes with ties (hand computed)") {
    // rows (label): r0 [.5 .25 .25] (0)  r1 [.25 .5 .25] (0)  r2 [.25 .5 .25] (1)
    //               r3 [.5 .25 .25] (1)  r4 [.25 .25 .5] (2)  r5 [.5 .25 .25] (2)
    // argmax: 0 1 1 0 2 0 -> confusion rows [1 1 0] [1 1 0] [1 0 1].
    std::vector<int> y = {0, 0, 1, 1, 2, 2};
    std::vector<float> p = {.5f, .25f, .25f, .25f, .5f, .25f, .25f, .5f, .25f,
                            .5f, .25f, .25f, .25f, .25f, .5f, .5f, .25f, .25f};
    Metrics m = compute_metrics(y, p, 3);
    CHECK(m.confusion == std::vector<std::vector<int64_t>>{{1, 1, 0}, {1, 1, 0}, {1, 0, 1}});
    CHECK(m.accuracy == 0.5);
    CHECK(m.balanced_accuracy == doctest::Approx(0.5));
    // Column 0: positives {.5, .25} vs negatives {.25 .5 .25 .5}: (1+.5+1+.5) + (.5+0+.5+0) = 4 of 8.
    // Column 1: positives {.5, .25} vs negatives {.25 .5 .25 .25}: 3.5 + 1.5 = 5 of 8.
    // Column 2: positives {.5, .25} vs negatives {.25 x4}: 4 + 2 = 6 of 8.
    CHECK(m.per_class[0].auc == 0.5);
    CHECK(m.per_class[1].auc == 0.625);
    CHECK(m.per_class[2].auc == 0.75);
    CHECK(m.auc == doctest::Approx(0.625).epsilon(1e-12));
    CHECK(macro_auc_ovr(y, p, 3) == doctest::Approx(0.625).epsilon(1e-12));
    // Class 0: tp 1 fn 1 fp 2 tn 2.  Class 1: tp 1 fn 1 fp 1 tn 3.  Class 2: tp 1 fn 1 fp 0 tn 4.
    CHECK(m.per_class[0].specificity == 0.5);
    CHECK(m.per_class[0].ppv == doctest::Approx(1.0 / 3.0));
    CHECK(m.per_class[0].npv == doctest::Approx(2.0 / 3.0));
    CHECK(m.per_class[0].f1 == doctest::Approx(0.4));
    CHECK(m.per_class[1].specificity == 0.75);
    CHECK(m.per_class[1].f1 == doctest::Approx(0.5));
    CHECK(m.per_class[2].specificity == 1.0);
    CHECK(m.per_class[2].ppv == 1.0);
    CHECK(m.per_class[2].npv == doctest::Approx(0.8));
    CHECK(m.per_class[2].f1 == doctest::Approx(2.0 / 3.0));
    CHECK(m.macro_f1 == doctest::Approx((0.4 + 0.5 + 2.0 / 3.0) / 3.0));
    REQUIRE(m.roc.size() == 3);
    // Column 2's ROC: >= .5 -> tp 1 fp 0; >= .25 -> tp 2 fp 4.
    CHECK(m.roc[2].fpr == std::vector<double>{0, 0, 1});
    CHECK(m.roc[2].tpr == std::vector<double>{0, 0.5, 1});
}

TEST_CASE("metrics: balanced accuracy and macro F1 with a class only predicted") {
    // labels 0 0 1 1, predictions 0 2 1 1 (class 2 never true).
    std::vector<int> y = {0, 0, 1, 1}, pred = {0, 2, 1, 1};
    CHECK(accuracy(y, pred) == 0.75);
    // Recall over present classes only: (1/2 + 1) / 2.
    CHECK(balanced_accuracy(y, pred, 3) == 0.75);
    // Probabilities whose argmax gives those predictions.
    std::vector<float> p = {.6f, .2f, .2f, .2f, .2f, .6f, .2f, .6f, .2f, .1f, .8f, .1f};
    Metrics m = compute_metrics(y, p, 3);
    // F1: class 0 = 2/(2+0+1), class 1 = 1, class 2 = 0 (tp 0, fp 1): mean over all three (sklearn).
    CHECK(m.macro_f1 == doctest::Approx((2.0 / 3.0 + 1.0 + 0.0) / 3.0));
    // Class 2 has no positive: its AUC and the macro AUC are undefined.
    CHECK(is_nan(m.per_class[2].auc));
    CHECK(is_nan(m.per_class[2].sensitivity));
    CHECK(is_nan(m.auc));
    CHECK(!m.warnings.empty());
    // Mean over the defined classes.  Column 0: pos {.6,.2} neg {.2,.1}: 1+1+.5+1 = 3.5/4.
    // Column 1: pos {.6,.8} neg {.2,.2}: 4/4.
    CHECK(m.auc_defined_mean == doctest::Approx((0.875 + 1.0) / 2));
    CHECK_THROWS_CONTAINING(macro_auc_ovr(y, p, 3), "class 2");
}

TEST_CASE("metrics: AUC equals the pair count and the ROC trapezoid on random data") {
    Lcg rng{12345};
    for (int trial = 0; trial < 20; ++trial) {
        size_t n = 5 + rng.next() % 60;
        std::vector<int> y(n);
        std::vector<float> s(n);
        for (size_t i = 0; i < n; ++i) {
            y[i] = rng.next() % 3 == 0;
            s[i] = float(rng.next() % 7) / 8.0f;  // coarse grid: many ties
        }
        y[0] = 1;
        y[1] = 0;
        double ref = brute_force_auc(y, s);
        CHECK(binary_auc(y, s) == doctest::Approx(ref).epsilon(1e-12));
        CHECK(trapezoid_auc(roc_curve(y, s)) == doctest::Approx(ref).epsilon(1e-12));
    }
}

TEST_CASE("metrics: bad input throws clear errors") {
    std::vector<int> y = {0, 1, 3};
    std::vector<float> p(9, 1.0f / 3.0f);
    CHECK_THROWS_CONTAINING(compute_metrics(y, p, 3), "label 3 of sample 2");
    std::vector<int> y2 = {0, 1, 2};
    CHECK_THROWS_CONTAINING(compute_metrics(y2, std::vector<float>(8, 0.f), 3), "need 9 probabilities");
    std::vector<float> pn = p;
    pn[4] = std::nanf("");
    CHECK_THROWS_CONTAINING(compute_metrics(y2, pn, 3), "not finite");
    std::vector<float> unnormalised(9, 1.0f);
    CHECK_THROWS_CONTAINING(compute_metrics(y2, unnormalised, 3), "sum to");
    CHECK_THROWS_CONTAINING(binary_auc({1, 1}, {0.2f, 0.3f}), "only one class");
    CHECK_THROWS_CONTAINING(compute_metrics({}, {}, 2), "no samples");
    CHECK_THROWS_CONTAINING(flatten_rows({{0.5f, 0.5f}, {1.0f}}, 2), "row 1 has 1 values");
    CHECK(flatten_rows({{0.5f, 0.5f}, {1.0f, 0.0f}}, 2) == std::vector<float>{0.5f, 0.5f, 1.0f, 0.0f});
    CHECK(argmax_rows({0.2f, 0.4f, 0.4f, 0.9f, 0.0f, 0.1f}, 3) == std::vector<int>{1, 0});
}

TEST_CASE("metrics: binary task with one class only keeps going with NaN AUC") {
    // Rows [.2 .8] [.6 .4] [.5 .5] predict 1, 0, 0 (first maximum on the tie).
    Metrics m = compute_metrics({1, 1, 1}, {0.2f, 0.8f, 0.6f, 0.4f, 0.5f, 0.5f}, 2);
    CHECK(is_nan(m.auc));
    CHECK(m.accuracy == doctest::Approx(1.0 / 3.0));
    CHECK(!m.warnings.empty());
    CHECK(is_nan(m.roc[0].fpr[1]));  // no negatives: fpr undefined, as in sklearn
}

// ---- scikit-learn fixtures ----------------------------------------------------

namespace {

std::vector<double> doubles(const eng::json::Value& a) {
    std::vector<double> out;
    for (size_t i = 0; i < a.size(); ++i) out.push_back(a[i].as_number());
    return out;
}

void check_close(double got, double want, const std::string& what) {
    CHECK_MESSAGE(std::fabs(got - want) <= 1e-9, what << ": got " << got << " sklearn " << want);
}

void check_vec(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
    REQUIRE_MESSAGE(got.size() == want.size(), what << ": " << got.size() << " vs " << want.size());
    for (size_t i = 0; i < got.size(); ++i) check_close(got[i], want[i], what + "[" + std::to_string(i) + "]");
}

}  // namespace

TEST_CASE("metrics: agree with scikit-learn fixtures") {
    auto root = eng::json::parse_file("tests/fixtures/metrics_sklearn.json");
    const auto& cases = root.at("cases");
    REQUIRE(cases.size() == 6);
    for (size_t ci = 0; ci < cases.size(); ++ci) {
        const auto& c = cases[ci];
        std::string name = c.at("name").as_string();
        CAPTURE(name);
        int K = int(c.at("num_classes").as_int());
        std::vector<int> y;
        for (double v : doubles(c.at("labels"))) y.push_back(int(v));
        std::vector<float> p;
        for (double v : doubles(c.at("probs"))) p.push_back(float(v));
        Metrics m = compute_metrics(y, p, K);
        check_close(m.accuracy, c.at("accuracy").as_number(), "accuracy");
        check_close(m.balanced_accuracy, c.at("balanced_accuracy").as_number(), "balanced_accuracy");
        check_close(m.macro_f1, c.at("macro_f1").as_number(), "macro_f1");
        for (int a = 0; a < K; ++a)
            for (int b = 0; b < K; ++b)
                CHECK(m.confusion[a][b] == c.at("confusion")[a][b].as_int());
        for (int k = 0; k < K; ++k) {
            const ClassMetrics& pc = m.per_class[k];
            std::string tag = "class " + std::to_string(k);
            check_close(pc.f1, c.at("f1")[k].as_number(), tag + " f1");
            // sklearn's zero_division=0 turns undefined ratios into 0; ours are NaN.
            double prec = c.at("precision")[k].as_number(), rec = c.at("recall")[k].as_number();
            if (pc.tp + pc.fp > 0) check_close(pc.ppv, prec, tag + " precision");
            else CHECK(is_nan(pc.ppv));
            if (pc.support > 0) check_close(pc.sensitivity, rec, tag + " recall");
            else CHECK(is_nan(pc.sensitivity));
            const auto& auc = c.at("ovr_auc")[k];
            if (auc.is_null()) CHECK(is_nan(pc.auc));
            else check_close(pc.auc, auc.as_number(), tag + " auc");
            const auto& roc = c.at("ovr_roc")[k];
            if (!roc.is_null()) {
                // The binary task keeps only class 1's curve; multi-class keeps all.
                const RocCurve* r = K == 2 ? (k == 1 ? &m.roc[0] : nullptr) : &m.roc[k];
                if (r) {
                    check_vec(r->fpr, doubles(roc.at("fpr")), tag + " fpr");
                    check_vec(r->tpr, doubles(roc.at("tpr")), tag + " tpr");
                    std::vector<double> tail(r->thresholds.begin() + 1, r->thresholds.end());
                    check_vec(tail, doubles(roc.at("thresholds_tail")), tag + " thresholds");
                }
            }
        }
        if (c.at("auc").is_null()) {
            CHECK(c.contains("auc_error"));
            CHECK(is_nan(m.auc));
            CHECK_THROWS_AS(macro_auc_ovr(y, p, K), eng::Error);
        } else {
            check_close(m.auc, c.at("auc").as_number(), "auc");
        }
        if (K == 2) {
            check_close(m.probabilistic_f1, c.at("probabilistic_f1").as_number(), "probabilistic_f1");
            check_close(m.specificity_at_80_sensitivity, c.at("specificity_at_80_sensitivity").as_number(),
                        "specificity_at_80_sensitivity");
            // sklearn's default curve (drop_intermediate), which that reads.
            std::vector<int> pos(y.size());
            std::vector<float> p1(y.size());
            for (size_t i = 0; i < y.size(); ++i) pos[i] = y[i] == 1, p1[i] = p[i * 2 + 1];
            const RocCurve dropped = roc_curve(pos, p1, true);
            const auto& want = c.at("roc_dropped");
            check_vec(dropped.fpr, doubles(want.at("fpr")), "dropped fpr");
            check_vec(dropped.tpr, doubles(want.at("tpr")), "dropped tpr");
            std::vector<double> tail(dropped.thresholds.begin() + 1, dropped.thresholds.end());
            check_vec(tail, doubles(want.at("thresholds_tail")), "dropped thresholds");
        }
    }
}
