# Two-node cluster: a CPU head (1 CPU) and a worker declaring one logical GPU (3 CPUs).
#  1. GPU study joined by HOST:PORT, --gpus-per-trial 0.5: every trial on gpu1, at most
#     two at once (the GPU, not the CPUs, is the limit there).
#  2. CPU-only study joined by `--address auto`: 4 one-CPU trials fill both nodes.
# Usage (inside the namespaces, see lib.sh): two_node.sh STORAGE
source "$(dirname "$0")/lib.sh"
STORAGE=$1

start_head head --num-cpus 1 --num-gpus 0
start_node gpu1 --address "127.0.0.1:$HEAD_PORT" --num-cpus 3 --num-gpus 1
wait_nodes 2

echo "== GPU study" >&2
study --storage "$STORAGE" --name gpu --address "127.0.0.1:$HEAD_PORT" \
    --gpus-per-trial 0.5 --cpus-per-trial 1 --num-samples 4 --max-epochs 4
echo "== CPU study" >&2
study --storage "$STORAGE" --name cpu --address auto \
    --gpus-per-trial 0 --cpus-per-trial 1 --num-samples 4 --max-epochs 2
echo "== done" >&2
