"""The metrics module against scikit-learn's own functions."""

import numpy as np
import pytest
from sklearn import metrics as skm

from trainables.metrics import classification_metrics, roc_auc, save_predictions


def test_multiclass_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=200)
    scores = rng.random((200, 4))
    scores[np.arange(200), y] += 0.6
    m = classification_metrics(y, scores)
    pred = scores.argmax(1)
    assert m["test_acc"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["test_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["test_precision"] == pytest.approx(skm.precision_score(y, pred, average="macro"))
    assert m["test_recall"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    probs = scores / scores.sum(1, keepdims=True)
    assert m["test_auc"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr"))


def test_binary_auc_uses_the_positive_score():
    y = np.array([0, 0, 1, 1, 1])
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2], [0.1, 0.9]])
    m = classification_metrics(y, scores, prefix="val_")
    assert m["val_auc"] == pytest.approx(skm.roc_auc_score(y, scores[:, 1]))


def test_auc_is_nan_when_a_class_is_missing():
    y = np.array([0, 0, 1])
    m = classification_metrics(y, np.eye(3)[[0, 0, 1]])
    assert np.isnan(m["test_auc"])


def test_auc_is_nan_for_scores_that_are_not_finite():
    y = np.array([0, 1, 1])
    assert np.isnan(roc_auc(y, np.array([[0.5, 0.5], [np.nan, np.nan], [0.1, 0.9]])))


def test_predictions_round_trip(tmp_path):
    path = tmp_path / "p.npz"
    save_predictions(str(path), np.array([1, 0]), np.array([[0.2, 0.8], [0.6, 0.4]]), ("a", "b"))
    saved = np.load(path)
    assert saved["y_true"].tolist() == [1, 0] and saved["classes"].tolist() == ["a", "b"]
