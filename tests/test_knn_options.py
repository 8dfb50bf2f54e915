"""The k-NN options (knn_metric, knn_weights, knn_scale): each changes the vote where it
should, all of them match scikit-learn, the trainables pass them on, the spaces search them
and the presets keep the reports' k-NN."""

import itertools

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.names import KNN_METRICS, KNN_SCALES, KNN_WEIGHTS
from search_spaces import pca_knn
from search_spaces.common import KNN_OPTIONS, REPORT_KNN, KnnSettings
from study import registry
from study.plan import resolve
from study.space import parameters
from study.spec import build
from tests.conftest import sampled_configs
from tests.test_presets import trial_configs
from trainables import knn, neighbors
from trainables.loop import DeviceSplits

KNN_METHODS = ("pca_knn", "isomap_knn", "ae_knn", "vae_knn")
OPTIONS = list(itertools.product(KNN_METRICS, KNN_WEIGHTS, KNN_SCALES))


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread."""


def vote(train_x, train_y, query_x, k, num_classes=2, **options):
    """Predicted labels at ``k``."""
    counts = neighbors.votes(torch.tensor(train_x), torch.tensor(train_y),
                             torch.tensor(query_x), [k], num_classes, **options)[k]
    return neighbors.predict(counts).tolist()


def test_cosine_ranks_by_angle_not_length():
    train_x, train_y = [[10.0, 0.0], [1.0, 1.0]], [0, 1]
    assert vote(train_x, train_y, [[1.0, 0.1]], 1) == [1]  # (1, 1) is closer
    assert vote(train_x, train_y, [[1.0, 0.1]], 1, metric="cosine") == [0]  # same direction


def test_distance_weights_let_one_close_neighbour_outvote_two_far_ones():
    train_x, train_y = [[0.1], [1.0], [1.1]], [0, 1, 1]
    assert vote(train_x, train_y, [[0.0]], 3) == [1]  # 2 votes to 1
    assert vote(train_x, train_y, [[0.0]], 3, weights="distance") == [0]  # 10 to 1 + 1/1.1


def test_exact_matches_take_all_the_weighted_votes():
    train_x, train_y = [[1.0, 1.0], [1.0, 1.0], [1.0, 1.01], [1.0, 1.02]], [0, 1, 1, 1]
    for metric in KNN_METRICS:
        votes = neighbors.votes(torch.tensor(train_x), torch.tensor(train_y),
                                torch.tensor([[1.0, 1.0]]), [4], 2, weights="distance",
                                metric=metric)[4]
        assert votes.tolist() == [[1.0, 1.0]], metric  # the two copies only, one each


def test_standardize_stops_a_large_scale_dimension_from_choosing_the_neighbours():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=400)
    x = np.stack([y + rng.normal(0, 0.2, size=400), rng.normal(0, 1000, size=400)], axis=1)
    accuracy = {scale: neighbors.accuracy_by_k(
        torch.tensor(x[:300]), torch.tensor(y[:300]), torch.tensor(x[300:]),
        torch.tensor(y[300:]), [5], 2, scale=scale)[5] for scale in KNN_SCALES}
    assert accuracy["none"] < 0.7 < 0.95 < accuracy["standardize"]


def test_standardize_is_fitted_on_the_reference_codes():
    train_x, query_x = torch.tensor([[0.0, 10.0], [2.0, 30.0]]), torch.tensor([[1.0, 20.0]])
    ref, query = neighbors.prepare(train_x, query_x, scale="standardize")
    assert ref.tolist() == [[-1.0, -1.0], [1.0, 1.0]] and query.tolist() == [[0.0, 0.0]]
    constant = neighbors.prepare(torch.tensor([[5.0], [5.0]]), torch.tensor([[6.0]]),
                                 scale="standardize")
    assert [t.tolist() for t in constant] == [[[0.0], [0.0]], [[1.0]]]  # only centred


def test_whiten_decorrelates_on_the_reference_codes_and_drops_flat_axes():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(500, 2)) * [10.0, 0.5]
    train = torch.tensor(np.column_stack([base, base[:, 0] + base[:, 1]]))  # rank 2 in 3-d
    ref, query = neighbors.prepare(train, train[:5] * 2, scale="whiten")
    assert ref.shape == (500, 2) and query.shape == (5, 2)
    cov = torch.cov(ref.T)
    assert torch.allclose(cov, torch.eye(2, dtype=cov.dtype), atol=1e-9)
    assert ref.dtype == train.dtype


def test_whiten_drops_the_float32_noise_of_a_code_wider_than_its_layer():
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 128)
    with torch.no_grad():
        layer.bias.fill_(100.0)  # a large offset: rounding noise grows with the magnitude
        codes = layer(torch.randn(2000, 64))  # rank 64 in 128 dimensions, float32
    ref, _ = neighbors.prepare(codes, codes[:3], scale="whiten")
    assert ref.shape == (2000, 64)


def test_whiten_finds_the_class_signal_that_a_correlated_large_axis_hides():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=600)
    big = rng.normal(0, 100, size=600)
    # the class lives in the small difference between two almost equal large coordinates
    x = np.stack([big, big + 0.5 * y + rng.normal(0, 0.05, size=600)], axis=1)
    accuracy = {scale: neighbors.accuracy_by_k(
        torch.tensor(x[:400]), torch.tensor(y[:400]), torch.tensor(x[400:]),
        torch.tensor(y[400:]), [5], 2, scale=scale)[5] for scale in KNN_SCALES}
    assert max(accuracy["none"], accuracy["standardize"]) < 0.7 < 0.95 < accuracy["whiten"]


@pytest.mark.parametrize(("metric", "weights", "scale"), OPTIONS)
def test_every_combination_matches_scikit_learn(metric, weights, scale):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)) * [1, 5, 0.1, 20, 1, 3] + [0, 10, 0, -5, 0, 1]
    y = rng.integers(0, 4, size=300)
    ks = [1, 2, 3, 5, 8, 13]
    votes = neighbors.votes(torch.tensor(x[:200]), torch.tensor(y[:200]),
                            torch.tensor(x[200:]), ks, 4, metric=metric, weights=weights,
                            scale=scale)
    for k in ks:
        scaler = {"none": [], "standardize": [StandardScaler()],
                  "whiten": [PCA(whiten=True)]}[scale]
        theirs = make_pipeline(*scaler, KNeighborsClassifier(
            k, metric=metric, weights=weights, algorithm="brute")).fit(x[:200], y[:200])
        assert (neighbors.predict(votes[k]).numpy() == theirs.predict(x[200:])).all(), k
        fractions = (votes[k] / votes[k].sum(dim=1, keepdim=True)).numpy()
        assert np.allclose(fractions, theirs.predict_proba(x[200:])), k


def test_pca_knn_trainable_scores_as_scikit_learn_does_with_the_options(digits):
    dev = DeviceSplits.from_splits(digits, torch.device("cpu"))
    options = {"knn_metric": "cosine", "knn_weights": "distance", "knn_scale": "standardize"}
    config = {"n_components": 12, "n_neighbors": 7, "whiten": False, "seed": 0,
              **pca_knn.DEFAULTS, **options}
    task = knn.PcaKnnTask(config, dev, torch.Generator())
    task.train_epoch(1)
    val = task.validate()
    flat = {p: getattr(digits, f"x_{p}").reshape(len(getattr(digits, f"x_{p}")), -1)
            .astype(np.float32) / 255.0 for p in ("train", "val", "test")}
    pca = PCA(n_components=12, random_state=0).fit(flat["train"])
    z = {p: pca.transform(v) for p, v in flat.items()}

    def sklearn_knn(k):
        return make_pipeline(StandardScaler(), KNeighborsClassifier(
            k, metric="cosine", weights="distance", algorithm="brute"))

    for k in (7, 1, 5, 10, 25, 50):
        ref = sklearn_knn(k).fit(z["train"], digits.y_train)
        key = "val_acc" if k == 7 else f"val_acc@{k}"
        assert val[key] == pytest.approx(ref.score(z["val"], digits.y_val)), k
    ref = sklearn_knn(7).fit(np.concatenate([z["train"], z["val"]]),
                             np.concatenate([digits.y_train, digits.y_val]))
    assert np.allclose(task.test()[1], ref.predict_proba(z["test"]), atol=1e-5)
    plain = knn.PcaKnnTask({**config, **REPORT_KNN}, dev, torch.Generator())
    plain.train_epoch(1)
    assert plain.validate() != val  # the options changed the scores


TINY_AE = {"arch": "dense", "latent_dim": 3, "lr": 1e-3, "dropout": 0.0, "init": "default",
           "batch_size": 64, "beta": 1.0}
TASKS = {
    "pca_knn": (knn.PcaKnnTask, {"n_components": 5, "whiten": False}),
    "isomap_knn": (knn.IsomapKnnTask, {"n_components": 3, "isomap_neighbors": 5,
                                       "isomap_subsample": 100}),
    "ae_knn": (knn.AutoencoderKnnTask, TINY_AE),
    "vae_knn": (knn.VaeKnnTask, TINY_AE),
}


@pytest.mark.parametrize("method", KNN_METHODS)
def test_every_knn_task_hands_its_options_to_the_knn(method, digits, monkeypatch):
    task_cls, config = TASKS[method]
    seen = []
    votes = neighbors.votes

    def spy(*args, **options):
        seen.append(options)
        return votes(*args, **options)

    monkeypatch.setattr(neighbors, "votes", spy)
    options = {"knn_metric": "cosine", "knn_weights": "distance", "knn_scale": "standardize"}
    dev = DeviceSplits.from_splits(digits, torch.device("cpu"))
    task = task_cls({**config, "n_neighbors": 5, "seed": 0, "k_max": 10, **options}, dev,
                    torch.Generator().manual_seed(0))
    task.train_epoch(1)
    task.validate()
    task.test()
    assert seen == [{"metric": "cosine", "weights": "distance", "scale": "standardize"}] * 2


@pytest.mark.parametrize("method", KNN_METHODS)
def test_the_search_samples_the_options_and_presets_keep_the_reports(method):
    module = registry.get(method).space_module()
    plan = resolve(build({"method": method}))
    searched = [name for name in REPORT_KNN if name in parameters(plan.space)]
    assert searched == (["knn_metric", "knn_weights"] if method == "pca_knn"
                        else list(REPORT_KNN))  # PCA's scaling is whiten
    assert not parameters(plan.space) & set(plan.constants)  # no constant hides a sample
    drawn = {tuple(config[name] for name in searched)
             for config in sampled_configs(plan, draws=100)}
    assert drawn == set(itertools.product(*(KNN_OPTIONS[name] for name in searched)))
    for config in trial_configs(method, "report004"):
        assert {k: config[k] for k in REPORT_KNN} == REPORT_KNN
    for point in module.START_POINTS:
        assert {k: point[k] for k in searched} == {k: REPORT_KNN[k] for k in searched}


def test_pca_knn_scale_is_a_constant_that_set_fixes():
    plan = resolve(build({"method": "pca_knn", "fixed": {"knn_scale": "standardize"}}))
    assert {**plan.constants, **plan.fixed}["knn_scale"] == "standardize"
    preset = trial_configs("pca_knn", "report004", fixed={"knn_scale": "standardize"})
    assert {c["knn_scale"] for c in preset} == {"standardize"}


@pytest.mark.parametrize(("name", "names"), [("knn_metric", KNN_METRICS),
                                             ("knn_weights", KNN_WEIGHTS),
                                             ("knn_scale", KNN_SCALES)])
def test_settings_name_the_allowed_options(name, names):
    with pytest.raises(ValueError, match=f"{name} must be one of {', '.join(names)}"):
        KnnSettings.from_config({"n_neighbors": 5, name: "manhattan"})
