"""A study file's ``space:`` section widens, narrows or replaces a parameter's distribution:
checked before anything runs, recorded in study.json, and what the trials sample."""

import json

import pytest

from study.plan import resolve
from study.run import main, spec_from_argv
from tests.conftest import sampled_configs
from tests.test_cli_refusals import one_line_error

WIDE = ("method: pca_knn\nspace:\n  n_components: {low: 3, high: 5}\n"
        "  whiten: [true]\n  n_neighbors: {high: 400}\n")


def config(tmp_path, text: str) -> str:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return str(path)


def test_overrides_are_what_the_trials_sample(tmp_path):
    spec = spec_from_argv(["--config", config(tmp_path, WIDE)])
    assert spec.space == {"n_components": {"low": 3, "high": 5}, "whiten": [True],
                          "n_neighbors": {"high": 400}}
    configs = sampled_configs(resolve(spec))
    assert {c["n_components"] for c in configs} == {3, 4, 5}
    assert {c["whiten"] for c in configs} == {True}
    assert max(c["n_neighbors"] for c in configs) > 100  # the code's range ends at 100


def test_a_widened_range_admits_set_values_the_code_refuses(tmp_path):
    assert main(["ae_knn", "--set", "lr=0.05", "--storage", str(tmp_path)]) == 2
    yaml = config(tmp_path, "method: ae_knn\nspace:\n  lr: {low: 1.0e-5, high: 0.1}\n")
    plan = resolve(spec_from_argv(["--config", yaml, "--set", "lr=0.05"]))
    assert plan.fixed["lr"] == 0.05
    # The code's log scale is kept where the study file does not say otherwise, and a bound
    # written 1e-3 (YAML reads it as text) is a number.
    yaml = config(tmp_path, "method: ae_knn\nspace:\n  lr: {low: 1e-3}\n")
    lrs = [c["lr"] for c in sampled_configs(resolve(spec_from_argv(["--config", yaml])))]
    assert min(lrs) >= 1e-3 and max(lrs) <= 1e-2


@pytest.mark.parametrize(("text", "message"), [
    ("  n_components: {low: 9, high: 3}", "space n_components: low 9 is above high 3"),
    ("  n_components: [3, 4]", "space n_components: a numeric parameter"),
    ("  whiten: {low: 0, high: 1}", "space whiten: a categorical parameter"),
    ("  n_components: {low: three}", "space n_components: low 'three' must be an integer"),
    ("  n_components: {lo: 3}", "space n_components: a range has keys low, high, log, step"),
    ("  n_components: {low: 0, log: true}", "a log range needs low > 0"),
    ("  depth: [1, 2]", "space depth: not a searched parameter (searched: knn_metric"),
    ("  whiten: []", "space whiten: give at least one choice"),
    ("  whiten: true", "space whiten: expected a list of choices or a range"),
])
def test_a_bad_override_is_one_line_and_runs_nothing(text, message, tmp_path, capsys):
    yaml = config(tmp_path, f"method: pca_knn\nspace:\n{text}\n")
    assert main(["--config", yaml, "--storage", str(tmp_path / "studies")]) == 2
    assert message in one_line_error(capsys)
    assert not (tmp_path / "studies").exists()


def test_a_preset_refuses_a_space_section(tmp_path, capsys):
    yaml = config(tmp_path, "method: pca_knn\npreset: report004\nspace:\n  whiten: [true]\n")
    assert main(["--config", yaml, "--storage", str(tmp_path)]) == 2
    assert "runs the report's grid" in one_line_error(capsys)


@pytest.mark.slow
def test_a_study_records_its_overrides_and_keeps_to_them(ray_local, tmp_path):
    yaml = config(tmp_path, WIDE)
    assert main(["--config", yaml, "--num-samples", "2", "--max-epochs", "1",
                 "--storage", str(tmp_path), "--name", "s", "--no-report"]) == 0
    saved = json.loads((tmp_path / "s" / "study.json").read_text())
    assert saved["space"]["n_components"] == {"low": 3, "high": 5}
    for params in (tmp_path / "s").glob("*/params.json"):
        config_ = json.loads(params.read_text())
        assert 3 <= config_["n_components"] <= 5 and config_["whiten"] is True
