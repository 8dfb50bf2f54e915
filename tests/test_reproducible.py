"""``--reproducible``: the same command twice gives the same trials, epoch by epoch."""

import pandas as pd
import pytest

from analysis.results import load
from study.run import main

pytestmark = pytest.mark.slow


def trial_table(study_dir) -> pd.DataFrame:
    """Every trial's configuration and per-epoch scores: what two identical studies must
    share (trial ids and times aside)."""
    study = load(study_dir)
    columns = ["trial_id", "epoch", "val_acc", "val_loss", "train_loss", "test_acc"]
    epochs = study.epochs[[c for c in columns if c in study.epochs]]
    table = study.trials[["trial_id", *study.params]].merge(epochs, on="trial_id")
    table = table.drop(columns="trial_id")
    return table.sort_values([*study.params, "epoch"]).reset_index(drop=True)


def test_two_reproducible_runs_give_identical_trial_tables(ray_local, tmp_path):
    args = ["vae_knn", "--reproducible", "--num-samples", "5", "--max-epochs", "4",
            "--seed", "3", "--storage", str(tmp_path), "--no-report",
            "--set", "k_max=15", "--set", "checkpoint_every_s=0"]
    assert main([*args, "--name", "first"]) == 0
    assert main([*args, "--name", "second"]) == 0
    first, second = trial_table(tmp_path / "first"), trial_table(tmp_path / "second")
    assert len(first) >= 5 * 3  # ASHA may stop some trials after their grace period
    pd.testing.assert_frame_equal(first, second)
