"""The torch k-NN against scikit-learn, on real data, for every k of the grid."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from trainables import neighbors


@pytest.fixture(scope="module")
def codes():
    x, y = load_digits(return_X_y=True)
    z = PCA(n_components=12, random_state=0).fit_transform(x)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, query = order[:1200], order[1200:]
    return z[train], y[train], z[query], y[query]


def test_every_k_matches_scikit_learn(codes):
    x_tr, y_tr, x_q, _ = codes
    ks = list(range(1, 51))
    labels, _ = neighbors.nearest_labels(torch.tensor(x_tr), torch.tensor(y_tr),
                                         torch.tensor(x_q), max(ks))
    counts = neighbors.vote_counts(labels, ks, 10)
    for k in ks:
        ours = neighbors.predict(counts[k]).numpy()
        theirs = KNeighborsClassifier(n_neighbors=k).fit(x_tr, y_tr).predict(x_q)
        assert (ours == theirs).all(), f"k={k}: {(ours != theirs).sum()} predictions differ"


def test_accuracy_by_k_equals_scikit_learn_scores(codes):
    x_tr, y_tr, x_q, y_q = codes
    ks = neighbors.k_values(n_neighbors=7, k_max=50, n_train=len(x_tr))
    assert ks == [1, 3, 5, 7, 10, 15, 25, 35, 50]
    acc = neighbors.accuracy_by_k(*(torch.tensor(a) for a in codes), ks, 10)
    for k in ks:
        expected = KNeighborsClassifier(n_neighbors=k).fit(x_tr, y_tr).score(x_q, y_q)
        assert acc[k] == pytest.approx(expected)


def test_chunking_does_not_change_neighbours(codes, monkeypatch):
    x_tr, y_tr, x_q, _ = (torch.tensor(a) for a in codes)
    whole = neighbors.nearest_labels(x_tr, y_tr, x_q, 10, distances=True)
    monkeypatch.setattr(neighbors, "_CHUNK_BYTES", 4 * len(x_tr) * 7)  # 7 queries a chunk
    chunked = neighbors.nearest_labels(x_tr, y_tr, x_q, 10, distances=True)
    assert all(torch.equal(a, b) for a, b in zip(chunked, whole, strict=True))


def test_ties_go_to_the_smallest_label_like_scikit_learn():
    x_tr = torch.tensor([[0.0], [1.0], [-1.0], [2.0]])
    y_tr = torch.tensor([3, 1, 2, 1])
    labels, _ = neighbors.nearest_labels(x_tr, y_tr, torch.tensor([[0.1]]), 3)
    counts = neighbors.vote_counts(labels, [2], 4)[2]
    theirs = KNeighborsClassifier(n_neighbors=2).fit(x_tr.numpy(), y_tr.numpy()).predict([[0.1]])
    assert neighbors.predict(counts).item() == theirs[0] == 1


def test_k_values_never_exceed_the_training_set():
    assert neighbors.k_values(n_neighbors=40, k_max=50, n_train=12) == [1, 3, 5, 10]
