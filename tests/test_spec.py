"""StudySpec: defaults < YAML config < command line, and the spec's own checks."""

import json

import pytest

from core.errors import StudyError
from study.registry import METHODS
from study.reproduce import parser as reproduce_parser
from study.run import parser as run_parser
from study.run import spec_from_argv
from study.spec import StudySpec, build, load_saved


def test_yaml_then_command_line_override(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text("method: vae_knn\nnum-samples: 40\nmax_epochs: 7\n"
                      "set:\n  arch: dense\n  k_max: 35\n")
    spec = spec_from_argv(["--config", str(config), "--num-samples", "5", "--set", "k_max=20"])
    assert (spec.method, spec.num_samples, spec.max_epochs) == ("vae_knn", 5, 7)
    assert spec.fixed == {"arch": "dense", "k_max": 20}


def test_defaults_and_generated_name():
    spec = build({"method": "vae_knn"})
    assert spec.dataset == "digits" and spec.scheduler == "asha" and spec.searcher == "optuna"
    assert spec.name.startswith("vae_knn-digits-")
    assert spec.study_dir.endswith(spec.name)


def test_help_lists_every_method_and_quotes_the_specs_defaults():
    text = run_parser().format_help()
    for name, method in METHODS.items():
        assert f"  {name} " in text and method.summary in text
    defaults = StudySpec(method="vae_knn")
    assert f"configurations to try (default {defaults.num_samples})" in text
    assert f"epochs per trial (default {defaults.max_epochs})" in text
    assert f"(default {defaults.pending_timeout / 60:g}m)" in text
    for option in ("scheduler", "searcher"):
        assert len(help_entries(text)[option].split()) > 2, f"--{option} has no help"


def help_entries(text: str) -> dict[str, str]:
    """Option name (without ``--``) -> its entry in ``-h``'s text."""
    return {e.split()[0]: e for e in text.split("\n  --")[1:]}


@pytest.mark.parametrize("command", [run_parser, reproduce_parser])
def test_both_command_lines_describe_where_trials_run(command):
    entries = help_entries(command().format_help())
    for option in ("cpus-per-trial", "gpus-per-trial", "max-concurrent", "address"):
        assert len(entries[option].split()) > 2, f"--{option} has no help"
    assert f"(default {StudySpec(method='cnn').cpus_per_trial:g};" in entries["cpus-per-trial"]


def test_repeats_default_to_fifo_so_every_seed_runs_in_full():
    assert build({"method": "vae_knn", "repeats": 3}).scheduler == "fifo"
    assert build({"method": "vae_knn", "repeats": 3, "scheduler": "asha"}).scheduler == "asha"


@pytest.mark.parametrize(("values", "message"), [
    ({"split_ratio": 1.5}, "--split-ratio"),
    ({"gpus_per_trial": 1.5}, "whole number"),
    ({"cpus_per_trial": 0}, "--cpus-per-trial"),
    ({"resume": True, "overwrite": True, "name": "x"}, "exclude each other"),
    ({"name": "../escape"}, "plain directory name"),
    ({"scheduler": "pbt"}, "--scheduler"),
])
def test_invalid_specs(values, message):
    with pytest.raises(StudyError, match=message):
        StudySpec(method="vae_knn", **values).validate()


def test_fractional_gpus_are_fine():
    assert StudySpec(method="vae_knn", gpus_per_trial=0.25).validate().gpus_per_trial == 0.25


def test_a_study_saved_before_precision_existed_resumes_in_fp32(tmp_path):
    saved = json.loads(StudySpec(method="vae_knn").to_json())
    del saved["precision"], saved["compile"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "study.json").write_text(json.dumps(saved))
    spec = load_saved(str(tmp_path / "old"))
    assert spec.precision == "fp32" and spec.compile is False
    assert StudySpec(method="vae_knn").precision == "auto"  # new studies
