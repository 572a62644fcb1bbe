// metrics.h: classification metrics for the evaluation programs (accuracy,
// balanced accuracy, one-vs-rest ROC AUC, confusion matrix, per-class
// sensitivity / specificity / PPV / NPV / F1, ROC curves), with scikit-learn's
// semantics so the numbers compare with the published reference (mama-reference.md §9.3).
//
// Conventions:
// - Probabilities are a flat row-major [N, K] buffer (probs[n*K + c]); labels
//   are integers in [0, K).  The prediction is the argmax of each row, the first
//   index winning ties (numpy's argmax).
// - Every value in this header is a FRACTION in [0, 1]; the writers in
//   report.h multiply by 100 as the paper does.
// - A ratio whose denominator is zero (e.g. the sensitivity of a class with no
//   test samples) is NaN, "undefined"; the writers print it as "-" / null.
// - Bad input (label outside [0, K), NaN scores, ragged rows, size mismatch)
//   throws eng::Error.
//
// sklearn behaviours replicated (and what we do where sklearn raises):
// - balanced accuracy: mean recall over the classes PRESENT in the labels
//   (balanced_accuracy_score, adjusted=False); a class that is only predicted
//   is ignored.
// - AUC: the area under the trapezoidal ROC, which equals the Mann-Whitney
//   statistic with ties counted as 1/2.  macro_auc_ovr() is
//   roc_auc_score(y, P, multi_class="ovr", average="macro"): it throws, as
//   sklearn does, when a class has no positive in the labels or the rows do
//   not sum to 1 (|sum - 1| > 1e-3, looser than sklearn's 1e-5 for float32
//   sums).  compute_metrics() does not throw there: it sets the macro AUC to
//   NaN, adds a warning, and also reports the mean over the classes whose AUC
//   is defined (auc_defined_mean).
// - binary_auc() is roc_auc_score(y, P[:, 1]); it throws when only one class
//   is present (sklearn raises ValueError).
// - roc_curve() is sklearn.metrics.roc_curve(drop_intermediate=False): one
//   point per distinct score, descending, plus the (0, 0) start whose threshold
//   is +infinity (sklearn >= 1.3; sklearn 1.2 wrote max + 1 there).  With no
//   negatives the fpr is all NaN, with no positives the tpr is (as in sklearn).
//   With drop_intermediate it is sklearn's default curve, which the reference's
//   specificity at 80% sensitivity reads: the points on a straight line
//   between their neighbours are dropped, so the point nearest a target tpr
//   can differ.
// - macro F1: mean of the per-class F1 over the classes present in the labels
//   OR the predictions (f1_score(average="macro") uses unique_labels(y, pred));
//   F1 = 2TP / (2TP + FP + FN), which is 0 where sklearn's zero_division gives 0.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mama {

// One ROC curve: points (fpr[i], tpr[i]) reached by thresholding at >= thresholds[i].
struct RocCurve {
    std::vector<double> fpr, tpr, thresholds;
};

// One-vs-rest counts and ratios for one class at the argmax prediction.
struct ClassMetrics {
    int64_t tp = 0, fp = 0, fn = 0, tn = 0;
    int64_t support = 0;     // samples whose label is this class (tp + fn)
    double sensitivity = 0;  // recall = per-class accuracy = tp / (tp + fn)
    double specificity = 0;  // tn / (tn + fp)
    double ppv = 0;          // precision = tp / (tp + fp)
    double npv = 0;          // tn / (tn + fn)
    double f1 = 0;           // 2tp / (2tp + fp + fn); NaN if the class is absent from labels and predictions
    double auc = 0;          // one-vs-rest AUC of this column; NaN if undefined
};

struct Metrics {
    int num_classes = 0;
    int64_t num_samples = 0;
    double accuracy = 0;
    double balanced_accuracy = 0;
    // Binary tasks (K == 2): AUC of P[:, 1].  K > 2: macro one-vs-rest AUC
    // (NaN when a class has no positive or no negative, see auc_defined_mean).
    double auc = 0;
    double auc_defined_mean = 0;  // mean one-vs-rest AUC over classes where it is defined
    double macro_f1 = 0;
    std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
    std::vector<ClassMetrics> per_class;
    // Binary: one curve, class 1's scores.  Multi-class: one per class (ovr).
    std::vector<RocCurve> roc;
    // Binary tasks only (NaN otherwise), mama-reference.md §9.3.
    double probabilistic_f1 = 0;
    double specificity_at_80_sensitivity = 0;
    std::vector<std::string> warnings;  // why a value is undefined, for the user
    bool binary() const { return num_classes == 2; }
};

// ---- building blocks --------------------------------------------------------

// Argmax of each row of a flat [N, K] buffer (first index on ties).
std::vector<int> argmax_rows(const std::vector<float>& probs, int num_classes);
// Flattens rows of equal length K into [N, K]; throws on ragged rows.
std::vector<float> flatten_rows(const std::vector<std::vector<float>>& rows, int num_classes);

// Confusion matrix [K][K], rows = true class, columns = predicted class.
std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int>& labels,
                                                   const std::vector<int>& predictions, int num_classes);
double accuracy(const std::vector<int>& labels, const std::vector<int>& predictions);
double balanced_accuracy(const std::vector<int>& labels, const std::vector<int>& predictions, int num_classes);

// Mann-Whitney AUC of `scores` for the positives (is_positive[i] != 0), ties
// counted as 1/2.  Throws unless both positives and negatives exist.
double binary_auc(const std::vector<int>& is_positive, const std::vector<float>& scores);
// As above, but NaN instead of throwing when one side is empty.
double binary_auc_or_nan(const std::vector<int>& is_positive, const std::vector<float>& scores);
// One-vs-rest AUC of every column (NaN where undefined).
std::vector<double> ovr_auc_per_class(const std::vector<int>& labels, const std::vector<float>& probs,
                                      int num_classes);
// sklearn's roc_auc_score(y, P, multi_class="ovr", average="macro"); throws
// where sklearn raises (see the header comment).
double macro_auc_ovr(const std::vector<int>& labels, const std::vector<float>& probs, int num_classes);

RocCurve roc_curve(const std::vector<int>& is_positive, const std::vector<float>& scores,
                   bool drop_intermediate = false);
// Area under a ROC curve by the trapezoidal rule (NaN if the curve holds NaN).
double trapezoid_auc(const RocCurve& roc);

// Probabilistic F1 (β = 1) of binary labels and P(positive), §9.3.
double probabilistic_f1(const std::vector<int>& labels, const std::vector<float>& positive_probs);
// 1 - fpr at the ROC point whose tpr is nearest `target` (first such point);
// the reference reads it on the curve with drop_intermediate.
double specificity_at_sensitivity(const RocCurve& roc, double target);

// Everything above for labels and a flat [N, K] probability buffer.
Metrics compute_metrics(const std::vector<int>& labels, const std::vector<float>& probs, int num_classes);

}  // namespace mama
