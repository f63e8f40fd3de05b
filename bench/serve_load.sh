#!/usr/bin/env bash
# serve_load.sh -- load benchmark of `nanogpt serve` on loopback (bounded: two runs of
# MAX_TOKENS tokens per stream): one stream, then STREAMS concurrent streams, on a randomly
# initialised model of GPT-2 124M's shape (12 layers, 12 heads, 768 channels, block 1024,
# GPT-2's vocabulary; made by a one-step `train --learning_rate=0` run on a small GPT-2-tokenized dataset,
# kept in $WORK between runs). Prints aggregate tokens/s and p50/p99 per-token latency.
#   bash bench/serve_load.sh [STREAMS=8] [MAX_TOKENS=64]
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS=${1:-8}; MAX_TOKENS=${2:-64}
WORK=${WORK:-/tmp/nanogpt_serve_load}
NG=${NANOGPT:-./nanogpt}
ds=serve_load_$$
mkdir -p "$WORK"
SPID=
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; wait 2>/dev/null; rm -rf "data/$ds"' EXIT
if [ ! -f "$WORK/out/ckpt.safetensors" ]; then
    head -c 60000 data/shakespeare_char/input.txt > "$WORK/input.txt"
    "$NG" prepare --dataset=$ds --tokenizer=gpt2 --input="$WORK/input.txt" >/dev/null
    "$NG" train --dataset=$ds --out_dir="$WORK/out" --n_layer=12 --n_head=12 --n_embd=768 --block_size=1024 \
        --batch_size=1 --gradient_accumulation_steps=1 --max_iters=1 --eval_interval=1 --eval_iters=1 --learning_rate=0 >/dev/null
fi
"$NG" serve --out_dir="$WORK/out" --port=0 2>"$WORK/serve.err" &
SPID=$!
PORT=
for _ in $(seq 600); do
    PORT=$(sed -n 's/^serving .* on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$WORK/serve.err")
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/serve.err"; exit 1; }
echo "nanogpt serve, GPT-2 124M shape (random weights), $(nproc) cores, $MAX_TOKENS tokens per stream"
timeout 600 /usr/bin/python3 bench/serve_load.py "$PORT" 1 "$MAX_TOKENS"
timeout 600 /usr/bin/python3 bench/serve_load.py "$PORT" "$STREAMS" "$MAX_TOKENS"
