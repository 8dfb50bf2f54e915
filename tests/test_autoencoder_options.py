"""The autoencoders' search choices: a dense autoencoder's width and depth reach the model,
the VAE's KL-weight schedule reaches its loss, the spaces sample both where they apply, and
the presets and first trials keep report 004's autoencoders."""

import doctest

import pytest
import torch
from torch import nn

from core.names import BETA_SCHEDULES
from search_spaces.ae_knn import DENSE_WIDTHS, REPORT_DENSE, AutoencoderKnnSettings
from search_spaces.vae_knn import VaeKnnSettings
from study import registry
from study.plan import resolve
from study.spec import build
from tests.conftest import sampled_configs
from tests.test_presets import trial_configs
from trainables import knn
from trainables.loop import DeviceSplits

AE = {"arch": "dense", "latent_dim": 3, "lr": 1e-3, "dropout": 0.0, "init": "default",
      "batch_size": 64, "n_neighbors": 5, "seed": 0, "k_max": 10}
VAE = {**AE, "beta": 1.0, "max_epochs": 8}


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread."""


def task(task_cls, config, digits):
    """A task on ``digits``, its weights, noise and batches seeded alike."""
    torch.manual_seed(0)
    dev = DeviceSplits.from_splits(digits, torch.device("cpu"))
    return task_cls(config, dev, torch.Generator().manual_seed(0))


def widths(model: nn.Module) -> list[int]:
    """Output widths of the model's linear layers, in order."""
    return [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize(("width", "depth", "expected"), [
    (512, 2, [512, 256, 3, 256, 512, 64]),  # the default: report 004's as assumed here
    (2048, 3, [2048, 1024, 512, 3, 512, 1024, 2048, 64]),
    (256, 1, [256, 3, 256, 64]),
])
@pytest.mark.parametrize("task_cls", [knn.AutoencoderKnnTask, knn.VaeKnnTask])
def test_dense_width_and_depth_reach_the_model(task_cls, width, depth, expected, digits):
    t = task(task_cls, {**VAE, "dense_width": width, "dense_depth": depth}, digits)
    if task_cls.variational:  # the encoder's head gives mean and log-variance
        expected = [*expected[:depth], 6, *expected[depth + 1:]]
    assert widths(t.model) == expected
    assert t.model_args["kwargs"]["hidden"] == tuple(expected[:depth])


def vae_settings(**config):
    return VaeKnnSettings.from_config({**VAE, **config})


@pytest.mark.parametrize(("config", "betas"), [
    ({}, [1.0] * 8),
    ({"beta": 0.5}, [0.5] * 8),
    ({"beta_schedule": "warmup", "beta_warmup_epochs": 4},
     [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0]),
    ({"beta_schedule": "cyclical", "beta_cycles": 2}, [0.0, 0.5, 1.0, 1.0] * 2),
    ({"beta_schedule": "cyclical", "beta_cycles": 4, "beta": 2.0}, [0.0, 2.0] * 4),
    ({"beta_schedule": "cyclical", "beta_cycles": 5}, [0.0, 1.0] * 4),  # 2 epochs a cycle
    ({"beta_schedule": "cyclical", "beta_cycles": 4, "max_epochs": 10},
     [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.5, 1.0, 1.0]),  # the last cycle takes the rest
    ({"beta_schedule": "cyclical", "beta_cycles": 3, "max_epochs": 1}, [1.0]),
])
def test_kl_weight_follows_the_schedule(config, betas):
    s = vae_settings(**config)
    weights = [knn.kl_weight(s, epoch) for epoch in range(1, s.max_epochs + 1)]
    assert weights == pytest.approx(betas)


def test_kl_weight_doctest():
    (test,) = doctest.DocTestFinder().find(knn.kl_weight, globs=vars(knn))
    assert test.examples and doctest.DocTestRunner().run(test).failed == 0


def test_cyclical_needs_the_epochs_and_counts_are_positive():
    with pytest.raises(ValueError, match="max_epochs is needed with beta_schedule=cyclical"):
        vae_settings(beta_schedule="cyclical", max_epochs=None)
    with pytest.raises(ValueError, match="beta_warmup_epochs must be at least 1"):
        vae_settings(beta_schedule="warmup", beta_warmup_epochs=0)
    with pytest.raises(ValueError, match="beta_schedule must be one of"):
        vae_settings(beta_schedule="linear")


def test_the_schedule_reaches_the_loss(digits):
    """A cyclical schedule's first epoch trains a plain autoencoder loss (β = 0): the same
    weights as β = 0 throughout, and other weights than the constant β = 1."""
    tasks, results = [], []
    for config in ({**VAE, "beta_schedule": "cyclical", "beta_cycles": 2},
                   {**VAE, "beta": 0.0}, VAE):
        tasks.append(task(knn.VaeKnnTask, config, digits))
        results.append(tasks[-1].train_epoch(1))
    cyclical, zero, constant = tasks
    assert [r["kl_weight"] for r in results] == [0.0, 0.0, 1.0]
    assert results[0]["train_loss"] == results[1]["train_loss"] != results[2]["train_loss"]
    weights = [torch.cat([p.flatten() for p in t.model.parameters()])
               for t in (cyclical, zero, constant)]
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])
    val = cyclical.validate()
    assert val["val_loss"] == pytest.approx(val["recon_loss"])  # β = 0 in its epoch
    assert cyclical.train_epoch(2)["kl_weight"] == 0.5
    val = cyclical.validate()
    assert val["val_loss"] == pytest.approx(val["recon_loss"] + 0.5 * val["kl"])


def test_only_epochs_at_the_full_beta_may_be_the_reported_model(digits):
    t = task(knn.VaeKnnTask, {**VAE, "beta_schedule": "warmup", "beta_warmup_epochs": 3},
             digits)
    selectable = []
    for epoch in range(1, 5):
        t.train_epoch(epoch)
        selectable.append(t.selectable())
    assert selectable == [False, False, True, True]


@pytest.mark.parametrize("method", ["ae_knn", "vae_knn"])
def test_the_spaces_sample_widths_for_dense_autoencoders_only(method):
    configs = sampled_configs(resolve(build({"method": method})), draws=80)
    dense = [c for c in configs if c["arch"] == "dense"]
    conv = [c for c in configs if c["arch"] == "conv"]
    assert dense and conv
    assert {c["dense_width"] for c in dense} == set(DENSE_WIDTHS)
    assert {c["dense_depth"] for c in dense} == {1, 2, 3}
    assert not any("dense_width" in c or "dense_depth" in c for c in conv)


def test_the_vae_space_samples_every_schedule_and_its_own_knob_only():
    configs = sampled_configs(resolve(build({"method": "vae_knn"})), draws=80)
    assert {c["beta_schedule"] for c in configs} == set(BETA_SCHEDULES)
    for c in configs:
        assert ("beta_warmup_epochs" in c) == (c["beta_schedule"] == "warmup")
        assert ("beta_cycles" in c) == (c["beta_schedule"] == "cyclical")
        assert c["max_epochs"] == 15  # the study's epochs, which cyclical divides


@pytest.mark.parametrize("method", ["ae_knn", "vae_knn"])
def test_presets_and_first_trials_keep_report_004s_autoencoders(method):
    for config in trial_configs(method, "report004"):
        assert "dense_width" not in config and "dense_depth" not in config  # the defaults
        if method == "vae_knn":
            assert config["beta_schedule"] == "constant" and config["beta"] == 1.0
    module = registry.get(method).space_module()
    for point in module.START_POINTS:
        assert {k: point[k] for k in REPORT_DENSE} == REPORT_DENSE
    assert AutoencoderKnnSettings.from_config(AE).hidden == (512, 256)
