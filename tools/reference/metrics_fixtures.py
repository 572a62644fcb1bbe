#!/usr/bin/python3
# metrics_fixtures.py: writes tests/fixtures/metrics_sklearn.json, the expected
# metric values used by tests/mama/test_metrics.cpp, computed with scikit-learn.
# Run with Debian's Python (apt-get install python3-sklearn):
#   /usr/bin/python3 tools/reference/metrics_fixtures.py > tests/fixtures/metrics_sklearn.json
#
# Probabilities are small-integer ratios rounded to float32; the same float32
# values go to sklearn and (printed with 9 significant digits, which reads back
# exactly) to the C++ code, so ties and orderings are identical on both sides.
import json
import sys

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             precision_score, recall_score, roc_auc_score, roc_curve)


def probs_from_weights(w):
    w = np.asarray(w, dtype=np.float64)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def f32(x):
    return float("%.9g" % x)


def nan_to_none(x):
    return None if np.isnan(x) else float(x)


def pfbeta(labels, preds):
    # mama-reference.md §9.3: probabilistic F1 with beta = 1.
    ctp = sum(min(max(p, 0), 1) for y, p in zip(labels, preds) if y)
    cfp = sum(min(max(p, 0), 1) for y, p in zip(labels, preds) if not y)
    npos = sum(1 for y in labels if y)
    prec = ctp / (ctp + cfp) if ctp + cfp > 0 else 0.0
    rec = ctp / npos if npos > 0 else 0.0
    return 2 * prec * rec / (prec + rec) if prec > 0 and rec > 0 else 0.0


def case(name, y, P):
    y = np.asarray(y)
    K = P.shape[1]
    pred = P.argmax(axis=1)
    cm = confusion_matrix(y, pred, labels=list(range(K)))
    out = {
        "name": name,
        "num_classes": K,
        "labels": [int(v) for v in y],
        "probs": [f32(v) for v in P.reshape(-1)],
        "accuracy": accuracy_score(y, pred),
        "balanced_accuracy": balanced_accuracy_score(y, pred),
        "confusion": cm.tolist(),
        # sklearn's macro F1 averages over unique_labels(y, pred)
        "macro_f1": f1_score(y, pred, average="macro", zero_division=0),
        "f1": f1_score(y, pred, labels=list(range(K)), average=None, zero_division=0).tolist(),
        "precision": precision_score(y, pred, labels=list(range(K)), average=None, zero_division=0).tolist(),
        "recall": recall_score(y, pred, labels=list(range(K)), average=None, zero_division=0).tolist(),
    }
    # Per-class one-vs-rest AUCs and ROC curves (None where undefined).
    aucs, rocs = [], []
    for c in range(K):
        pos = (y == c).astype(int)
        if 0 < pos.sum() < len(y):
            aucs.append(roc_auc_score(pos, P[:, c]))
            fpr, tpr, thr = roc_curve(pos, P[:, c], drop_intermediate=False)
            # thresholds[0] differs between sklearn versions (max+1 or inf): left out.
            rocs.append({"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds_tail": thr[1:].tolist()})
        else:
            aucs.append(None)
            rocs.append(None)
    out["ovr_auc"] = aucs
    out["ovr_roc"] = rocs
    if K == 2:
        out["auc"] = roc_auc_score(y, P[:, 1])
        out["probabilistic_f1"] = pfbeta(y.tolist(), P[:, 1].tolist())
        # The reference reads it on roc_curve's default curve (drop_intermediate=True).
        fpr, tpr, thr = roc_curve(y, P[:, 1])
        out["roc_dropped"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds_tail": thr[1:].tolist()}
        out["specificity_at_80_sensitivity"] = float(1 - fpr[np.argmin(np.abs(tpr - 0.8))])
    else:
        try:
            out["auc"] = roc_auc_score(y, P, multi_class="ovr", average="macro")
        except ValueError as e:
            out["auc"] = None
            out["auc_error"] = str(e)
    return out


rng = np.random.default_rng(20240607)
cases = []

# 1. Three classes, 12 samples, many tied scores.
y1 = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
w1 = [[2, 1, 1], [1, 1, 2], [2, 2, 0], [1, 1, 1], [1, 2, 1], [1, 2, 1], [2, 1, 1], [0, 1, 1],
      [1, 1, 2], [1, 1, 2], [0, 1, 3], [2, 1, 1]]
cases.append(case("three_class_ties", y1, probs_from_weights(w1)))

# 2. Binary, 10 samples, ties across the classes.
y2 = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
s2 = np.array([0.1, 0.4, 0.4, 0.6, 0.2, 0.8, 0.4, 0.6, 0.9, 0.3], dtype=np.float32)
cases.append(case("binary_ties", y2, np.stack([1 - s2, s2], axis=1).astype(np.float32)))

# 3. Four classes, 60 samples, random integer weights 0..4 (+ a bias towards the label).
y3 = rng.integers(0, 4, size=60)
w3 = rng.integers(0, 5, size=(60, 4)).astype(np.float64) + 0.5
w3[np.arange(60), y3] += rng.integers(0, 4, size=60)
cases.append(case("four_class_random", y3, probs_from_weights(w3)))

# 4. Three classes, class 2 absent from the labels (but predicted): sklearn's macro AUC raises.
y4 = [0, 1, 0, 1, 0, 1, 1, 0]
w4 = [[3, 1, 1], [1, 3, 1], [1, 1, 3], [1, 2, 1], [2, 1, 1], [1, 1, 4], [2, 3, 1], [1, 2, 1]]
cases.append(case("absent_class", y4, probs_from_weights(w4)))

# 5. Binary, 50 random samples with scores on a coarse grid (ties).
y5 = rng.integers(0, 2, size=50)
s5 = (rng.integers(0, 9, size=50) + 2 * y5) / 10.0
s5 = np.clip(s5, 0, 1).astype(np.float32)
cases.append(case("binary_random", y5, np.stack([1 - s5, s5], axis=1).astype(np.float32)))

# 6. Binary, each positive tied with a negative at five scores: the full curve's
#    points between the ties lie on straight lines, and dropping them moves the
#    point nearest tpr 0.8 (specificity 0.2 on the full curve, 0.0 on sklearn's).
y6 = [1, 0] * 5
s6 = np.repeat(np.array([0.9, 0.8, 0.7, 0.6, 0.5], dtype=np.float32), 2)
cases.append(case("binary_paired_ties", y6, np.stack([1 - s6, s6], axis=1).astype(np.float32)))

json.dump({"generator": "tools/reference/metrics_fixtures.py", "sklearn": sklearn.__version__,
           "cases": cases}, sys.stdout, indent=1)
sys.stdout.write("\n")
