"""--precision (bf16 autocast) and --compile: resolved per device, wired into every forward
pass the tasks run, results still float32, checkpoints unchanged."""

import pytest
import torch
from torch import nn

from study import data as datasets
from study.plan import resolve
from study.run import main
from study.spec import build
from trainables.cnn import make_task as make_cnn_task
from trainables.knn import VaeKnnTask
from trainables.loop import Acceleration, DeviceSplits

VAE = {"arch": "dense", "latent_dim": 8, "n_neighbors": 5, "lr": 1e-3, "dropout": 0.0,
       "init": "default", "beta": 1.0, "batch_size": 64, "k_max": 10}
CNN = {"arch": "mnist_cnn", "dropout": 0.2, "init": "default", "optimizer": "adam",
       "lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0, "batch_size": 64, "augment": "none"}


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", None, split_ratio=0.2, val_fraction=0.2, seed=0,
                         download=False, image_size=None, grayscale=False)


def on_cpu(splits, accel: Acceleration) -> DeviceSplits:
    return DeviceSplits.from_splits(splits, torch.device("cpu"), accel)


@pytest.mark.parametrize(("precision", "device", "dtype"), [
    ("auto", "cpu", None), ("fp32", "cpu", None), ("bf16", "cpu", torch.bfloat16),
    ("fp32", "cuda", None)])
def test_precision_resolves_per_device(precision, device, dtype):
    accel = Acceleration.from_config({"precision": precision}, torch.device(device))
    assert accel.amp_dtype == dtype and not accel.compile


@pytest.mark.parametrize(("native", "dtype"), [(True, torch.bfloat16), (False, None)])
def test_auto_precision_is_bf16_only_where_the_gpu_computes_it_natively(monkeypatch, native,
                                                                         dtype):
    asked = []

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        asked.append(including_emulation)
        return native or including_emulation  # a V100 or T4 "supports" bf16 by emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    accel = Acceleration.from_config({"precision": "auto", "compile": True}, torch.device("cuda"))
    assert accel == Acceleration(dtype, True) and asked == [False]


def test_a_config_from_before_the_flag_stays_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert Acceleration.from_config({}, torch.device("cuda")).amp_dtype is None


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="fp16"):
        Acceleration.from_config({"precision": "fp16"}, torch.device("cpu"))


def output_dtypes(model: nn.Module, kind: type[nn.Module]) -> list[torch.dtype]:
    """Records the output dtype of every ``kind`` layer call."""
    seen: list[torch.dtype] = []
    for layer in model.modules():
        if isinstance(layer, kind):
            layer.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


def test_bf16_runs_classifier_training_and_evaluation_under_autocast(digits, one_torch_thread):
    task = make_cnn_task(CNN, on_cpu(digits, Acceleration(torch.bfloat16)),
                         torch.Generator().manual_seed(0))
    seen = output_dtypes(task.model, nn.Conv2d)
    metrics = {**task.train_epoch(1), **task.validate()}
    assert seen and set(seen) == {torch.bfloat16}
    assert task.logits("test").dtype == torch.float32
    assert 0.3 < metrics["val_acc"] <= 1.0 and metrics["train_loss"] > 0


def test_bf16_vae_codes_and_losses_are_float32_and_close_to_fp32(digits, one_torch_thread):
    results = {}
    for name, accel in (("fp32", Acceleration()), ("bf16", Acceleration(torch.bfloat16))):
        torch.manual_seed(0)
        task = VaeKnnTask(VAE, on_cpu(digits, accel), torch.Generator().manual_seed(0))
        seen = output_dtypes(task.model, nn.Linear)
        for epoch in (1, 2):
            task.train_epoch(epoch)
        results[name] = task.validate()
        assert task.codes("val").dtype == torch.float32
        assert set(seen) == {accel.amp_dtype or torch.float32}
    assert abs(results["bf16"]["val_loss"] / results["fp32"]["val_loss"] - 1) < 0.05
    assert abs(results["bf16"]["val_acc"] - results["fp32"]["val_acc"]) < 0.1


def test_compile_compiles_the_forward_and_keeps_checkpoint_keys(digits, one_torch_thread):
    from torch._dynamo.utils import counters

    counters.clear()
    plain = VaeKnnTask(VAE, on_cpu(digits, Acceleration()), torch.Generator().manual_seed(0))
    task = VaeKnnTask(VAE, on_cpu(digits, Acceleration(compile=True)),
                      torch.Generator().manual_seed(0))
    task.train_epoch(1)
    metrics = task.validate()
    assert counters["stats"]["unique_graphs"] >= 2  # the train- and the eval-mode forward
    assert list(task.state_dict()["model"]) == list(plain.state_dict()["model"])
    plain.load_state_dict(task.state_dict())  # a compiled trial's checkpoint loads anywhere
    assert 0.3 < metrics["val_acc"] <= 1.0


def test_each_trial_compiles_afresh_in_a_reused_process(digits, one_torch_thread,
                                                         monkeypatch):
    """Ray reuses a trial's process for the next trial: without a reset, the earlier trials'
    graphs count against dynamo's recompile limit and later trials silently run eager."""
    from torch._dynamo.utils import counters

    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 2)  # one trial's worth
    accel = Acceleration(compile=True)
    graphs = []
    for seed in (0, 1):
        accel.begin_trial()
        counters.clear()
        task = VaeKnnTask(VAE, on_cpu(digits, accel), torch.Generator().manual_seed(seed))
        task.train_epoch(1)
        task.validate()
        graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[1] == graphs[0] >= 2


def test_flags_reach_the_trial_config_and_study_json(tmp_path):
    spec = build({"method": "cnn", "precision": "bf16", "compile": True,
                  "storage": str(tmp_path)})
    constants = resolve(spec).constants
    assert constants["precision"] == "bf16" and constants["compile"] is True
    assert '"precision": "bf16"' in spec.to_json()


def test_bad_precision_is_one_line_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["cnn", "--precision", "fp16", "--storage", str(tmp_path)])
    assert exit_.value.code == 2 and not any(tmp_path.iterdir())
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fp16" in err[0]
