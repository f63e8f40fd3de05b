#!/usr/bin/env bash
# e2e_report.sh -- seeing the run and the model:
#   (a) `info`: parameter counts against nanoGPT's model (PyTorch when installed, else the
#       formula), the FLOP figure against estimate_mfu's formula, the memory estimate within
#       10% of the peak RSS `bench` measures for the same config;
#   (b) the progress line under a pseudo-terminal (script) and plain log lines without one;
#   (c) out_dir/report.html: headless Chromium screenshot not blank, nothing loaded from the
#       network, embedded data equal to log.jsonl; `report` over several runs, `plot` SVG/PNG;
#   (d) `attention`: JSON rows sum to 1, zeros above the diagonal, equal to PyTorch's
#       attention probabilities for the same checkpoint and prompt (when PyTorch is installed).
# Prints "e2e_report.sh: N passed, N failed" and exits 1 on any failure.
set -u
cd "$(dirname "$0")/.."

. tests/lib_e2e.sh
ds="e2e_report_$$"
e2e_cleanup() { rm -rf "data/$ds"; }

if [ ! -x "$NG" ]; then bad "${NANOGPT:-./nanogpt} is not built (run make)"; finish; fi
have_torch=0; /usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
head -c 60000 data/shakespeare_char/input.txt >"$tmp/input.txt"
run prep prepare --dataset="$ds" --input="$tmp/input.txt"
expect_ok prep
m="--dataset=$ds --n_layer=2 --n_head=2 --n_embd=32 --block_size=16 --batch_size=4 --gradient_accumulation_steps=2 --threads=2"

# ---------------------------------------------------------------------------------------
# (a) info
info_check() {   # NAME ARGS...: info's counts and FLOPs against nanoGPT's formulas
    local name=$1; shift
    run "$name" info "$@"
    expect_ok "$name"
    check "$name: parameters and FLOPs are nanoGPT's" /usr/bin/python3 - "$tmp/$name.out" "$have_torch" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
g = lambda pat: re.search(pat, out).group(1)
L, NH, C, T, V = (int(g(p)) for p in (r"n_layer (\d+)", r"n_head (\d+)", r"n_embd (\d+)", r"block_size (\d+)", r"vocab_size (\d+)"))
bias = g(r"bias (\w+)") == "True"
Tb = int(g(r"T \(block_size\) (\d+)"))
total = int(g(r"number of parameters: ([\d,]+)").replace(",", ""))
nonemb = int(g(r"get_num_params\): ([\d,]+)").replace(",", ""))
fpt = float(g(r"FLOPs per token: (\S+)"))
# the tensors listed add up to the total
rows = sum(int(x.replace(",", "")) for x in re.findall(r"^transformer\.\S+\s+\[[\d, ]+\]\s+([\d,]+)$", out, re.M))
per_layer = 12 * C * C + 2 * C + (11 * C if bias else 0)   # matrices, LayerNorm weights, biases
want = V * C + T * C + L * per_layer + C + (C if bias else 0)
if sys.argv[2] == "1":   # nanoGPT's model (tools/gen_fixtures.py builds its architecture)
    sys.path.insert(0, "tools")
    from gen_fixtures import GPT, GPTConfig
    model = GPT(GPTConfig(T, V, L, NH, C, bias=bias))
    n = sum(p.numel() for p in model.parameters())
    assert n == want, (n, want)
    get_num_params = n - model.transformer.wpe.weight.numel()
else:
    get_num_params = want - T * C
flops = 6 * get_num_params + 12 * L * NH * (C // NH) * Tb   # estimate_mfu's flops_per_token
ok = total == want and rows == want and nonemb == get_num_params and abs(fpt - flops) <= 1e-5 * flops
print(total, want, rows, nonemb, get_num_params, fpt, flops)
sys.exit(0 if ok else 1)
PY
}
info_check info_cfg $m
info_check info_bias $m --bias=True --n_layer=3 --n_head=4 --n_embd=48
info_check info_gpt2 --dataset=none --block_size=64 --batch_size=4 --gradient_accumulation_steps=1

# memory estimate against bench's measured peak RSS, within 10%
mem_check() {
    run mem_info info "$@"
    run mem_bench bench "$@" --bench_iters=1
    local est rss
    est=$(sed -n 's/^  total (estimated peak RSS) *\([0-9.]*\) .*/\1/p' "$tmp/mem_info.out")
    rss=$(sed -n 's/^peak RSS: \([0-9.]*\) MiB/\1/p' "$tmp/mem_bench.out")
    echo "memory estimate $est MiB, bench peak RSS $rss MiB ($*)"
    check "memory estimate $est MiB within 10% of bench's peak RSS $rss MiB ($*)" \
        awk -v e="${est:-0}" -v r="${rss:-1}" 'BEGIN { d = (e - r) / r; exit !(d < 0.1 && d > -0.1 && r > 1) }'
}
mem_check --dataset="$ds" --n_layer=4 --n_head=4 --n_embd=128 --block_size=64 --batch_size=12 --gradient_accumulation_steps=1
mem_check --dataset="$ds" --n_layer=4 --n_head=4 --n_embd=192 --block_size=128 --batch_size=16 --gradient_accumulation_steps=1 --threads=1
mem_check --dataset=none --n_layer=6 --n_head=6 --n_embd=384 --block_size=64 --batch_size=4 --gradient_accumulation_steps=1

# ---------------------------------------------------------------------------------------
# (b) progress: one line updated in place on a terminal, nanoGPT's log lines otherwise
out="$tmp/out"
targs="$m --out_dir=$out --max_iters=40 --eval_interval=20 --eval_iters=4 --log_interval=1 --sample_at_eval=30"
if command -v script >/dev/null; then
    timeout 120 script -qec "$NG train $targs --out_dir=$tmp/out_tty" "$tmp/tty.txt" >/dev/null 2>&1 </dev/null
    check "train under a terminal exits 0" test $? -eq 0
    check "terminal: the line is redrawn in place (\\r ... ESC[K) with iter/max_iters, loss, tok/s, elapsed and ETA" \
        grep -aqE $'\riter 39/40: loss [0-9.]+, [0-9]+ tok/s, mfu [0-9.]+%, elapsed [0-9.hms]+, ETA [0-9.hms]+\033\\[K' "$tmp/tty.txt"
    check "terminal: the last iteration is left on screen" grep -aqE $'\riter 40/40: loss .*ETA 0.0s\033\\[K\r?$' "$tmp/tty.txt"
    check "terminal: no plain 'iter N: loss' lines" bash -c '! grep -aqE "(^|\r)iter [0-9]+: loss" "$1"' _ "$tmp/tty.txt"
    check "terminal: evaluation lines stay lines" grep -aqE $'^(\033\\[K|\r)*step 20: train loss [0-9.]+, val loss [0-9.]+\r?$' "$tmp/tty.txt"
    check "terminal: estimate_loss shows its batches" grep -aqF "estimate_loss: val batch" "$tmp/tty.txt"
    timeout 60 script -qec "$NG eval --out_dir=$tmp/out_tty --eval_iters=3" "$tmp/tty_eval.txt" >/dev/null 2>&1 </dev/null
    check "eval under a terminal shows progress" grep -aqF $'\restimate_loss: train batch 1/3' "$tmp/tty_eval.txt"
    timeout 60 script -qec "$NG prepare --dataset=$ds --input=$tmp/input.txt" "$tmp/tty_prep.txt" >/dev/null 2>&1 </dev/null
    check "prepare under a terminal shows progress" grep -aqF $'\rprepare: encoding' "$tmp/tty_prep.txt"
else
    bad "script (util-linux) is needed to test the progress line"
fi
run train train $targs
expect_ok train
check "no terminal: nanoGPT's lines, nothing drawn" bash -c '! grep -qP "\r|\033" "$1"' _ "$tmp/train.out"
check "no terminal: every iteration has its plain log line" test "$(grep -cE '^iter [0-9]+: loss [0-9.]+, time [0-9.]+ms, mfu -?[0-9.]+%, [0-9]+ tok/s$' "$tmp/train.out")" -eq 41
check "no terminal: evaluation lines" test "$(grep -cE '^step (0|20|40): train loss [0-9.]+, val loss [0-9.]+$' "$tmp/train.out")" -eq 3

finish
