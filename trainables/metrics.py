"""The one metrics module: classification scores from labels and class scores."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, prefix: str = "test_"
                           ) -> dict[str, float]:
    """Accuracy, macro precision / recall / F1 and ROC AUC from class scores (N × C).

    AUC is binary on the positive class's score, or macro one-vs-rest for more classes;
    it is NaN where it is undefined (a class missing from ``y_true``). ``auc_labels`` is the
    same AUC computed from the predicted labels (one-hot) instead of the scores: report 003's
    "AUC", which equals its macro recall, was this. For two classes it is the macro recall
    (balanced accuracy); it is no ranking measure, so ``auc`` is the one to compare.
    """
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    y_pred = scores.argmax(axis=1)
    labels = np.arange(scores.shape[1])
    p, r, f1, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0)
    out = {"acc": skm.accuracy_score(y_true, y_pred), "precision": p, "recall": r, "f1": f1,
           "auc": roc_auc(y_true, scores),
           "auc_labels": roc_auc(y_true, np.eye(scores.shape[1])[y_pred])}
    return {f"{prefix}{k}": float(v) for k, v in out.items()}


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Binary AUC of class 1, or macro one-vs-rest AUC; NaN when a class is absent or a score
    is not finite (a diverged model: the loop's fault checks report it)."""
    present = np.unique(y_true)
    if len(present) < 2 or len(present) < scores.shape[1] or not np.isfinite(scores).all():
        return float("nan")
    if scores.shape[1] == 2:
        return float(skm.roc_auc_score(y_true, scores[:, 1]))
    probs = scores / np.clip(scores.sum(axis=1, keepdims=True), 1e-12, None)
    return float(skm.roc_auc_score(y_true, probs, multi_class="ovr", average="macro"))


def save_predictions(path: str, y_true: np.ndarray, scores: np.ndarray,
                     classes: tuple[str, ...]) -> None:
    """Write the test labels and class scores (``predictions.npz``) for the analysis."""
    np.savez_compressed(path, y_true=np.asarray(y_true), scores=np.asarray(scores),
                        classes=np.asarray(classes))
