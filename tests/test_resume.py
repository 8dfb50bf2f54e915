"""A study process SIGKILLed mid-run continues with --resume: nothing finished runs twice.

The kill lands mid-study by construction, however fast the trials: the third trial holds
before epoch HOLD at a gate file (tests/gated.py) until the study is dead.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests import gated
from tests.conftest import ROOT

SAMPLES, EPOCHS, HOLD = 6, 5, 3


def finished(study: Path) -> dict[str, str]:
    """Trial dir name -> result.json text, for trials that reported their last epoch."""
    done = {}
    for trial in study.glob("train_gated_*"):
        path = trial / "result.json"
        lines = path.read_text().splitlines() if path.exists() else []
        if lines and json.loads(lines[-1]).get("epoch") == EPOCHS:
            done[trial.name] = path.read_text()
    return done


def held_trial(study: Path, gate: Path) -> dict | None:
    """Trial 2 as it waits at the gate, once Tune's last snapshot has trials 0 and 1 finished
    and trial 2 running with its checkpoint of the epoch before the gate."""
    held = [w for w in gated.waiting(gate) if w["number"] == 2]
    state = gated.snapshot(study)
    expected = [("RUNNING", HOLD - 1), *[("TERMINATED", EPOCHS)] * 2]
    if held and state.get(held[0]["trial_id"]) == expected[0]:
        return held[0] if sorted(state.values()) == expected else None
    return None


def test_sigkilled_study_resumes_without_rerunning_finished_trials(tmp_path):
    study, gate = tmp_path / "killed", tmp_path / "gate"
    gate.mkdir()
    (gate / f"trial2-epoch{HOLD}").touch()
    args = ["gated_vae", "--num-samples", str(SAMPLES), "--max-epochs", str(EPOCHS),
            "--scheduler", "fifo", "--max-concurrent", "1", "--set", "checkpoint_every_s=0",
            "--set", f"gate={gate}", "--storage", str(tmp_path), "--name", "killed",
            "--no-report"]
    proc = subprocess.Popen([sys.executable, "-m", "tests.gated", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        held = gated.wait_until(lambda: held_trial(study, gate),
                                "trials 0 and 1 finished and trial 2 waited at the gate",
                                alive=lambda: proc.poll() is None)
    finally:
        with contextlib.suppress(ProcessLookupError):  # all gone already when it failed
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = finished(study)
    assert len(before) == 2
    # Open the gate once the killed trial's process has ended, for its resumed self alone.
    gated.wait_until(lambda: not gated.running(held["pid"]), "the held trial ended", timeout=60)
    (gate / f"trial2-epoch{HOLD}").unlink()

    resumed = subprocess.run(
        [sys.executable, "-m", "tests.gated", "--storage", str(tmp_path), "--name", "killed",
         "--resume"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    after = finished(study)
    assert len(after) == SAMPLES
    assert {t.name for t in study.glob("train_gated_*")} == set(after)  # no orphan
    for name, text in before.items():
        assert after[name] == text, f"{name} ran again after the resume"
    # The trial killed at the gate continued from its last checkpoint: no epoch ran twice.
    for trial in (study / name for name in after):
        epochs = [json.loads(x)["epoch"] for x in (trial / "result.json").read_text().splitlines()]
        assert epochs == list(range(1, EPOCHS + 1)), (trial.name, epochs)
