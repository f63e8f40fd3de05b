#!/usr/bin/env bash
# Times the same workloads through PyTorch (the parity fixtures' model, at its best here:
# OpenBLAS with AVX-512 kernels, OMP_NUM_THREADS threads) and through ./nanogpt bench, one
# after the other in this run, and prints one table. Needs python3-torch and
# libopenblas0-openmp (Debian). usage: bash bench/compare.sh [W1 W2 W3 S2] (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS
OPENBLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -d "$OPENBLAS_DIR" ] || { echo "bench/compare.sh: install libopenblas0-openmp for PyTorch's fast BLAS" >&2; exit 1; }
make -s nanogpt
[ -f data/shakespeare_char/meta.json ] || ./nanogpt prepare --dataset=shakespeare_char >/dev/null

torch_run() { LD_LIBRARY_PATH=$OPENBLAS_DIR OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_bench.py "$@"; }
ours_run() { ./nanogpt bench "$@" --threads="$THREADS"; }
field() { grep -E "$1" | tail -n 1 | sed -E "s/.*$1 *([0-9.]+).*/\\1/"; }

declare -A DESC TORCH OURS TRSS ORSS
run_case() {   # name, description, torch args, our args, iterations
    local name=$1 desc=$2 targs=$3 oargs=$4 iters=$5 t o
    echo "== $name: $desc" >&2
    torch_run $targs --iters="$iters" | tee /dev/stderr > "$tmp/t.out"
    ours_run $oargs --bench_iters="$iters" | tee /dev/stderr > "$tmp/o.out"
    DESC[$name]=$desc
    TORCH[$name]=$(field 'median' < "$tmp/t.out"); OURS[$name]=$(field 'median' < "$tmp/o.out")
    TRSS[$name]=$(field 'peak RSS:' < "$tmp/t.out"); ORSS[$name]=$(field 'peak RSS:' < "$tmp/o.out")
}
run_sample() {
    local name=$1 desc=$2 targs=$3 oargs=$4
    echo "== $name: $desc" >&2
    torch_run $targs --mode=sample --max_new_tokens=500 | tee /dev/stderr > "$tmp/t.out"
    ours_run $oargs --mode=sample | tee /dev/stderr > "$tmp/o.out"
    DESC[$name]=$desc
    TORCH[$name]=$(grep -oE '[0-9.]+ ms/token' "$tmp/t.out" | grep -oE '[0-9.]+'); OURS[$name]=$(grep -oE '[0-9.]+ ms/token' "$tmp/o.out" | grep -oE '[0-9.]+')
    TRSS[$name]=$(field 'peak RSS:' < "$tmp/t.out"); ORSS[$name]=$(field 'peak RSS:' < "$tmp/o.out")
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cases=${*:-W1 W2 W3 S2}
for c in $cases; do
    case $c in
    W1) run_case W1 "4/4/128, T=64, B=12, V=65 (nanoGPT README CPU)" \
            "--n_layer=4 --n_head=4 --n_embd=128 --block_size=64 --batch_size=12 --vocab_size=65" \
            "config/train_shakespeare_char_cpu.conf" 20 ;;
    W2) run_case W2 "6/6/384, T=256, B=64, V=65, dropout 0.2 (shakespeare_char)" \
            "--n_layer=6 --n_head=6 --n_embd=384 --block_size=256 --batch_size=64 --vocab_size=65 --dropout=0.2" \
            "config/train_shakespeare_char.conf" 3 ;;
    W3) run_case W3 "12/12/768, T=64, B=4, V=50304 (GPT-2 124M shape)" \
            "--n_layer=12 --n_head=12 --n_embd=768 --block_size=64 --batch_size=4 --vocab_size=50304" \
            "--dataset=none --n_layer=12 --n_head=12 --n_embd=768 --block_size=64 --batch_size=4 --gradient_accumulation_steps=1" 3 ;;
    S2) run_sample S2 "sampling 500 tokens from the W2 model (ms/token)" \
            "--n_layer=6 --n_head=6 --n_embd=384 --block_size=256 --vocab_size=65" \
            "config/train_shakespeare_char.conf --max_new_tokens=500" ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
    esac
done

echo
echo "threads $THREADS; ms per training iteration (W*) or per generated token (S*), median; peak RSS in MiB"
printf '| %-4s | %-60s | %10s | %10s | %7s | %9s | %9s |\n' case workload "PyTorch ms" "nanogpt ms" speedup "PyTorch RSS" "nanogpt RSS"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ------ -------------------------------------------------------------- ------------ ------------ --------- ----------- -----------
for c in $cases; do
    printf '| %-4s | %-60s | %10s | %10s | %6.2fx | %9s | %9s |\n' "$c" "${DESC[$c]}" "${TORCH[$c]}" "${OURS[$c]}" \
        "$(awk -v t="${TORCH[$c]}" -v o="${OURS[$c]}" 'BEGIN { print (o > 0 ? t / o : 0) }')" "${TRSS[$c]}" "${ORSS[$c]}"
done
