# Shared helpers of the local multi-node Ray tests (sourced by the scripts beside it).
#
# Each script runs as PID 1 of private namespaces made by tests/test_cluster.py:
#   unshare --net --pid --fork --kill-child --mount-proc bash SCRIPT ARGS...
# There loopback is the only interface (so Ray advertises 127.0.0.1 for every node), Ray's
# temp dir /tmp/ray is a private tmpfs (the machine's /tmp/ray is untouched), the auth
# token is a fresh one (the user's ~/.ray/auth_token is neither read nor written), and
# the kernel kills every process started here -- GCS, raylets, trial workers, drivers --
# when the script exits, passes or fails, or when the test kills `unshare` on a timeout.
# That is why these scripts never call `ray stop`.
set -euo pipefail

HEAD_PORT=6390
OBJECT_STORE=100000000   # 100 MB per node: these studies move a few hundred KB
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $$ -ne 1 ]]; then
    echo "refusing to start Ray outside a private PID namespace (run under unshare)" >&2
    exit 3
fi
ip link set lo up
if ip -o link show | grep -qv ': lo:'; then
    echo "refusing to start Ray: this network namespace has interfaces besides lo" >&2
    exit 3
fi
mkdir -p /tmp/ray
mount -t tmpfs -o size=2g,mode=0700 tmpfs /tmp/ray   # private to this mount namespace

# Token authentication, as on a real cluster: every node and driver presents this token.
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=/tmp/ray/auth_token
python -c "import secrets; print(secrets.token_hex(32))" > "$RAY_AUTH_TOKEN_PATH"
chmod 600 "$RAY_AUTH_TOKEN_PATH"
export RAY_USAGE_STATS_ENABLED=0 PYTHONUNBUFFERED=1
# A node is declared dead after health_check_period x failure_threshold without answer:
# ~2 s here instead of Ray's ~15 s default, to keep the fault test short.
export RAY_health_check_period_ms=500 RAY_health_check_failure_threshold=4 \
       RAY_health_check_timeout_ms=500 RAY_health_check_initial_delay_ms=1000
# With a searcher Tune keeps one trial pending at a time (TUNE_MAX_PENDING_TRIALS_PG=auto
# means 1), so trials this short would never fan out over two nodes. Queue them all up
# front, as README "Running on a cluster" advises for autoscaling clusters.
export TUNE_MAX_PENDING_TRIALS_PG=8

LOG_DEST=${LOG_DEST:-}
on_exit() {
    local rc=$?
    if [[ $rc -ne 0 && -n "$LOG_DEST" && -d /tmp/ray/session_latest/logs ]]; then
        mkdir -p "$LOG_DEST" && cp -r /tmp/ray/session_latest/logs/. "$LOG_DEST"/ || true
        echo "Ray logs copied to $LOG_DEST" >&2
    fi
}
trap on_exit EXIT

# start_node NAME ARGS...: `ray start ARGS` in a UTS namespace whose hostname is NAME, so
# that every process of the node (raylet, trial workers) reports `hostname` NAME.
start_node() {
    local name=$1
    shift
    if ! unshare --uts bash -c 'hostname "$0" && exec ray start "$@"' "$name" \
            --object-store-memory "$OBJECT_STORE" --disable-usage-stats "$@" \
            > "/tmp/ray/start-$name.log" 2>&1; then
        cat "/tmp/ray/start-$name.log" >&2
        return 1
    fi
    echo "node $name: ray start $*" >&2
}

start_head() {  # start_head NAME ARGS...
    local name=$1
    shift
    start_node "$name" --head --port "$HEAD_PORT" --include-dashboard false "$@"
}

# wait_nodes N: until N nodes are alive in the cluster.
wait_nodes() {
    python - "$1" <<'PY'
import sys, time
import ray
ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
deadline = time.monotonic() + 60
while (alive := sum(n["Alive"] for n in ray.nodes())) < int(sys.argv[1]):
    if time.monotonic() > deadline:
        sys.exit(f"only {alive} of {sys.argv[1]} nodes came up")
    time.sleep(0.5)
PY
}

# wait_gone PID: until process PID has ended (a zombie has: it only waits to be reaped).
wait_gone() {
    local deadline=$((SECONDS + 60)) state
    while state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) && [[ ${state%% *} != Z ]]; do
        if ((SECONDS > deadline)); then
            echo "process $1 still runs 60 s after its kill" >&2
            return 1
        fi
        sleep 0.2
    done
}

# study ARGS...: the study CLI as a user runs it, small and deterministic in length.
study() {
    python -m study.run vae_knn --no-report --scheduler fifo "$@"
}
