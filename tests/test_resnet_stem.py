"""ResNet-18's stem: torchvision's (report 004's, the default) or MedMNIST v2's for 28×28
images, searched by medmnist_resnet and by gan_balance for its ResNet."""

import pytest
import torch
from torch import nn

from core.names import RESNET_STEMS
from search_spaces import gan_balance as gan_balance_space
from search_spaces import medmnist_resnet as space_module
from study.plan import resolve
from study.spec import build
from tests.conftest import sampled_configs
from tests.test_presets import trial_configs
from trainables import medmnist_resnet
from trainables.checkpoints import build as build_model
from trainables.convnets import classifier, resnet18
from trainables.gan_balance import GanBalanceTask
from trainables.loop import DeviceSplits


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread."""


def stem_output(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The feature map the stem (conv, batch norm, ReLU, max-pool) hands to ``layer1``."""
    return net.maxpool(net.relu(net.bn1(net.conv1(x))))


def test_small_stem_keeps_28x28_and_imagenet_stem_shrinks_it_to_7x7():
    x = torch.rand(2, 1, 28, 28)
    small, imagenet = resnet18((1, 28, 28), 2, stem="small"), resnet18((1, 28, 28), 2)
    assert (small.conv1.kernel_size, small.conv1.stride) == ((3, 3), (1, 1))
    assert isinstance(small.maxpool, nn.Identity)
    assert stem_output(small, x).shape == (2, 64, 28, 28)
    assert (imagenet.conv1.kernel_size, imagenet.conv1.stride) == ((7, 7), (2, 2))
    assert stem_output(imagenet, x).shape == (2, 64, 7, 7)
    for net in (small, imagenet):
        assert net.conv1.in_channels == 1 and net(x).shape == (2, 2)


def test_small_stem_takes_any_channels_and_sizes():
    for shape in [(3, 32, 32), (1, 8, 8)]:
        net = resnet18(shape, 3, stem="small")
        assert net.conv1.in_channels == shape[0]
        assert net(torch.rand(2, *shape)).shape == (2, 3)


def test_an_unknown_stem_names_the_choices():
    with pytest.raises(ValueError, match="imagenet"):
        resnet18((1, 28, 28), 2, stem="tiny")


TRAINING = {"lr": 1e-3, "batch_size": 64, "augment": "none", "init": "default", "seed": 0,
            **space_module.DEFAULTS}


def test_the_trial_builds_its_stem_and_its_checkpoint_rebuilds_it(digits):
    dev = DeviceSplits.from_splits(digits, torch.device("cpu"))
    for config, kernel in [({}, (7, 7)), ({"stem": "imagenet"}, (7, 7)),
                           ({"stem": "small"}, (3, 3))]:
        task = medmnist_resnet.make_task({**TRAINING, **config}, dev, torch.Generator())
        assert task.model.conv1.kernel_size == kernel, config
        assert build_model(task.model_args).conv1.kernel_size == kernel, config


def test_the_shared_classifier_builds_the_stem_it_is_given():
    net = classifier("resnet18", (1, 28, 28), 2)
    assert net.conv1.kernel_size == (7, 7) and not isinstance(net.maxpool, nn.Identity)
    net = classifier("resnet18", (1, 28, 28), 2, stem="small")
    assert net.conv1.kernel_size == (3, 3) and isinstance(net.maxpool, nn.Identity)


def test_gan_balance_retrains_its_resnet_with_the_stem(digits):
    dev = DeviceSplits.from_splits(digits, torch.device("cpu"))
    config = {**gan_balance_space.REPORT004, **gan_balance_space.DEFAULTS, "max_epochs": 2,
              "gan_features": 8, "seed": 0}
    for stem, kernel in [("imagenet", (7, 7)), ("small", (3, 3))]:
        task = GanBalanceTask({**config, "stem": stem}, dev, torch.Generator())
        assert task.clf.model.conv1.kernel_size == kernel
        assert build_model(task.clf.model_args).conv1.kernel_size == kernel


def test_the_search_samples_the_stem_and_the_preset_keeps_the_reports():
    plan = resolve(build({"method": "medmnist_resnet"}))
    assert "stem" not in plan.constants  # no constant hides the sampled value
    drawn = {config["stem"] for config in sampled_configs(plan, draws=20)}
    assert drawn == set(RESNET_STEMS)
    assert [c["stem"] for c in trial_configs("medmnist_resnet", "report004")] == ["imagenet"]
    assert [p["stem"] for p in space_module.START_POINTS] == ["imagenet"]
    gan_plan = resolve(build({"method": "gan_balance"}))
    assert "stem" not in gan_plan.constants
    configs = sampled_configs(gan_plan, draws=40)
    assert {c["stem"] for c in configs if c["arch"] == "resnet18"} == set(RESNET_STEMS)
    assert not any("stem" in c for c in configs if c["arch"] != "resnet18")
    assert [c["stem"] for c in trial_configs("gan_balance", "report004")] == ["imagenet"]
    assert [p["stem"] for p in gan_balance_space.START_POINTS] == ["imagenet"]
