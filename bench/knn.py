"""k-NN: the torch all-k vote against scikit-learn's KNeighborsClassifier fitted per k."""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

from bench.report import Figure, speedup
from trainables import neighbors


def codes(n: int, dim: int = 64, classes: int = 10, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian class clusters: latent codes as an encoder would give them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    centres = rng.normal(size=(classes, dim)) * 1.5
    return (centres[y] + rng.normal(size=(n, dim))).astype(np.float32), y.astype(np.int64)


def run(quick: bool) -> list[Figure]:
    n = 10_000
    x_tr, y_tr = codes(n, seed=0)
    x_q, y_q = codes(2_000 if quick else n, seed=1)
    ks = list(range(1, 51))

    start = time.perf_counter()
    theirs = {k: KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(x_tr, y_tr)
              .score(x_q, y_q) for k in ks}
    sk_s = time.perf_counter() - start

    start = time.perf_counter()
    ours = neighbors.accuracy_by_k(torch.from_numpy(x_tr), torch.from_numpy(y_tr),
                                   torch.from_numpy(x_q), torch.from_numpy(y_q), ks, 10)
    torch_s = time.perf_counter() - start
    worst = max(abs(ours[k] - theirs[k]) for k in ks)
    assert worst < 1e-3, f"torch k-NN disagrees with scikit-learn by {worst}"
    label = f"knn_all_k_1..50 ({n}x64 train, {len(x_q)} queries)"
    return [speedup(label, torch_s, sk_s, "s", ">= 5x")]
