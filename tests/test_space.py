"""Search spaces: fixed values checked against the space, presets, picklable for resume."""

import pickle

import optuna
import pytest

from core.errors import StudyError
from core.names import KNN_SCALES
from search_spaces import pca_knn, vae_knn
from search_spaces.common import MAX_NEIGHBORS
from study import registry
from study.plan import resolve
from study.space import FixedSpace, check_fixed, parse_assignment
from study.spec import build


def sample(space, n=20, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        constants = space(trial) or {}
        out.append({**trial.params, **constants})
    return out


def test_fixed_values_are_returned_not_sampled():
    space = FixedSpace(vae_knn.space, {"latent_dim": 40, "arch": "conv"}, {"max_epochs": 3})
    for config in sample(space):
        assert config["latent_dim"] == 40 and config["arch"] == "conv"
        assert config["max_epochs"] == 3
        assert 1 <= config["n_neighbors"] <= MAX_NEIGHBORS


def test_fixed_space_pickles_for_resume():
    space = pickle.loads(pickle.dumps(FixedSpace(vae_knn.space, {"beta": 1.0}, {})))
    assert all(c["beta"] == 1.0 for c in sample(space, 3))


@pytest.mark.parametrize(("text", "message"), [
    ("latent_dim=-3", "outside the space's range"),
    ("latent_dim=2.5", "expected an integer"),
    ("arch=resnet", "not one of"),
    ("lr=fast", "expected a number"),
    ("k_max=many", "expected int"),
    ("wings=2", "not a parameter"),
])
def test_bad_fixed_values_are_study_errors(text, message):
    name, value = parse_assignment(text)
    with pytest.raises(StudyError, match=message):
        check_fixed(vae_knn.space, {name: value}, vae_knn.DEFAULTS)


@pytest.mark.parametrize(("method", "text", "message"), [
    ("vae_knn", "select_epoch=worst", "select_epoch='worst': choose from best, last"),
    ("pca_knn", "knn_scale=pca", "knn_scale='pca': choose from none, standardize, whiten"),
    ("cnn", "protocol=sloppy", "protocol='sloppy': choose from"),
    ("transfer", "weights=imagenet21k", "weights='imagenet21k': choose from"),
])
def test_a_constant_outside_its_names_is_refused_when_the_study_is_planned(method, text,
                                                                           message):
    with pytest.raises(StudyError, match=message):
        resolve(build({"method": method, "fixed": dict([parse_assignment(text)])}))


def test_every_restricted_constant_declares_its_names_and_its_default_is_one():
    for method in registry.METHODS:
        module = registry.get(method).space_module()
        for name in set(module.CHOICES) & set(module.DEFAULTS):
            assert module.DEFAULTS[name] in module.CHOICES[name], (method, name)
    assert pca_knn.CHOICES["knn_scale"] == KNN_SCALES and "knn_scale" in pca_knn.DEFAULTS


def test_good_fixed_values_pass_with_default_types():
    fixed = check_fixed(vae_knn.space, {"latent_dim": 16, "weight_decay": 0, "k_max": 30},
                        vae_knn.DEFAULTS)
    assert fixed == {"latent_dim": 16, "weight_decay": 0.0, "k_max": 30}
    assert isinstance(fixed["weight_decay"], float)


def test_parse_assignment_types():
    assert parse_assignment("a=3") == ("a", 3)
    assert parse_assignment("a=1e-3") == ("a", 0.001)
    assert parse_assignment("a=true") == ("a", True)
    assert parse_assignment("a=conv") == ("a", "conv")
    with pytest.raises(StudyError):
        parse_assignment("novalue")


def test_start_points_lie_inside_the_space():
    for point in vae_knn.START_POINTS:
        check_fixed(vae_knn.space, point, vae_knn.DEFAULTS)
