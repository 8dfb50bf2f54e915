# Faults on a two-node cluster: head (2 CPUs) + worker "doomed" (1 CPU), 3 one-CPU trials
# checkpointing every epoch, so one trial runs on "doomed".
#  1. Once that trial reported KILL_AT epochs, the raylet of "doomed" is SIGKILLed: Ray
#     declares the node dead, Tune retries the trial (FailureConfig) on the head from
#     its last checkpoint.
#  2. Once the retried trial reported an epoch on the head, the study driver is SIGKILLed
#     (its trials die with it); `--resume` on the same cluster finishes the study.
# Times and trial ids go to STORAGE/events.txt for the test's checks.
# Usage (inside the namespaces, see lib.sh): faults.sh STORAGE [KILL_AT]
source "$(dirname "$0")/lib.sh"
STORAGE=$1
KILL_AT=${2:-2}
DOOMED_PORT=6500
EVENTS=$STORAGE/events.txt
ARGS=(--storage "$STORAGE" --name faults --address "127.0.0.1:$HEAD_PORT")

start_head head --num-cpus 2 --num-gpus 0
start_node doomed --address "127.0.0.1:$HEAD_PORT" --num-cpus 1 --num-gpus 0 \
    --node-manager-port "$DOOMED_PORT"
wait_nodes 2

python -m study.run vae_knn "${ARGS[@]}" --no-report --scheduler fifo --cpus-per-trial 1 \
    --num-samples 3 --max-epochs 20 --set checkpoint_every_s=0 --set arch=conv \
    --set batch_size=32 &
driver=$!

read -r trial epoch < <(python "$HERE/wait_for.py" "$STORAGE/faults" --host doomed \
    --min-epoch "$KILL_AT" --driver "$driver")
raylet=$(pgrep -f -- "raylet/raylet .*--node_manager_port=$DOOMED_PORT")
kill -9 "$raylet"
echo "node_killed $(date +%s.%N) $trial $epoch" >> "$EVENTS"
echo "== killed the raylet of node doomed (pid $raylet); trial $trial was at epoch $epoch" >&2

python "$HERE/wait_for.py" "$STORAGE/faults" --host head --trial "$trial" \
    --driver "$driver" > /dev/null
kill -9 "$driver"
wait "$driver" || true
echo "driver_killed $(date +%s.%N)" >> "$EVENTS"
echo "== killed the study driver; resuming" >&2

python -m study.run vae_knn "${ARGS[@]}" --resume
echo "== done" >&2
