"""Typed settings: casting, defaults written once, errors naming the parameter, and every
config a method's space produces unpacks into its settings."""

import doctest
from dataclasses import dataclass, field
from typing import Annotated

import optuna
import pytest

import core.settings
import search_spaces.common
from core.settings import OneOf, Settings
from search_spaces import (
    ae_classifier,
    ae_knn,
    cnn,
    gan_balance,
    isomap_knn,
    medmnist_resnet,
    pca_knn,
    transfer,
    vae_knn,
)
from search_spaces.common import ClassifierSettings


@dataclass(frozen=True, kw_only=True)
class Example(Settings):
    count: int
    rate: float
    flag: bool = False
    name: Annotated[str, OneOf(("a", "b"))] = "a"
    extra: float | None = None
    index: int = field(default=0, metadata={"key": "__index__"})


def test_doctests():
    for module in (core.settings, search_spaces.common):
        assert doctest.testmod(module).failed == 0


def test_values_are_cast_to_their_types():
    got = Example.from_config({"count": 3.0, "rate": 1, "flag": 1, "name": "b", "extra": 2,
                               "__index__": 4, "unrelated": object()})
    assert got == Example(count=3, rate=1.0, flag=True, name="b", extra=2.0, index=4)
    assert type(got.count) is int and type(got.rate) is float and type(got.extra) is float


def test_absent_keys_take_the_declared_defaults():
    assert Example.from_config({"count": 1, "rate": 0.5}) == Example(count=1, rate=0.5)
    assert Example.defaults() == {"flag": False, "name": "a", "__index__": 0}  # None: no const


@pytest.mark.parametrize(("config", "message"), [
    ({"rate": 0.5}, "Example: count is missing from the config"),
    ({"count": 2.5, "rate": 0.5}, "Example: count must be an integer, got 2.5"),
    ({"count": True, "rate": 0.5}, "Example: count must be an integer, got True"),
    ({"count": 1, "rate": "fast"}, "Example: rate must be a number, got 'fast'"),
    ({"count": 1, "rate": 0.5, "flag": "yes"}, "Example: flag must be true or false, got 'yes'"),
    ({"count": 1, "rate": 0.5, "name": "c"}, "Example: name must be one of a, b, got 'c'"),
    ({"count": 1, "rate": 0.5, "__index__": "x"}, "Example: __index__ must be an integer"),
])
def test_a_bad_value_names_the_parameter_and_what_it_takes(config, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        Example.from_config(config)


def test_conditional_parameters_are_required_where_the_space_samples_them():
    base = {"init": "default", "lr": 0.1, "batch_size": 8, "augment": "none"}
    assert ClassifierSettings.from_config({**base, "optimizer": "adam"}).momentum is None
    with pytest.raises(ValueError, match="momentum is needed with optimizer=sgd"):
        ClassifierSettings.from_config({**base, "optimizer": "sgd"})
    with pytest.raises(ValueError, match="latent_dim is needed with arch=mlp"):
        ae_classifier.AeClassifierSettings.from_config(
            {**ae_classifier.REPORT001, "latent_dim": None, "max_epochs": 2})


#: Space module -> the settings its trial unpacks (transfer: by mode).
SETTINGS = {
    pca_knn: lambda c: [pca_knn.PcaKnnSettings],
    isomap_knn: lambda c: [isomap_knn.IsomapKnnSettings],
    ae_knn: lambda c: [ae_knn.AutoencoderKnnSettings],
    vae_knn: lambda c: [vae_knn.VaeKnnSettings],
    ae_classifier: lambda c: [ae_classifier.AeClassifierSettings],
    cnn: lambda c: [cnn.CnnSettings],
    medmnist_resnet: lambda c: [medmnist_resnet.MedmnistResnetSettings],
    gan_balance: lambda c: [gan_balance.GanBalanceSettings],
    transfer: lambda c: [transfer.TransferMode, transfer.SplitClassesSettings
                         if c["mode"] == "split_classes" else transfer.PretrainedSettings],
}


@pytest.mark.parametrize("module", list(SETTINGS), ids=lambda m: m.__name__.split(".")[-1])
def test_every_config_of_the_space_unpacks_into_its_settings(module):
    """The study's config (loop constants, DEFAULTS, sampled values) always holds what the
    settings need; the presets' configs too."""
    constants = {"max_epochs": 4, "seed": 0, "val_fraction": 0.2, "precision": "fp32",
                 "compile": False, **module.DEFAULTS}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = []
    for _ in range(30):
        trial = study.ask()
        module.space(trial)
        configs.append({**constants, **trial.params})
    for preset in module.PRESETS.values():
        configs += [{**constants, **preset.settings, **point} for point in preset.points()]
    for config in configs:
        for kind in SETTINGS[module](config):
            kind.from_config(config)
