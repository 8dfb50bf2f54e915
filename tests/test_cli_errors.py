"""Errors a user can cause: one line on stderr, exit code 2, nothing deleted or overwritten."""

import pytest

from study.run import main
from tests.conftest import run_cli


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(("args", "fragments"), [
    (["no_such_method"], ["unknown method", "vae_knn"]),
    (["vae_knn", "--dataset", "imagenet22k"], ["unknown dataset"]),
    (["vae_knn", "--set", "latent_dim=-3"], ["latent_dim=-3", "outside"]),
    (["vae_knn", "--set", "arch=resnet"], ["arch", "not one of"]),
    (["cnn", "--set", "select_metric=val_f1"], ["select_metric", "choose from val_acc, val_auc"]),
    (["vae_knn", "--set", "select_metric=val_auc"], ["select_metric", "choose from val_acc"]),
    (["vae_knn", "--set", "wings=2"], ["wings", "not a parameter"]),
    (["vae_knn", "--preset", "report999"], ["report999", "report004"]),
    (["vae_knn", "--num-samples", "0"], ["--num-samples"]),
    (["vae_knn", "--resume"], ["--resume needs --name"]),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, fragments):
    """In-process (fast); the subprocess tests below check the real process's stderr."""
    assert main([*args, "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: ")
    for fragment in fragments:
        assert fragment in err
    assert list(tmp_path.iterdir()) == []


def test_argparse_errors_are_one_line_too(tmp_path):
    proc = run_cli("vae_knn", "--scheduler", "pbt", "--storage", str(tmp_path))
    assert_one_line_error(proc, "--scheduler", "invalid choice")


def test_missing_data_dir_offline_names_the_directory(tmp_path):
    missing = tmp_path / "nowhere"
    proc = run_cli("vae_knn", "--dataset", "mnist", "--data-dir", str(missing),
                   "--storage", str(tmp_path / "st"))
    assert_one_line_error(proc, str(missing))
    assert not (tmp_path / "st").exists()


@pytest.mark.parametrize(("text", "fragment"), [
    ("method: vae_knn\nnum-samples: [oops\n", "not valid YAML"),
    ("method: vae_knn\nwarp: 9\n", "unknown option 'warp'"),
    ("- just\n- a list\n", "expected a mapping"),
    ("method: vae_knn\nnum-samples: two\n", "--num-samples 'two': expected int"),
    ("method: vae_knn\ncpus-per-trial: [1]\n", "--cpus-per-trial [1]: expected float"),
    ("method: vae_knn\nreproducible: 1\n", "--reproducible 1: expected bool"),
    ("method: vae_knn\nfixed:\n  arch: dense\n", "go under `set:`"),
])
def test_bad_config_file_is_one_line(tmp_path, capsys, text, fragment):
    config = tmp_path / "study.yaml"
    config.write_text(text)
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and fragment in err


def test_existing_study_is_not_overwritten(tmp_path):
    study = tmp_path / "mine"
    study.mkdir()
    (study / "study.json").write_text("precious")
    (study / "result.json").write_text("earlier results")
    proc = run_cli("vae_knn", "--storage", str(tmp_path), "--name", "mine")
    assert_one_line_error(proc, "exists", "--resume", "--overwrite")
    assert (study / "study.json").read_text() == "precious"
    assert (study / "result.json").read_text() == "earlier results"


def test_overwrite_refuses_a_directory_that_is_not_a_study(tmp_path):
    other = tmp_path / "thesis"
    other.mkdir()
    (other / "chapter1.tex").write_text("years of work")
    proc = run_cli("vae_knn", "--storage", str(tmp_path), "--name", "thesis", "--overwrite")
    assert_one_line_error(proc, "does not look like a study")
    assert (other / "chapter1.tex").read_text() == "years of work"


def test_resume_of_a_missing_study(tmp_path):
    proc = run_cli("vae_knn", "--storage", str(tmp_path), "--name", "ghost", "--resume")
    assert_one_line_error(proc, "ghost")


@pytest.mark.parametrize(("folders", "fragments"), [
    ({"cats": 12}, ["only 1 class ('cats')", "at least two"]),
    ({"train/a": 6, "train/b": 6, "test/b": 2}, ["test split has no image of class 'a'"]),
])
def test_unusable_classes_are_one_line_exit_2(tmp_path, capsys, folders, fragments):
    from PIL import Image

    for folder, n in folders.items():
        (tmp_path / "data" / folder).mkdir(parents=True)
        for i in range(n):
            Image.new("L", (8, 8), i * 20).save(tmp_path / "data" / folder / f"{i}.png")
    assert main(["pca_knn", "--dataset", "image_folder", "--data-dir", str(tmp_path / "data"),
                 "--image-size", "8", "--num-samples", "1", "--max-epochs", "1",
                 "--storage", str(tmp_path / "st")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: image_folder in ")
    for fragment in fragments:
        assert fragment in err
    assert not (tmp_path / "st").exists()
