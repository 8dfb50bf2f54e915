"""Ctrl-C: mid-study (by construction: a trial holds at a gate) and during start-up."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from tests import gated
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
SAMPLES, EPOCHS = 3, 3


def ctrl_c(proc: subprocess.Popen) -> None:
    """What a terminal does: SIGINT to the whole foreground process group."""
    os.killpg(proc.pid, signal.SIGINT)


def test_ctrl_c_mid_study_exits_130_and_prints_the_resume_command(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "trial1-epoch2").touch()
    args = ["gated_vae", "--num-samples", str(SAMPLES), "--max-epochs", str(EPOCHS),
            "--scheduler", "fifo", "--max-concurrent", "1", "--set", "checkpoint_every_s=0",
            "--set", f"gate={gate}", "--storage", str(tmp_path), "--name", "n"]
    proc = subprocess.Popen([sys.executable, "-m", "tests.gated", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    held = gated.wait_until(lambda: gated.waiting(gate), "trial 1 waited at the gate",
                            alive=lambda: proc.poll() is None)
    ctrl_c(proc)
    out, err = proc.communicate(timeout=180)

    assert proc.returncode == 130, err[-3000:]
    command = f"python -m study.run --name n --storage {tmp_path} --resume"
    assert err.strip().splitlines()[-1] == f"interrupted; continue with: {command}"
    assert "Tuner.restore" not in out + err
    # The printed summary and the report count the same trials the same way.
    printed = next(line for line in out.splitlines() if line.startswith("trials: "))
    report = (tmp_path / "n" / "report" / "report.md").read_text()
    assert f"- {printed}" in report.splitlines()
    assert printed.startswith("trials: 2 (1 completed")

    gated.wait_until(lambda: not gated.running(held[0]["pid"]), "the held trial ended")
    (gate / "trial1-epoch2").unlink()
    resume = shlex.split(command)[3:]
    resumed = subprocess.run([sys.executable, "-m", "tests.gated", *resume],
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = list((tmp_path / "n").glob("train_gated_*/result.json"))
    assert len(trials) == SAMPLES
    for path in trials:
        assert json.loads(path.read_text().splitlines()[-1])["epoch"] == EPOCHS


@pytest.mark.parametrize("delay", [0.2, 1.0, 3.0])
def test_ctrl_c_during_start_up_is_one_line(tmp_path, delay):
    """Start-up (imports, data, Ray) notes Ctrl-C and stops at the next safe point."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "study.run", "vae_knn", "--storage", str(tmp_path), "--name",
         "s"], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    time.sleep(delay)  # any moment will do: each must end the same way
    ctrl_c(proc)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("interrupted")
