"""Input that cannot work is refused before anything runs or is deleted: one line, exit 2.

Resources that can never be met, an unreachable cluster, unwritable storage, malformed
files and options, and ``--resume`` with options it cannot honour.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from analysis.compare import main as compare_main
from analysis.report import main as report_main
from study.run import main
from tests.conftest import ROOT, run_cli


def one_line_error(capsys) -> str:
    """The captured stderr's last line, checked to be the only ``error:`` line."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1] == errors[0]
    return errors[0]


def earlier_study(root, name="mine"):
    """A study directory with files that must survive a refused command."""
    study = root / name
    study.mkdir(parents=True)
    (study / "study.json").write_text(json.dumps({"method": "vae_knn"}))
    (study / "result.json").write_text("earlier results")
    return study


@pytest.mark.parametrize(("flag", "value", "fragment"), [
    ("--gpus-per-trial", "1", "0 GPUs"),
    ("--cpus-per-trial", "3", "2 CPUs"),
])
def test_resources_this_machine_lacks_are_refused_before_overwrite(
        ray_local, tmp_path, capsys, flag, value, fragment):
    study = earlier_study(tmp_path)
    rc = main(["vae_knn", flag, value, "--storage", str(tmp_path), "--name", "mine",
               "--overwrite", "--no-report"])
    assert rc == 2
    line = one_line_error(capsys)
    assert f"{flag} {value}" in line and fragment in line
    assert (study / "result.json").read_text() == "earlier results"


def test_on_a_cluster_a_trial_that_never_starts_gives_up_after_pending_timeout(
        ray_local, tmp_path, capsys):
    """Joined with --address (here: the test's own 2-CPU Ray), a 3-CPU trial is a legitimate
    wait for an autoscaler; with none, the study gives up (exit 5), resumable."""
    args = ["--storage", str(tmp_path), "--name", "wait", "--pending-timeout", "2s",
            "--no-report"]
    assert main(["vae_knn", "--address", "auto", "--cpus-per-trial", "3", *args]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("stopped: no trial could start within --pending-timeout 2 s: "
                              "each asks for 3 CPU, and the cluster has 2 CPU"), err[-1]
    assert (tmp_path / "wait" / "tuner.pkl").exists()
    assert main(["--address", "auto", "--resume", *args]) == 5  # the state survived


def test_unreachable_address_fails_fast(tmp_path):
    start = time.monotonic()
    proc = run_cli("vae_knn", "--address", "127.0.0.1:1", "--storage", str(tmp_path),
                   timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --address 127.0.0.1:1")
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - start < 60
    assert list(tmp_path.iterdir()) == []


def test_storage_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("not a directory")
    assert main(["vae_knn", "--storage", str(target)]) == 2
    assert "is a file" in one_line_error(capsys)
    assert main(["vae_knn", "--storage", str(target / "below")]) == 2
    assert "is a file" in one_line_error(capsys)
    assert target.read_text() == "not a directory"


def in_read_only_mount(path, *command: str) -> subprocess.CompletedProcess:
    """Run ``command`` with ``path`` bind-mounted read-only (a private mount namespace;
    root only, as the cluster tests: chmod does not stop root)."""
    script = (f'mount --bind "{path}" "{path}" && mount -o remount,bind,ro "{path}" && '
              'exec "$@"')
    return subprocess.run(["unshare", "--mount", "--", "sh", "-c", script, "sh", *command],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_read_only_storage_is_refused_before_any_compute(tmp_path):
    storage = tmp_path / "studies"
    storage.mkdir()
    proc = in_read_only_mount(storage, sys.executable, "-m", "study.run", "vae_knn",
                              "--storage", str(storage), "--name", "x")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == (f"error: --storage {storage}: cannot write in {storage}: "
                                   "Read-only file system")


def test_losing_storage_mid_study_stops_it_with_one_line_and_keeps_results(tmp_path):
    """The storage turns read-only while the first trial holds at a gate after its first
    epoch: once the gate opens, its next checkpoint fails and the study stops (exit 5)
    instead of failing and retrying every trial."""
    storage, gate = tmp_path / "studies", tmp_path / "gate"
    storage.mkdir()
    gate.mkdir()
    (gate / "epoch2").touch()
    first = storage / "s" / "train_gated_*" / "result.json"
    script = tmp_path / "lose_storage.sh"
    script.write_text(f"""
mount --bind "{storage}" "{storage}"
"{sys.executable}" -m tests.gated gated_vae --storage "{storage}" --name s --num-samples 4 \\
    --max-epochs 3 --scheduler fifo --max-concurrent 1 --set checkpoint_every_s=0 \\
    --set gate="{gate}" --no-report &
pid=$!
until ls "{gate}"/waiting-* > /dev/null 2>&1 && grep -qs epoch {first}; do sleep 0.2; done
mount -o remount,bind,ro "{storage}"
rm "{gate}/epoch2"
wait $pid
""")
    proc = subprocess.run(["unshare", "--mount", "--", "bash", str(script)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 5, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("stopped: the study directory can no longer be written"), last
    assert "--resume" in last
    assert proc.stderr.count("Trial task failed") == 1  # not every trial, not retried
    results = list((storage / "s").glob("*/result.json"))
    assert len(results) == 1
    assert [json.loads(line)["epoch"] for line in results[0].read_text().splitlines()] == [1]


@pytest.mark.parametrize(("args", "fragment"), [
    (["--config", "."], "--config .: Is a directory"),
    (["--name", "n" * 300], "--name is 300 bytes long"),
    (["--max-failures", "-1"], "--max-failures must be 0 or more"),
    (["--seed", "-1"], "--seed -1"),
    (["--pending-timeout", "soon"], "--pending-timeout 'soon'"),
    (["--reproducible", "--max-concurrent", "2"], "--reproducible runs one trial at a time"),
])
def test_options_out_of_range(tmp_path, capsys, args, fragment):
    assert main(["vae_knn", *args, "--storage", str(tmp_path)]) == 2
    assert fragment in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_resume_of_a_corrupt_or_never_started_study(tmp_path, capsys):
    study = earlier_study(tmp_path)
    resume = ["--storage", str(tmp_path), "--name", "mine", "--resume"]
    assert main(resume) == 2
    assert "has no tuner.pkl" in one_line_error(capsys)
    (study / "study.json").write_text("{half a file")
    assert main(resume) == 2
    assert "study.json: unreadable" in one_line_error(capsys)
    (study / "study.json").write_text(json.dumps({"method": "vae_knn", "warp": 9}))
    assert main(resume) == 2
    assert "not a study spec" in one_line_error(capsys)
    assert (study / "result.json").read_text() == "earlier results"


@pytest.mark.parametrize(("args", "option"), [
    (["--num-samples", "50"], "--num-samples"),
    (["--max-epochs", "3"], "--max-epochs"),
    (["--set", "latent_dim=4"], "--set"),
    (["--overwrite"], "--overwrite"),
    (["--seed", "0"], "--seed"),
    (["--config", "study.yaml"], "--config"),
])
def test_resume_refuses_options_it_cannot_honour(tmp_path, capsys, args, option):
    earlier_study(tmp_path)
    assert main([*args, "--storage", str(tmp_path), "--name", "mine", "--resume"]) == 2
    line = one_line_error(capsys)
    assert f"{option} cannot change" in line


def test_resume_with_another_method_is_refused(tmp_path, capsys):
    earlier_study(tmp_path)
    assert main(["cnn", "--storage", str(tmp_path), "--name", "mine", "--resume"]) == 2
    assert "is a vae_knn study, not cnn" in one_line_error(capsys)


def test_overwrite_never_follows_a_symlink(tmp_path, capsys):
    elsewhere = earlier_study(tmp_path, "precious")
    os.symlink(elsewhere, tmp_path / "link")
    assert main(["vae_knn", "--storage", str(tmp_path), "--name", "link", "--overwrite"]) == 2
    assert "is a link" in one_line_error(capsys)
    assert (elsewhere / "result.json").read_text() == "earlier results"


@pytest.mark.parametrize("cli", [report_main, compare_main])
def test_analysis_out_pointing_at_a_file(tmp_path, capsys, cli):
    out = tmp_path / "out.txt"
    out.write_text("mine")
    assert cli([str(tmp_path), "--out", str(out)]) == 2
    assert f"--out {out}: {out} is a file" in one_line_error(capsys)
    assert out.read_text() == "mine"
