"""TensorBoard of a study, read back with TensorBoard's own readers: grouped tags of the
method's metrics only, one HParams experiment over the searched space, fixed values as text,
runs named by their configuration (study.tensorboard)."""

import contextlib
import io
import json
import pickle
import re
from pathlib import Path

import pytest
from tensorboard.backend.event_processing import plugin_event_multiplexer as multiplexer
from tensorboard.backend.event_processing.event_accumulator import TENSORS
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import plugin_data_pb2

from study import tensorboard as tb
from study.plan import resolve
from study.run import main
from study.space import parameters
from study.spec import StudySpec

KNN = [f"knn/val_acc@{k}" for k in (1, 3, 5, 10)]  # the k grid up to k_max=10
TEST = ["test/acc", "test/precision", "test/recall", "test/f1", "test/auc", "test/auc_labels"]
#: What a pca_knn run holds besides KNN and TEST.
CURVES = ["accuracy/val", "loss/train", "loss/val", "knn/n_neighbors_used",
          "reducer/explained_variance", "reducer/n_components", "test/selected_epoch",
          "test/selected_val_acc", "test/selected_val_loss"]


def reader(path: Path) -> EventAccumulator:
    """TensorBoard's reader of one run (the event files directly in ``path``)."""
    acc = EventAccumulator(str(path), size_guidance={TENSORS: 0})
    acc.Reload()
    return acc


def hparams(acc: EventAccumulator, tag: str) -> plugin_data_pb2.HParamsPluginData:
    return plugin_data_pb2.HParamsPluginData.FromString(acc.PluginTagToContent("hparams")[tag])


def trial_dirs(study: Path) -> list[Path]:
    return sorted(p for p in study.iterdir() if (p / "params.json").exists())


def params(trial: Path) -> dict:
    return json.loads((trial / "params.json").read_text())


def sampled(plan, config: dict) -> set[str]:
    """The keys of a trial's config that its plan neither fixes nor holds constant."""
    return set(config) - set(plan.constants) - set(plan.fixed)


def knn_tags(trial: Path) -> set[str]:
    """The k grid up to k_max, and the trial's own k where it lies on the grid above."""
    k = params(trial)["n_neighbors"]
    return {*KNN, *([f"knn/val_acc@{k}"] if k in (15, 25, 35, 50) else [])}


@pytest.fixture(scope="module")
def study(ray_local, one_torch_thread, tmp_path_factory):
    """Two pca_knn trials of two epochs on digits, ``k_max`` fixed; the console kept."""
    storage = tmp_path_factory.mktemp("tensorboard")
    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        rc = main(["pca_knn", "--num-samples", "2", "--max-epochs", "2", "--scheduler", "fifo",
                   "--set", "k_max=10", "--storage", str(storage), "--name", "tb",
                   "--no-report"])
    assert rc == 0
    return storage / "tb", console.getvalue()


@pytest.fixture(scope="module")
def pca_plan():
    return resolve(StudySpec(method="pca_knn", fixed={"k_max": 10}))


@pytest.fixture(scope="module")
def plan():
    return resolve(StudySpec(method="vae_knn", fixed={"latent_dim": 8, "k_max": 10}))


@pytest.mark.parametrize(("key", "expected"), [
    ("val_acc", "accuracy/val"), ("train_acc", "accuracy/train"), ("train_loss", "loss/train"),
    ("val_auc", "auc/val"), ("selected_val_auc", "test/selected_val_auc"),
    ("val_loss", "loss/val"), ("g_loss", "loss/generator"), ("val_acc@25", "knn/val_acc@25"),
    ("kl_weight", "schedule/kl_weight"),
    ("test_auc", "test/auc"), ("test_medmnist_acc", "test/medmnist_acc"),
    ("something_new", "other/something_new"), ("done", None), ("training_iteration", None),
    ("time_this_iter_s", None), ("time_total_s", None), ("timestamp", None), ("pid", None),
    ("iterations_since_restore", None), ("wall_time", None), ("epoch", None)])
def test_tags_group_the_methods_metrics_and_leave_out_tunes(key, expected):
    assert tb.tag(key) == expected


def test_run_labels_are_short_and_safe_as_file_names():
    config = {"arch": "dense/x y", "lr": 1.234e-5, "decay_steps": 2.5e6, "whiten": False,
              "gan_fraction": 0.5, "gan_features": 32, "latent_dim": None}
    label = tb.run_label(config, list(config))
    # same initials: full names; None left out
    assert label == "densexy-lr1.2e-5-ds2.5e6-nowhiten-gan_fraction0.5-gan_features32"
    # initials equal to a name's own abbreviation give way: batch_size keeps its bs
    config = {"batch_size": 64, "block_size": 3}
    assert tb.run_label(config, list(config)) == "bs64-block_size3"


def test_the_searched_domains_are_the_sampled_parameters(plan):
    domains = tb.searched_domains(plan)
    # every parameter the space samples, conditional ones too; not latent_dim nor k_max
    assert set(domains) == parameters(plan.space) - set(plan.fixed)
    assert {"latent_dim", "dense_width", "beta_cycles"} & set(domains) == {
        "dense_width", "beta_cycles"}
    assert isinstance(domains["arch"], tb.hp.Discrete) and domains["arch"].dtype is str
    assert isinstance(domains["n_neighbors"], tb.hp.IntInterval)
    assert isinstance(domains["lr"], tb.hp.RealInterval)
    assert domains["batch_size"].values == [32, 64, 128, 256]


def test_a_presets_grid_searches_the_keys_that_vary():
    domains = tb.searched_domains(resolve(StudySpec(method="vae_knn", preset="report004")))
    assert list(domains) == ["arch", "latent_dim", "n_neighbors"]
    assert domains["latent_dim"].values == [40, 50, 70, 90]


def test_the_trial_namer_pickles_for_resume(plan):
    namer = pickle.loads(pickle.dumps(tb.TrialDirname(tb.run_names(plan))))
    trial = type("Trial", (), {"config": {"arch": "conv", "n_neighbors": 7, "lr": 0.01},
                               "trainable_name": "train_vae", "trial_id": "ab12cd34"})
    assert namer(trial) == "train_vae_conv-k7-lr0.01_ab12cd34"


def test_a_runs_header_has_searched_values_typed_and_fixed_ones_as_text(plan):
    config = {"arch": "conv", "n_neighbors": 7, "lr": 0.01, "batch_size": 64,
              "latent_dim": 8, "k_max": 10, "max_epochs": 2}
    summary = tb.StudyBoard.for_plan(plan).header(config, "ab12cd34")
    values = {v.tag: v for v in summary.value}
    start = plugin_data_pb2.HParamsPluginData.FromString(
        values["_hparams_/session_start_info"].metadata.plugin_data.content).session_start_info
    assert sorted(start.hparams) == ["arch", "batch_size", "lr", "n_neighbors"]
    assert start.group_name == "ab12cd34" and start.hparams["arch"].string_value == "conv"
    assert start.hparams["batch_size"].number_value == 64
    text = values["config"].tensor.string_val[0].decode()
    assert "| latent_dim | 8 (--set) |" in text and "| max_epochs | 2 |" in text
    assert "| lr |" not in text


def test_the_experiment_is_written_once(plan, tmp_path):
    """A resumed study (its experiment already stored) writes no second one."""
    board = pickle.loads(pickle.dumps(tb.StudyBoard.for_plan(plan)))
    board.study_dir = str(tmp_path / "study")
    board.declare(str(tmp_path / "first"))
    assert (tmp_path / "first" / tb.STUDY_EVENTS).exists()
    (tmp_path / "study").mkdir()
    (tmp_path / "first" / tb.STUDY_EVENTS).rename(tmp_path / "study" / tb.STUDY_EVENTS)
    resumed = pickle.loads(pickle.dumps(tb.StudyBoard.for_plan(plan)))
    resumed.study_dir = str(tmp_path / "study")
    resumed.declare(str(tmp_path / "second"))
    assert not (tmp_path / "second").exists()


def test_runs_hold_the_methods_curves_only(study):
    path, _ = study
    for trial in trial_dirs(path):
        acc = reader(trial)
        scalars = set(acc.PluginTagToContent("scalars"))
        assert scalars == {*CURVES, *knn_tags(trial), *TEST}  # no ray/tune/*, no time_*
        rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        curve = acc.Tensors("accuracy/val")
        assert [e.step for e in curve] == [1, 2]  # the epoch is the step
        assert [e.tensor_proto.float_val[0] for e in curve] == pytest.approx(
            [r["val_acc"] for r in rows])
        assert (trial / "progress.csv").exists()  # Tune's result files stay


def test_the_study_declares_one_experiment_of_its_searched_space(study, pca_plan):
    path, _ = study
    assert [p.name for p in path.iterdir() if "tfevents" in p.name] == [tb.STUDY_EVENTS]
    experiment = hparams(reader(path), "_hparams_/experiment").experiment
    infos = {h.name: h for h in experiment.hparam_infos}
    for trial in trial_dirs(path):
        assert set(infos) == sampled(pca_plan, params(trial))  # not k_max (fixed)
    assert list(infos["whiten"].domain_discrete) == [False, True]
    assert infos["n_neighbors"].domain_interval.max_value == 100
    metrics = [m.name.tag for m in experiment.metric_infos]
    assert metrics == ["accuracy/val", *KNN, *TEST]
    assert [m.display_name for m in experiment.metric_infos][:2] == ["val_acc", "val_acc@1"]
    for trial in trial_dirs(path):  # every declared metric is a scalar of every finished run
        assert set(metrics) <= set(reader(trial).PluginTagToContent("scalars"))


def test_one_chart_draws_every_k(study):
    path, _ = study
    proto = reader(path).Tensors("custom_scalars__config__")[0].tensor_proto
    charts = {c.title: c.multiline.tag[0] for c in
              layout_pb2.Layout.FromString(proto.string_val[0]).category[0].chart}
    regex = charts["k-NN val_acc@k, every k"]
    for trial in trial_dirs(path):
        tags = reader(trial).PluginTagToContent("scalars")
        assert {t for t in tags if re.match(regex, t)} == knn_tags(trial)


def test_each_run_has_its_searched_values_and_its_fixed_ones_as_text(study, pca_plan):
    path, _ = study
    for trial in trial_dirs(path):
        config, acc = params(trial), reader(trial)
        start = hparams(acc, "_hparams_/session_start_info").session_start_info
        assert set(start.hparams) == sampled(pca_plan, config)
        assert start.hparams["n_neighbors"].number_value == config["n_neighbors"]
        assert start.hparams["whiten"].bool_value == config["whiten"]
        text = acc.Tensors("config")[0].tensor_proto.string_val[0].decode()
        assert "| k_max | 10 (--set) |" in text and "| max_epochs | 2 |" in text
        assert "| n_neighbors |" not in text


def test_run_names_carry_the_configuration(study, pca_plan):
    path, _ = study
    runs = multiplexer.EventMultiplexer()
    runs.AddRunsFromDirectory(str(path))
    names = set(runs.Runs())
    for trial in trial_dirs(path):
        config, trial_id = params(trial), trial.name.rsplit("_", 1)[-1]
        assert trial.name in names
        assert trial.name.startswith(f"train_pca_d{config['n_components']}-"
                                     f"k{config['n_neighbors']}-")
        label = tb.run_label(config, list(tb.searched_domains(pca_plan)))
        assert trial.name == f"train_pca_{label}_{trial_id}"


def test_tune_prints_no_tensorboard_line_of_its_own(study):
    path, console = study
    assert "To visualize your results with TensorBoard" not in console
    assert f"tensorboard --logdir {path}" in console  # study.run's own
