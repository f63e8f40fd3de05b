#!/usr/bin/env bash
# Times the same workloads through PyTorch (the parity fixtures' model, at its best here:
# OpenBLAS with AVX-512 kernels, OMP_NUM_THREADS threads) and through ./nanogpt bench, one
# after the other in this run, and prints one table. Needs python3-torch and
# libopenblas0-openmp (Debian). usage: bash bench/compare.sh [W1 W2 W3 S2 S3] (default: all)
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
# the number after the last match of $1 (a regex without "|")
field() { grep -E "$1" | tail -n 1 | sed -E "s|.*$1 *([0-9.]+).*|\\1|"; }

declare -A DESC TORCH TORCH16 OURS OURS16 TRSS ORSS ORSS16 SETUP SETUP16
# each case runs PyTorch fp32, PyTorch bf16 autocast, ours fp32, ours bf16, back to back
run_case() {   # name, description, torch args, our args, iterations
    local name=$1 desc=$2 targs=$3 oargs=$4 iters=$5 d
    echo "== $name: $desc" >&2
    DESC[$name]=$desc
    for d in float32 bfloat16; do
        torch_run $targs --iters="$iters" --dtype=$d | tee /dev/stderr > "$tmp/t_$d.out"
    done
    for d in float32 bfloat16; do
        ours_run $oargs --bench_iters="$iters" --dtype=$d | tee /dev/stderr > "$tmp/o_$d.out"
    done
    TORCH[$name]=$(field 'ms/iter: median' < "$tmp/t_float32.out"); TORCH16[$name]=$(field 'ms/iter: median' < "$tmp/t_bfloat16.out")
    OURS[$name]=$(field 'ms/iter: median' < "$tmp/o_float32.out"); OURS16[$name]=$(field 'ms/iter: median' < "$tmp/o_bfloat16.out")
    TRSS[$name]=$(field 'peak RSS:' < "$tmp/t_float32.out"); ORSS[$name]=$(field 'peak RSS:' < "$tmp/o_float32.out")
    ORSS16[$name]=$(field 'peak RSS:' < "$tmp/o_bfloat16.out")
}
ms_token() { grep -oE '[0-9.]+ ms/token' "$1" | tail -n 1 | grep -oE '[0-9.]+'; }
run_sample() {   # name, description, torch args (empty: ours only), our args, tokens
    local name=$1 desc=$2 targs=$3 oargs=$4 n=$5 d
    echo "== $name: $desc" >&2
    DESC[$name]=$desc
    TORCH[$name]=-; TORCH16[$name]=-; TRSS[$name]=-
    if [ -n "$targs" ]; then
        for d in float32 bfloat16; do
            torch_run $targs --mode=sample --max_new_tokens="$n" --dtype=$d | tee /dev/stderr > "$tmp/t_$d.out"
        done
        TORCH[$name]=$(ms_token "$tmp/t_float32.out"); TORCH16[$name]=$(ms_token "$tmp/t_bfloat16.out")
        TRSS[$name]=$(field 'peak RSS:' < "$tmp/t_float32.out")
    fi
    for d in float32 bfloat16; do
        ours_run $oargs --mode=sample --max_new_tokens="$n" --dtype=$d | tee /dev/stderr > "$tmp/o_$d.out"
    done
    OURS[$name]=$(ms_token "$tmp/o_float32.out"); OURS16[$name]=$(ms_token "$tmp/o_bfloat16.out")
    SETUP[$name]=$(field 'setup:' < "$tmp/o_float32.out"); SETUP16[$name]=$(field 'setup:' < "$tmp/o_bfloat16.out")
    ORSS[$name]=$(field 'peak RSS:' < "$tmp/o_float32.out"); ORSS16[$name]=$(field 'peak RSS:' < "$tmp/o_bfloat16.out")
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cases=${*:-W1 W2 W3 S2 S3}
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
            "config/train_shakespeare_char.conf" 500 ;;
    S3) run_sample S3 "sampling 200 tokens, GPT-2 124M shape, block 1024 (ms/token)" "" \
            "--dataset=none --n_layer=12 --n_head=12 --n_embd=768 --block_size=1024" 200 ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
    esac
done

echo
echo "threads $THREADS; ms per training iteration (W*) or per generated token (S*), median; peak RSS in MiB;"
echo "bf16: dtype=bfloat16 (ours) and torch.autocast(\"cpu\", dtype=torch.bfloat16) (PyTorch)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "-" }'; }
printf '| %-4s | %-60s | %9s | %9s | %9s | %9s | %9s | %9s | %9s | %7s | %7s |\n' case workload "PyTorch" "PyTorch bf16" \
    "nanogpt" "nanogpt bf16" "bf16 vs fp32" "vs PyTorch" "bf16 vs PyTorch bf16" "RSS PyTorch" "RSS ours fp32/bf16"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------ -------------------------------------------------------------- ----------- ----------- ----------- ----------- ----------- ----------- ----------- --------- ---------
for c in $cases; do
    printf '| %-4s | %-60s | %9s | %9s | %9s | %9s | %9s | %9s | %9s | %7s | %7s |\n' "$c" "${DESC[$c]}" "${TORCH[$c]}" "${TORCH16[$c]}" \
        "${OURS[$c]}" "${OURS16[$c]}" "$(ratio "${OURS[$c]}" "${OURS16[$c]}")" "$(ratio "${TORCH[$c]}" "${OURS[$c]}")" \
        "$(ratio "${TORCH16[$c]}" "${OURS16[$c]}")" "${TRSS[$c]}" "${ORSS[$c]}/${ORSS16[$c]}"
done
for c in $cases; do
    if [ -n "${SETUP[$c]:-}" ]; then
        echo "$c: sampling timed on a ready model, after a first untimed call of one token (both sides); ours took ${SETUP[$c]} ms (fp32) and ${SETUP16[$c]} ms (bf16: the weight copy made) for it"
    fi
done
