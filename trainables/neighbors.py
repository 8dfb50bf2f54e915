"""The one k-NN of the project: torch, chunked distances, top-`k_max` once, every k voted.

Its options (names in ``core.names``; the defaults are the reports' k-NN) are
scikit-learn's: ``scale="standardize"`` z-scores each dimension with the training (reference)
codes' mean and standard deviation, a ``StandardScaler`` fitted on them (a constant
dimension is only centred); ``scale="whiten"`` projects them on the reference codes'
principal axes divided by their standard deviations, ``PCA(whiten=True)`` fitted on them
(euclidean distances become Mahalanobis distances; axes without variance are dropped);
``metric="cosine"`` L2-normalises the codes, so that the same
euclidean top-k ranks by the cosine distance ``1 - cos``; ``weights="distance"`` weighs each
vote by 1/distance, and a query with references at distance 0 takes only theirs, one each.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

#: The k values every k-NN method reports as ``val_acc@k`` (up to its ``k_max``).
K_GRID: tuple[int, ...] = (1, 3, 5, 10, 15, 25, 35, 50)

# Bytes one distance chunk may take; keeps CPU memory flat for 50,000-point train sets.
_CHUNK_BYTES = 256 * 2**20


def k_values(n_neighbors: int, k_max: int, n_train: int) -> list[int]:
    """The report grid up to ``k_max`` plus the sampled ``n_neighbors``, capped by n_train."""
    ks = {k for k in K_GRID if k <= k_max} | {n_neighbors}
    return sorted(k for k in ks if k <= n_train)


def prepare(train_x: torch.Tensor, query_x: torch.Tensor, *, metric: str = "euclidean",
            scale: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
    """Training and query codes as the k-NN compares them: standardised or whitened on the
    training codes' statistics, then L2-normalised for the cosine metric."""
    if scale == "standardize":
        mean, std = train_x.mean(dim=0), train_x.std(dim=0, correction=0)
        std = torch.where(std < 10 * torch.finfo(std.dtype).eps, torch.ones_like(std), std)
        train_x, query_x = (train_x - mean) / std, (query_x - mean) / std
    elif scale == "whiten":
        train_x, query_x = whiten(train_x, query_x)
    if metric == "cosine":
        train_x, query_x = F.normalize(train_x, dim=1), F.normalize(query_x, dim=1)
    return train_x, query_x


def whiten(train_x: torch.Tensor, query_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets in the training codes' whitened principal axes (scikit-learn's
    ``PCA(whiten=True)``: ``(x - mean) @ Vᵀ / (S / sqrt(n - 1))``), computed in float64.
    Axes without variance are dropped: a standard deviation below 1e-6 of the largest, or
    within the codes' rounding (16 units in the last place of their largest magnitude: a
    128-d code from a 64-wide layer has 64 axes of float32 noise)."""
    mean = train_x.double().mean(dim=0)
    _, s, vt = torch.linalg.svd(train_x.double() - mean, full_matrices=False)
    std = s / max(len(train_x) - 1, 1) ** 0.5
    rounding = 16 * torch.finfo(train_x.dtype).eps * train_x.abs().max().double()
    keep = std > torch.maximum(1e-6 * std.max(), rounding)
    projection = vt[keep].T / std[keep]
    return tuple(((x.double() - mean) @ projection).to(x.dtype) for x in (train_x, query_x))


@torch.no_grad()
def nearest_labels(train_x: torch.Tensor, train_y: torch.Tensor, query_x: torch.Tensor,
                   k_max: int, *, distances: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Labels of the ``k_max`` nearest training points of every query, nearest first, and
    (``distances=True``) their euclidean distances, else None.

    Squared euclidean distances as ``|x|² - 2 q·x`` (``|q|²`` does not change a row's
    ranking) in one fused ``addmm`` per query chunk (2.4× faster than the three-op form on
    10,000 × 50,000 codes: no temporaries), chunks sized so the block stays under 256 MiB.
    The distances returned are those of the neighbours' differences, so a copy is at 0.
    """
    k_max = min(k_max, len(train_x))
    train_sq = (train_x * train_x).sum(dim=1)
    width = max(len(train_x), k_max * train_x.shape[1] if distances else 0, 1)
    rows = max(1, _CHUNK_BYTES // (4 * width))
    labels, dists = [], []
    for start in range(0, len(query_x), rows):
        q = query_x[start:start + rows]
        block = torch.addmm(train_sq.unsqueeze(0), q, train_x.T, alpha=-2.0)
        idx = block.topk(k_max, dim=1, largest=False, sorted=True).indices
        labels.append(train_y[idx])
        if distances:
            dists.append((train_x[idx] - q.unsqueeze(1)).norm(dim=2))
    if not labels:  # no queries
        labels, dists = [train_y.new_empty((0, k_max))], [query_x.new_empty((0, k_max))]
    return torch.cat(labels), torch.cat(dists) if distances else None


def distance_weights(distances: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """Votes of ``weights="distance"`` from :func:`nearest_labels`' distances: 1/d (cosine:
    d = 1 - cos = half the squared distance of normalised codes), or 1 for the references at
    distance 0 and 0 for the others where a query has any."""
    d = distances.square() / 2 if metric == "cosine" else distances
    exact = d == 0
    return torch.where(exact.any(dim=1, keepdim=True), exact.to(d.dtype), 1 / d)


def vote_counts(neighbor_labels: torch.Tensor, ks: Iterable[int], num_classes: int,
                weights: torch.Tensor | None = None) -> dict[int, torch.Tensor]:
    """Class votes (queries × classes) for every k from one neighbour list: counts, or the
    sums of the neighbours' ``weights`` (queries × k_max) where given."""
    tally = F.one_hot(neighbor_labels, num_classes)
    if weights is not None:
        tally = tally * weights.unsqueeze(2)
    tally = tally.cumsum(dim=1)
    return {k: tally[:, k - 1, :] for k in ks}


def predict(counts: torch.Tensor) -> torch.Tensor:
    """Majority vote; ties go to the smallest label, as in scikit-learn."""
    return counts.argmax(dim=1)


def votes(train_x: torch.Tensor, train_y: torch.Tensor, query_x: torch.Tensor,
          ks: Iterable[int], num_classes: int, *, metric: str = "euclidean",
          weights: str = "uniform", scale: str = "none") -> dict[int, torch.Tensor]:
    """Class votes (queries × classes) of the queries for every k in ``ks``, neighbours
    found once, with the k-NN options of the module docstring."""
    ks = list(ks)
    train_x, query_x = prepare(train_x, query_x, metric=metric, scale=scale)
    labels, dist = nearest_labels(train_x, train_y, query_x, max(ks),
                                  distances=weights == "distance")
    return vote_counts(labels, ks, num_classes,
                       None if dist is None else distance_weights(dist, metric))


def accuracy_by_k(train_x: torch.Tensor, train_y: torch.Tensor, query_x: torch.Tensor,
                  query_y: torch.Tensor, ks: Iterable[int], num_classes: int,
                  **options: str) -> dict[int, float]:
    """k-NN accuracy on the queries for every k in ``ks`` (neighbours found once);
    ``options`` as :func:`votes` takes them."""
    return {k: (predict(c) == query_y).float().mean().item()
            for k, c in votes(train_x, train_y, query_x, ks, num_classes, **options).items()}
