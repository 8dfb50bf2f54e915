"""Presets: the reports' own setups, run as a grid once per seed, with their epochs and sizes."""

import json
from pathlib import Path

import optuna
import pytest

from core.errors import StudyError
from core.layout import REPEAT_KEY
from search_spaces.common import Preset
from study import registry
from study.plan import resolve
from study.presets import STUDY_OPTIONS
from study.run import main
from study.space import check_fixed
from study.spec import build

PRESETS = [(m, name) for m in registry.METHODS
           for name in registry.get(m).space_module().PRESETS]


def space_names(module) -> set[str]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    names: set[str] = set()
    for _ in range(60):
        trial = study.ask()
        module.space(trial)
        names |= set(trial.params)
    return names


def trial_configs(method: str, preset: str, **options) -> list[dict]:
    """The configs the preset's trials receive (one seed)."""
    plan = resolve(build({"method": method, "preset": preset, **options}))
    return [{**plan.constants, **plan.fixed, **point} for point in plan.grid]


@pytest.mark.parametrize(("method", "name"), PRESETS)
def test_every_preset_is_declared_in_known_terms(method, name):
    module = registry.get(method).space_module()
    preset: Preset = module.PRESETS[name]
    assert preset.source.startswith("report 00"), "cite the report's figures"
    assert set(preset.study) <= set(STUDY_OPTIONS)
    assert set(preset.settings) <= set(module.DEFAULTS)
    known = space_names(module) | set(module.DEFAULTS)
    points = preset.points()
    for point in points:
        assert set(point) <= known, set(point) - known
    assert len({json.dumps(p, sort_keys=True) for p in points}) == len(points)
    spec = build({"method": method, "preset": name})
    assert (spec.searcher, spec.scheduler, spec.num_samples) == ("grid", "fifo", len(points))


@pytest.mark.parametrize("method", list(registry.METHODS))
def test_start_points_lie_in_the_searched_space(method):
    module = registry.get(method).space_module()
    for point in module.START_POINTS:
        check_fixed(module.space, point, module.DEFAULTS)


# What each trial receives: the report's epochs, sizes, grid and schedule (README table).
EXPECTED = {
    ("ae_classifier", "report000"): dict(max_epochs=30, points=1, arch="conv", ae_epochs=10,
                                         head_epochs=10, finetune_epochs=10),
    ("ae_classifier", "report001"): dict(max_epochs=20, points=1, arch="mlp", latent_dim=30,
                                         ae_epochs=10, head_epochs=10, finetune_epochs=0,
                                         batch_size=100, weight_decay=1e-5),
    ("cnn", "report002_cifar"): dict(max_epochs=30, points=2, batch_size=4, optimizer="sgd",
                                     momentum=0.9, augment="flip_crop"),
    ("cnn", "report002_mnist"): dict(max_epochs=15, points=1, batch_size=64, dropout=0.5),
    ("cnn", "report003"): dict(max_epochs=15, points=8, image_size=64, grayscale=True,
                               val_fraction=0.1, batch_size=64, optimizer="adam"),
    ("cnn", "report003_leaky"): dict(max_epochs=15, points=8, image_size=64, grayscale=True,
                                     val_fraction=0.1, protocol="leaky"),
    ("transfer", "report002"): dict(max_epochs=10, points=1, batch_size=200, a_epochs=10,
                                    n_frozen=5),
    ("transfer", "report003"): dict(max_epochs=50, points=4, image_size=224, batch_size=128,
                                    head_units=4096, decay=0.002, frozen_fraction=0.4),
    ("medmnist_resnet", "report004"): dict(max_epochs=50, points=1, batch_size=8, lr=1e-4,
                                           augment="medmnist"),
    ("medmnist_resnet", "report004_imbalance"): dict(max_epochs=50, points=3, batch_size=8,
                                                     lr=1e-4, augment="medmnist",
                                                     stem="imagenet", optimizer="adam"),
    ("gan_balance", "report004"): dict(max_epochs=50, points=1, batch_size=8, lr=1e-4,
                                       gan_lr=2e-4, gan_batch_size=128, z_dim=100),
    ("pca_knn", "report004"): dict(max_epochs=15, points=44, whiten=False),
    ("isomap_knn", "report004"): dict(max_epochs=15, points=33, isomap_subsample=5000,
                                      isomap_neighbors=5),
    ("ae_knn", "report004"): dict(max_epochs=20, points=24, batch_size=128, lr=1e-3),
    ("vae_knn", "report004"): dict(max_epochs=20, points=24, batch_size=128, beta=1.0,
                                   dropout=0.0, batchnorm=True),
}
SPEC_KEYS = ("max_epochs", "image_size", "grayscale", "val_fraction")


def test_every_preset_has_its_expectations():
    assert set(EXPECTED) == set(PRESETS)


@pytest.mark.parametrize(("method", "name"), list(EXPECTED))
def test_trials_receive_the_reports_setup(method, name):
    expected = dict(EXPECTED[method, name])
    spec = build({"method": method, "preset": name})
    configs = trial_configs(method, name)
    assert len(configs) == expected.pop("points")
    for key in SPEC_KEYS:
        if key in expected:
            assert getattr(spec, key) == expected.pop(key), key
    for config in configs:
        assert config["max_epochs"] == spec.max_epochs
        for key, value in expected.items():
            assert config[key] == value, (key, config[key])


def test_report004_grids_are_the_reports_tables():
    pca = trial_configs("pca_knn", "report004")
    assert sorted({c["n_components"] for c in pca}) == [19, 45, 75, 91]
    assert {31, 97} <= {c["n_neighbors"] for c in pca}
    isomap = trial_configs("isomap_knn", "report004")
    assert sorted({c["n_components"] for c in isomap}) == [9, 23, 27]
    assert {(23, 51), (23, 85), (27, 45)} <= {(c["n_components"], c["n_neighbors"])
                                              for c in isomap}
    ae = {(c["arch"], c["latent_dim"], c["dropout"], c["batchnorm"])
          for c in trial_configs("ae_knn", "report004")}
    assert ae == {("dense", 40, 0.2, False), ("dense", 80, 0.2, False),
                  ("conv", 30, 0.0, True), ("conv", 90, 0.0, True)}
    vae = {(c["arch"], c["latent_dim"]) for c in trial_configs("vae_knn", "report004")}
    assert vae == {("dense", 40), ("dense", 70), ("conv", 50), ("conv", 90)}


def test_report003_grid_is_the_reports_experiments():
    configs = trial_configs("cnn", "report003")
    runs = {(c["arch"], c["split_ratio"], c["dropout"], c["init"]) for c in configs}
    assert runs == {("ad_proposed", 0.1, 0.0, "glorot_uniform"),
                    ("ad_proposed", 0.3, 0.0, "glorot_uniform"),
                    ("ad_proposed", 0.5, 0.0, "glorot_uniform"),
                    ("ad_proposed", 0.1, 0.5, "glorot_uniform"),
                    ("ad_test1", 0.1, 0.0, "glorot_uniform"),
                    ("ad_test2", 0.1, 0.0, "glorot_uniform"),
                    ("ad_proposed", 0.1, 0.0, "zeros"), ("ad_proposed", 0.1, 0.0, "ones")}


def test_explicit_options_and_set_values_win_over_the_preset():
    fixed = {"batch_size": 16, "split_ratio": 0.3}
    spec = build({"method": "cnn", "preset": "report003", "max_epochs": 3, "image_size": 32,
                  "fixed": fixed})
    assert (spec.max_epochs, spec.image_size, spec.val_fraction) == (3, 32, 0.1)
    configs = trial_configs("cnn", "report003", fixed=fixed)
    # split 0.3 for every experiment: the three splits of the proposed net become one
    assert spec.num_samples == len(configs) == 6
    assert {(c["batch_size"], c["split_ratio"]) for c in configs} == {(16, 0.3)}
    configs = trial_configs("isomap_knn", "report004", fixed={"isomap_subsample": 300})
    assert {c["isomap_subsample"] for c in configs} == {300}
    # a value outside the searched space is the report's own when the grid has it
    assert len(trial_configs("transfer", "report002", fixed={"batch_size": 200})) == 1


@pytest.mark.parametrize(("options", "message"), [
    ({"num_samples": 5}, "--num-samples: --preset runs each point"),
    ({"searcher": "optuna"}, "--searcher: --preset runs each point"),
    ({"fixed": {"n_components": 1000}}, "--set n_components=1000: outside the space's range"),
    ({"fixed": {"whiten": "no"}}, "--set whiten='no': not one of"),
    ({"preset": "report003"}, "--preset 'report003': pca_knn has report004"),
])
def test_preset_refusals_are_one_line(options, message):
    with pytest.raises(StudyError, match=message):
        resolve(build({"method": "pca_knn", "preset": "report004", **options}))


def test_grid_searcher_needs_a_preset():
    with pytest.raises(StudyError, match="--searcher grid enumerates a preset's grid"):
        build({"method": "pca_knn", "searcher": "grid"})


@pytest.mark.slow
def test_a_preset_runs_its_grid_once_per_seed(ray_local, tmp_path):
    """Every grid point, each seed once, FIFO to the last epoch; the spec records the grid."""
    assert main(["pca_knn", "--preset", "report004", "--set", "n_neighbors=5",
                 "--repeats", "2", "--max-epochs", "2", "--storage", str(tmp_path),
                 "--name", "grid", "--no-report"]) == 0
    study = tmp_path / "grid"
    spec = json.loads((study / "study.json").read_text())
    assert (spec["searcher"], spec["scheduler"], spec["num_samples"]) == ("grid", "fifo", 4)
    runs = []
    for trial in sorted(Path(study).glob("train_pca_*")):
        config = json.loads((trial / "params.json").read_text())
        last = json.loads((trial / "result.json").read_text().splitlines()[-1])
        assert last["epoch"] == 2 and "test_acc" in last  # no early stopping
        runs.append((config["n_components"], config["n_neighbors"], config[REPEAT_KEY]))
    assert sorted(runs) == [(n, 5, r) for n in (19, 45, 75, 91) for r in (0, 1)]
