"""Clusters: the cluster-launcher files, and real multi-node Ray clusters on this machine.

The multi-node tests start real Ray processes (`ray start --head` + `ray start --address`)
inside `unshare --net --pid --fork --kill-child --mount-proc`: loopback is the only
interface there, Ray's temp dir is a private tmpfs, and the kernel ends every process of
the cluster when the script ends, passes, fails or is killed on a timeout
(tests/cluster/lib.sh). They need root (CI runs as root) and fail, not skip, without it.
Each node runs in its own UTS namespace, so trials report the node's name as `hostname`.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from analysis.results import most_at_once
from tests.conftest import ROOT

SCRIPTS = ROOT / "tests" / "cluster"
CLUSTER_FILES = ("cluster.yaml", "cluster-local.yaml")


# --- cluster-launcher files ----------------------------------------------------------------

def ray_schema() -> dict[str, Any]:
    import ray.autoscaler

    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


@pytest.mark.parametrize("name", CLUSTER_FILES)
def test_cluster_file_passes_rays_schema_and_ray_up_preparation(name):
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((ROOT / name).read_text())
    jsonschema.validate(config, ray_schema())  # the file as written
    prepared = prepare_config(copy.deepcopy(config))  # defaults filled in as `ray up` does
    validate_config(prepared)

    # The schema is strict enough to catch a misspelt key.
    broken = {**config, "max_worker": 2}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, ray_schema())

    # Token authentication on for every node, the token shipped to every node, the
    # dashboard never bound to all interfaces, the project installed on every node.
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in prepared[key] if "ray start" in c]
        assert starts and all("RAY_AUTH_MODE=token" in c for c in starts), key
    assert "0.0.0.0" not in json.dumps(prepared["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in " ".join(prepared["head_start_ray_commands"])
    assert prepared["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert prepared["file_mounts"]["~/hpstudy"] == "."
    assert any("pip install" in c and "-e ~/hpstudy" in c
               for c in prepared["worker_setup_commands"])
    assert any("ray[default]==" in c for c in prepared["worker_setup_commands"])


def test_cloud_cluster_has_cpu_head_and_autoscaled_gpu_workers():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    assert config["provider"]["type"] == "aws"
    assert config["provider"]["region"] and config["provider"]["availability_zone"]
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu_types = [t for n, t in types.items()
                 if n != config["head_node_type"] and t["resources"].get("GPU", 0) >= 1]
    assert gpu_types, "no GPU worker node type"
    assert all(t["min_workers"] < t["max_workers"] <= config["max_workers"] for t in gpu_types)
    text = (ROOT / "cluster.yaml").read_text()
    assert "--storage s3://" in text  # results go to shared storage, documented in place


def test_on_premises_cluster_names_head_and_workers():
    config = yaml.safe_load((ROOT / "cluster-local.yaml").read_text())
    provider = config["provider"]
    assert provider["type"] == "local"
    assert provider["head_ip"] and provider["worker_ips"]
    assert "--storage /shared/studies" in (ROOT / "cluster-local.yaml").read_text()


# --- real multi-node clusters --------------------------------------------------------------

def run_in_namespace(script: str, *args: str, log_dir: Path, timeout: float
                     ) -> subprocess.CompletedProcess:
    """``bash tests/cluster/SCRIPT ARGS`` as PID 1 of private net/pid/mount namespaces."""
    if os.geteuid() != 0:
        pytest.fail("multi-node cluster tests need root: they run Ray inside `unshare --net "
                    "--pid` namespaces (CI runs them as root)")
    missing = [tool for tool in ("unshare", "mount", "ip", "pgrep", "hostname")
               if not shutil.which(tool)]
    if missing:
        pytest.fail(f"multi-node cluster tests need {', '.join(missing)} (Debian packages "
                    "util-linux, mount, iproute2, procps, hostname)")
    bin_dir = str(Path(sys.executable).parent)  # python and ray of this environment
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "LOG_DEST": str(log_dir)}
    cmd = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
           "bash", str(SCRIPTS / script), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env=env)
    except subprocess.TimeoutExpired as err:  # unshare killed; --kill-child ends the rest
        out = err.stderr or b""  # bytes, whatever text=True says
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        pytest.fail(f"{script} ran past {timeout:.0f} s (Ray logs in {log_dir} only on a "
                    f"failure exit); stderr tail:\n{out[-4000:]}")
    if proc.returncode != 0:
        hint = ""
        if "unshare failed" in proc.stderr or "Operation not permitted" in proc.stderr:
            hint = "unshare is not permitted here (needs root / CAP_SYS_ADMIN). "
        pytest.fail(f"{hint}{script} exited {proc.returncode} (Ray logs in {log_dir});\n"
                    f"stdout tail:\n{proc.stdout[-3000:]}\nstderr tail:\n{proc.stderr[-6000:]}")
    return proc


def results(study: Path) -> dict[str, list[dict[str, Any]]]:
    """Trial id -> its result rows (result.json), for every trial of the study."""
    out = {}
    for path in sorted(study.glob("*/result.json")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        out[rows[0]["trial_id"]] = rows
    return out


def trial_runtimes(study: Path) -> dict[str, dict[str, Any]]:
    """Trial id -> Tune's run metadata (start_time, last_result_time, num_failures)."""
    state = max(study.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    out = {}
    for trial, runtime in json.loads(state.read_text())["trial_data"]:
        trial = json.loads(trial) if isinstance(trial, str) else trial
        runtime = json.loads(runtime) if isinstance(runtime, str) else runtime
        out[trial["trial_id"]] = runtime
    return out


def test_two_node_cluster_packs_gpu_trials_on_the_gpu_node(tmp_path):
    run_in_namespace("two_node.sh", str(tmp_path), log_dir=tmp_path / "ray-logs", timeout=240)

    gpu, cpu = results(tmp_path / "gpu"), results(tmp_path / "cpu")
    assert len(gpu) == 4 and len(cpu) == 4
    nodes: dict[str, set[str]] = {}  # hostname -> node ids seen
    for rows in [*gpu.values(), *cpu.values()]:
        for row in rows:
            nodes.setdefault(row["hostname"], set()).add(row["node_id"])
            assert row["node_ip"] == "127.0.0.1"
            assert row["device"] in ("cpu", "cuda")  # cpu here: the GPU is only logical
    assert set(nodes) == {"head", "gpu1"} and all(len(ids) == 1 for ids in nodes.values())
    assert nodes["head"] != nodes["gpu1"]

    # GPU trials: all on the GPU node, sharing its GPU 0, never more than two at once.
    for rows in gpu.values():
        assert rows[-1]["epoch"] == 4
        assert {(r["hostname"], r["gpu_ids"]) for r in rows} == {("gpu1", "0")}
    runtime = trial_runtimes(tmp_path / "gpu")
    spans = [(runtime[t]["start_time"], runtime[t]["last_result_time"]) for t in gpu]
    assert most_at_once(spans) == 2, spans

    # CPU-only trials: no GPU given, on both nodes (the head alone has room for one).
    for rows in cpu.values():
        assert rows[-1]["epoch"] == 2
        assert {r["gpu_ids"] for r in rows} == {""}
    assert {rows[-1]["hostname"] for rows in cpu.values()} == {"head", "gpu1"}


def test_worker_node_death_and_driver_death_lose_no_work(tmp_path):
    kill_at, epochs = 2, 20  # faults.sh holds trials at gates: both kills land mid-trial
    run_in_namespace("faults.sh", str(tmp_path), str(kill_at), log_dir=tmp_path / "ray-logs",
                     timeout=300)

    events = {line.split()[0]: line.split()[1:]
              for line in (tmp_path / "events.txt").read_text().splitlines()}
    killed_trial, killed_epoch = events["node_killed"][1], int(events["node_killed"][2])
    driver_killed_at = float(events["driver_killed"][0])
    trials = results(tmp_path / "faults")
    assert len(trials) == 3
    assert killed_epoch == kill_at

    # Every trial finished all its epochs.
    for trial, rows in trials.items():
        ran = [r["epoch"] for r in rows]
        assert ran[0] == 1 and ran[-1] == epochs, (trial, ran)

    # The trial held on the dead node went on on the head from its last checkpoint, and after
    # the driver's death from the one Tune's snapshot held: each of its epochs ran once.
    rows = trials[killed_trial]
    on_doomed = [r["epoch"] for r in rows if r["hostname"] == "doomed"]
    on_head = [r["epoch"] for r in rows if r["hostname"] == "head"]
    assert on_doomed == list(range(1, kill_at + 1)), rows
    assert on_head == list(range(kill_at + 1, epochs + 1)), on_head
    assert rows[len(on_doomed)]["iterations_since_restore"] == 1  # a restored run
    assert trial_runtimes(tmp_path / "faults")[killed_trial]["num_failures"] >= 1

    # The resumed driver finished the study: results arrived after the old driver died, all
    # on the head (the dead node stays dead). The held trial continued from its checkpoint of
    # the epoch before its gate, not from the start. (Another trial still running at the
    # kill continues from the latest checkpoint Tune's snapshot knew: a few epochs repeat.)
    late = [r for rows in trials.values() for r in rows if r["timestamp"] > driver_killed_at]
    assert late and all(r["hostname"] == "head" for r in late)
    resumed = [r["epoch"] for r in trials[killed_trial] if r["timestamp"] > driver_killed_at]
    assert resumed[0] == kill_at + 3, resumed
