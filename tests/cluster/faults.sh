# Faults on a two-node cluster: head (2 CPUs) + worker "doomed" (1 CPU), 3 one-CPU trials
# checkpointing every epoch, so one trial runs on "doomed". Gate files (tests/gated.py) hold
# the trials so that both kills land mid-study by construction, however fast the trials:
#  1. Every trial holds after epoch KILL_AT. Once the trial on "doomed" holds there, the
#     raylet of "doomed" is SIGKILLed and the gate opens: Ray declares the node dead, and
#     Tune retries the trial (FailureConfig) on the head from its last checkpoint once a
#     head trial has finished.
#  2. The retried trial holds after epoch KILL_AT+2 (two epochs reported on the head). Once
#     it holds there and Tune's experiment-state snapshot has that checkpoint, the study
#     driver is SIGKILLed (its trials die with it), the gate opens, and `--resume` on the
#     same cluster finishes the study.
# Times and trial ids go to STORAGE/events.txt for the test's checks.
# Usage (inside the namespaces, see lib.sh): faults.sh STORAGE [KILL_AT]
source "$(dirname "$0")/lib.sh"
STORAGE=$1
KILL_AT=${2:-2}
DOOMED_PORT=6500
EVENTS=$STORAGE/events.txt
GATE=$STORAGE/gate
ARGS=(--storage "$STORAGE" --name faults --address "127.0.0.1:$HEAD_PORT")

start_head head --num-cpus 2 --num-gpus 0
start_node doomed --address "127.0.0.1:$HEAD_PORT" --num-cpus 1 --num-gpus 0 \
    --node-manager-port "$DOOMED_PORT"
wait_nodes 2

mkdir -p "$GATE"
touch "$GATE/epoch$((KILL_AT + 1))"
python -m tests.gated gated_vae "${ARGS[@]}" --no-report --scheduler fifo \
    --cpus-per-trial 1 --num-samples 3 --max-epochs 20 --set checkpoint_every_s=0 \
    --set arch=dense --set gate="$GATE" &
driver=$!

read -r trial number pid < <(python -m tests.cluster.wait_for "$STORAGE/faults" "$GATE" \
    --epoch $((KILL_AT + 1)) --host doomed --driver "$driver")
touch "$GATE/trial$number-epoch$((KILL_AT + 3))"
raylet=$(pgrep -f -- "raylet/raylet .*--node_manager_port=$DOOMED_PORT")
kill -9 "$raylet"
echo "node_killed $(date +%s.%N) $trial $KILL_AT" >> "$EVENTS"
echo "== killed the raylet of node doomed (pid $raylet); trial $trial held after epoch" \
    "$KILL_AT" >&2
wait_gone "$pid"  # its worker died with the node: only its retry may pass the gate
rm "$GATE/epoch$((KILL_AT + 1))"

read -r _ _ pid < <(python -m tests.cluster.wait_for "$STORAGE/faults" "$GATE" \
    --epoch $((KILL_AT + 3)) --host head --trial "$trial" --driver "$driver")
kill -9 "$driver"
wait "$driver" || true
echo "driver_killed $(date +%s.%N)" >> "$EVENTS"
echo "== killed the study driver; trial $trial held after epoch $((KILL_AT + 2)); resuming" >&2
wait_gone "$pid"  # the killed driver's trial is gone: only the resumed one may pass
rm "$GATE/trial$number-epoch$((KILL_AT + 3))"

python -m tests.gated "${ARGS[@]}" --resume
echo "== done" >&2
