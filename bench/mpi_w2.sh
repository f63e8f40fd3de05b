#!/usr/bin/env bash
# mpi_w2.sh -- W2 (config/train_shakespeare_char.conf: 6/6/384, T=256, B=64, dropout 0.2) with
# 2 micro-steps per optimizer step (32,768 tokens), trained for a few steps as 1 process x 2
# threads and as 2 ranks x 1 thread (mpirun), ROUNDS times alternately. Prints per run the median
# step time and tokens/s over steps 1.. (step 0 warms up), and for the 2-rank runs the share of
# the step rank 0 spent inside MPI calls (comm_ms / time_ms; waiting for the other rank included).
# Needs an MPI build and `./nanogpt prepare` (data/shakespeare_char).
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2} STEPS=${STEPS:-5}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=(config/train_shakespeare_char.conf --gradient_accumulation_steps=2 --max_iters=$STEPS --eval_interval=100000
      --eval_iters=1 --always_save_checkpoint=False --log_interval=1)
summary() {   # LABEL LOG
    local times med share
    times=$(grep '"loss"' "$2" | tail -n +2 | grep -o '"time_ms": [0-9.]*' | cut -d' ' -f2 | sort -g)
    med=$(printf '%s\n' $times | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    share=$(grep '"loss"' "$2" | tail -n +2 | awk '{ match($0, /"time_ms": [0-9.]+/); t += substr($0, RSTART + 11, RLENGTH - 11)
        if (match($0, /"comm_ms": [0-9.]+/)) c += substr($0, RSTART + 11, RLENGTH - 11) }
        END { if (c > 0) printf "  comm %.1f%% of the step", 100 * c / t }')
    printf '%-20s median %7.0f ms/step %6.0f tok/s%s  (load average %s)\n' "$1" "$med" "$(awk -v m="$med" 'BEGIN { print 32768 / m * 1000 }')" \
        "$share" "$(cut -d' ' -f1 /proc/loadavg)"
}
for r in $(seq "$ROUNDS"); do
    ./nanogpt train "${args[@]}" --threads=2 --out_dir="$out/a$r" >/dev/null 2>&1
    summary "1 rank x 2 threads" "$out/a$r/log.jsonl"
    mpirun -np 2 --bind-to none ./nanogpt train "${args[@]}" --out_dir="$out/b$r" >/dev/null 2>&1
    summary "2 ranks x 1 thread" "$out/b$r/log.jsonl"
done
