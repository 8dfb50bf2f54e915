"""Checkpoints keep each model's constructor arguments: one function rebuilds the model."""

import doctest
from dataclasses import asdict

import pytest
import torch

from search_spaces import ae_classifier, gan_balance, transfer, vae_knn
from study import data as datasets
from trainables import checkpoints, cnn, medmnist_resnet
from trainables.ae_classifier import AeClassifierTask
from trainables.gan_balance import GanBalanceTask
from trainables.knn import VaeKnnTask
from trainables.loop import DeviceSplits, seed_everything
from trainables.transfer import PretrainedTask, SplitClassesTask, class_halves

VAE = {**vae_knn.START_POINTS[0], **vae_knn.DEFAULTS, "latent_dim": 6, "batch_size": 256}
CNN = {"arch": "mnist_cnn", "dropout": 0.1, "init": "he_normal", "optimizer": "adam",
       "lr": 1e-3, "weight_decay": 0.0, "batch_size": 64, "augment": "none"}


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs with one torch thread."""


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


@pytest.fixture(scope="module")
def dev(digits):
    return DeviceSplits.from_splits(digits, torch.device("cpu"))


def test_doctest():
    assert doctest.testmod(checkpoints).failed == 0


def test_a_trained_vae_comes_back_from_its_checkpoint_file(dev, tmp_path):
    task = VaeKnnTask(VAE, dev, seed_everything(0))
    task.train_epoch(1)
    path = tmp_path / "state.pt"
    checkpoints.save(path, epoch=1, task=task.state_dict(), generator=task.generator,
                     info=asdict(dev.info))
    torch.load(path, weights_only=True)  # plain values only: no pickled classes
    model = checkpoints.load_model(path)
    assert type(model) is type(task.model) and not model.training
    x = dev.images("val", slice(0, 32))
    task.model.eval()
    with torch.no_grad():
        assert torch.equal(model.encode(x)[0], task.model.encode(x)[0])
        z = torch.randn(4, 6)
        assert torch.equal(model.decode(z), task.model.decode(z))


def test_a_checkpoint_without_model_args_is_refused(tmp_path):
    path = tmp_path / "state.pt"
    torch.save({"epoch": 1, "task": {"model": {}}}, path)
    with pytest.raises(ValueError, match="holds no model_args"):
        checkpoints.load_model(path)
    with pytest.raises(ValueError, match="not in trainables/"):
        checkpoints.build({"factory": "os:system", "kwargs": {"command": "true"}})


def _tasks(digits, dev):
    """(task, names of the models its state saves) for every method with a model."""
    first, second = class_halves(digits)
    yield cnn.make_task(CNN, dev, seed_everything(0)), ["model"]
    yield medmnist_resnet.make_task({**CNN, "arch": "resnet18"}, dev, seed_everything(0)), \
        ["model"]
    yield VaeKnnTask(VAE, dev, seed_everything(0)), ["model"]
    yield AeClassifierTask({**ae_classifier.DEFAULTS, **ae_classifier.REPORT001, "max_epochs": 3,
                            "latent_dim": 5}, dev, seed_everything(0)), ["net"]
    yield SplitClassesTask({**transfer.REPORT002, "n_frozen": 4}, DeviceSplits.from_splits(
        second, dev.device), seed_everything(0), first=first), ["model"]
    yield PretrainedTask({**transfer.DEFAULTS, **transfer.REPORT003_VGG, "weights": "none",
                          "backbone": "resnet18", "head_units": 16, "max_epochs": 2},
                         dev, seed_everything(0)), ["model"]
    gan = GanBalanceTask({**gan_balance.DEFAULTS, **gan_balance.REPORT004, "gan_features": 16,
                          "z_dim": 8, "max_epochs": 2}, dev, seed_everything(0))
    yield gan, ["gen", "disc"]
    yield gan.clf, ["model"]


def test_every_saved_model_is_rebuilt_from_its_arguments(digits, dev):
    for task, names in _tasks(digits, dev):
        state = task.state_dict()
        for name in names:
            model = checkpoints.build(state[f"{name}_args"])
            model.load_state_dict(state[name])  # strict: the same layers and shapes
            assert type(model) is type(getattr(task, name))
