#!/usr/bin/env bash
# e2e_reliability.sh -- a training run is never lost, and hostile input never crashes:
#   (a) exact resume: 2N iterations straight == N, stop, resume N more (dropout > 0, gradient
#       accumulation): bitwise identical final tensors and identical "iter K: loss X" lines;
#       the same after a SIGINT in the middle and a resume;
#   (b) interrupts: SIGTERM saves and exits 0; two quick SIGINTs exit at once (130) and the
#       previous checkpoint still loads;
#   (c) kill -9 at >= 20 random moments of a run that saves every iteration: the checkpoint
#       is always loadable once it exists, and stale temporary files never break a run;
#   (d) divergence: a non-finite loss stops the run (exit 1, the iteration named) and the last
#       good checkpoint is byte-identical;
#   (e) hostile input of every kind (checkpoints, token files, text, config, unwritable or full
#       out_dir, allocations that fail): one line "nanogpt: <file>: <problem>", exit status 1,
#       never a crash or a hang. The list of inputs and messages is docs/bad-inputs.md:
#       NG_WRITE_DOC=1 regenerates it; normal runs check it is up to date.
# The binary is $NANOGPT (default ./nanogpt, built by `make`). Prints
# "e2e_reliability.sh: N passed, N failed" and exits 1 on any failure.
set -u
cd "$(dirname "$0")/.."
. tests/lib_e2e.sh
ds="e2e_rel_$$"
mnt=""
bg_pid=""
e2e_cleanup() {
    [ -n "$bg_pid" ] && kill -9 "$bg_pid" 2>/dev/null
    [ -n "$mnt" ] && umount "$mnt" 2>/dev/null
    rm -rf "data/$ds" "data/${ds}_"*
}
# the "iter K: loss X" lines of an output file (the timings differ between runs)
losses() { grep -ho '^iter [0-9]*: loss [0-9.a-z-]*' "$@"; }
# iter lines K with LO <= K < HI
losses_between() { local lo=$1 hi=$2; shift 2; losses "$@" | awk -v lo="$lo" -v hi="$hi" '{ k = $2 + 0 } k >= lo && k < hi'; }
# wait_for FILE REGEX SECONDS: until a line of FILE matches (1 if the time runs out)
wait_for() {
    local f=$1 re=$2 n=$(($3 * 50))
    while [ "$n" -gt 0 ]; do
        grep -qE "$re" "$f" 2>/dev/null && return 0
        sleep 0.02; n=$((n - 1))
    done
    return 1
}
# the tensors (names, dtypes, shapes, bytes) and the run state (iter_num, optimizer_step,
# rng_state, best_val_loss, model_args) of two checkpoints are identical; the rest of the
# metadata (the config: max_iters, init_from, ...) may differ
same_tensors() {
    python3 - "$1" "$2" <<'EOF'
import json, struct, sys
def load(p):
    b = open(p, "rb").read()
    (n,) = struct.unpack("<Q", b[:8])
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    d = b[8 + n:]
    return {k: (v["dtype"], v["shape"], d[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in h.items()}, meta
(a, ma), (b, mb) = load(sys.argv[1]), load(sys.argv[2])
bad = []
if sorted(a) != sorted(b): bad.append("tensor names differ: %s" % sorted(set(a) ^ set(b))[:5])
bad += ["tensor %s differs" % k for k in sorted(set(a) & set(b)) if a[k] != b[k]]
bad += ["metadata %s: %r vs %r" % (k, ma.get(k), mb.get(k))
        for k in ("iter_num", "optimizer_step", "rng_state", "best_val_loss", "model_args") if ma.get(k) != mb.get(k)]
if len(a) < 10 or not any(k.startswith("optimizer.") for k in a): bad.append("only %d tensors, or no optimizer state" % len(a))
for x in bad[:8]: print("  " + x, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}
# a metadata value of a checkpoint
ckpt_meta() {
    python3 -c '
import json, struct, sys
b = open(sys.argv[1], "rb").read(); (n,) = struct.unpack("<Q", b[:8])
print(json.loads(b[8:8 + n]).get("__metadata__", {}).get(sys.argv[2], ""))' "$1" "$2" 2>/dev/null
}
tmp_files() { find "$1" -maxdepth 1 -name 'ckpt.safetensors.tmp.*' 2>/dev/null | wc -l; }

if [ ! -x "$NG" ]; then bad "$NG is not built (run make)"; finish; fi
if ! command -v python3 >/dev/null; then bad "python3 is needed to read checkpoints"; finish; fi

# the dataset: the first 200 kB of tinyshakespeare
head -c 200000 data/shakespeare_char/input.txt >"$tmp/input.txt"
run prep prepare --dataset="$ds" --input="$tmp/input.txt"
expect_ok prep
V=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "data/$ds/meta.json" 2>/dev/null)
if [ -z "$V" ]; then bad "prepare did not write data/$ds/meta.json"; finish; fi

# seconds since the last section() call, printed with the section's name
sec_t=$SECONDS; sec_name=""
section() { [ -n "$sec_name" ] && echo "$sec_name: $((SECONDS - sec_t))s"; sec_name=$1; sec_t=$SECONDS; }

# ---------------------------------------------------------------------------------------
# (a) exact resume. N = 50; evaluation (and a checkpoint) every N iterations.
section "(a) exact resume"
N=50
ex=(--dataset="$ds" --n_layer=2 --n_head=2 --n_embd=48 --block_size=32 --batch_size=4 --gradient_accumulation_steps=2
    --dropout=0.1 --bias=True --eval_iters=2 --eval_interval=$N --always_save_checkpoint=True --log_interval=1
    --learning_rate=1e-2 --min_lr=1e-3 --warmup_iters=5 --lr_decay_iters=$((2 * N)) --seed=4321 --threads=2)
run straight train "${ex[@]}" --out_dir="$tmp/straight" --max_iters=$((2 * N))
expect_ok straight
run half1 train "${ex[@]}" --out_dir="$tmp/split" --max_iters=$N
expect_ok half1
check "the first half ends with a checkpoint at iteration $N" test "$(ckpt_meta "$tmp/split/ckpt.safetensors" iter_num)" = "$N"
run half2 train "${ex[@]}" --out_dir="$tmp/split" --max_iters=$((2 * N)) --init_from=resume
expect_ok half2
check "the straight run's checkpoint is at iteration $((2 * N))" test "$(ckpt_meta "$tmp/straight/ckpt.safetensors" iter_num)" = "$((2 * N))"
check "N + resume + N: the final tensors (model and AdamW moments) are bitwise identical to 2N straight" \
    same_tensors "$tmp/straight/ckpt.safetensors" "$tmp/split/ckpt.safetensors"
losses_between $N $((2 * N)) "$tmp/straight.out" >"$tmp/l_straight"
losses_between $N $((2 * N)) "$tmp/half2.out" >"$tmp/l_half2"
check "the resumed run logs $N iterations" test "$(wc -l <"$tmp/l_half2")" -eq $N
check "iter K: loss X for K in $N..$((2 * N - 1)) are identical" cmp -s "$tmp/l_straight" "$tmp/l_half2"
check "the resumed evaluation at step $N is the one of the straight run" \
    test "$(grep "^step $N:" "$tmp/half2.out")" = "$(grep "^step $N:" "$tmp/straight.out")"

# stopped by SIGINT in the middle, then resumed to 2N
"$NG" train "${ex[@]}" --out_dir="$tmp/sigint" --max_iters=$((2 * N)) >"$tmp/int1.out" 2>"$tmp/int1.err" &
bg_pid=$!
# stopped (SIGSTOP) as soon as it logs an iteration < 10, so that the SIGINT lands mid-run
# however fast the machine; it is handled once the run continues (SIGCONT)
if wait_for "$tmp/int1.out" "^iter [0-9]:" 60; then kill -STOP "$bg_pid"; kill -INT "$bg_pid"; kill -CONT "$bg_pid"; fi
wait "$bg_pid"; rc=$?; bg_pid=""
check "SIGINT in the middle: exit status 0 (got $rc)" test "$rc" -eq 0
check "SIGINT: 'interrupted at iter K: saving checkpoint'" grep -q '^interrupted at iter [0-9]*: saving checkpoint' "$tmp/int1.out"
k=$(sed -n 's/^interrupted at iter \([0-9]*\):.*/\1/p' "$tmp/int1.out")
echo "SIGINT stopped the run at iter ${k:-?} of $((2 * N))"
check "SIGINT stopped the run before its end (at iter '$k')" test -n "$k" -a "${k:-999}" -lt $((2 * N))
check "the interrupted checkpoint holds iter_num $k" test "$(ckpt_meta "$tmp/sigint/ckpt.safetensors" iter_num)" = "$k"
run int2 train "${ex[@]}" --out_dir="$tmp/sigint" --max_iters=$((2 * N)) --init_from=resume
expect_ok int2
check "SIGINT + resume: the final tensors are bitwise identical to the straight run" \
    same_tensors "$tmp/straight/ckpt.safetensors" "$tmp/sigint/ckpt.safetensors"
check "SIGINT + resume: every iter K: loss X line is identical to the straight run" \
    cmp -s <(losses_between 0 $((2 * N + 1)) "$tmp/straight.out") <(losses_between 0 $((2 * N + 1)) "$tmp/int1.out" "$tmp/int2.out")

# the same in dtype=bfloat16 (bf16 matmuls, fp32 master weights and AdamW moments in the
# checkpoint): N2 + resume + N2 is bitwise the straight run; the checkpoint loads in float32
# and a float32 one in bfloat16; float16 is refused with one line
section "(a2) exact resume in bfloat16"
N2=20
exb=("${ex[@]}" --dtype=bfloat16 --eval_interval=$N2 --lr_decay_iters=$((2 * N2)))
run bstraight train "${exb[@]}" --out_dir="$tmp/bstraight" --max_iters=$((2 * N2))
expect_ok bstraight
check "bfloat16 training says so" grep -q '^dtype bfloat16: bf16 matmuls' "$tmp/bstraight.out"
run bhalf1 train "${exb[@]}" --out_dir="$tmp/bsplit" --max_iters=$N2
expect_ok bhalf1
run bhalf2 train "${exb[@]}" --out_dir="$tmp/bsplit" --max_iters=$((2 * N2)) --init_from=resume
expect_ok bhalf2
check "bfloat16: N + resume + N: the final tensors are bitwise identical to 2N straight" \
    same_tensors "$tmp/bstraight/ckpt.safetensors" "$tmp/bsplit/ckpt.safetensors"
check "bfloat16: iter K: loss X lines of the resumed half are identical" \
    cmp -s <(losses_between $N2 $((2 * N2)) "$tmp/bstraight.out") <(losses_between $N2 $((2 * N2)) "$tmp/bhalf2.out")
run fstraight train "${ex[@]}" --eval_interval=$N2 --lr_decay_iters=$((2 * N2)) --out_dir="$tmp/fstraight" --max_iters=$N2
expect_ok fstraight
losses_between 1 $N2 "$tmp/fstraight.out" >"$tmp/l_f32"
losses_between 1 $N2 "$tmp/bhalf1.out" >"$tmp/l_bf16"
check "bfloat16 and float32 runs log $((N2 - 1)) iterations each, with different losses (bf16 matmuls are in use)" \
    test "$(wc -l <"$tmp/l_f32")" -eq $((N2 - 1)) -a "$(wc -l <"$tmp/l_bf16")" -eq $((N2 - 1)) -a "$(cat "$tmp/l_f32")" != "$(cat "$tmp/l_bf16")"
run b_eval32 eval --out_dir="$tmp/bsplit" --eval_iters=2 --dtype=float32
expect_ok b_eval32
run b_resume32 train "${ex[@]}" --out_dir="$tmp/bsplit" --max_iters=$((2 * N2 + 2)) --init_from=resume --dtype=float32
expect_ok b_resume32
run f_eval16 eval --out_dir="$tmp/fstraight" --eval_iters=2 --dtype=bfloat16
expect_ok f_eval16
run f_sample16 sample --out_dir="$tmp/fstraight" --dtype=bfloat16 --num_samples=1 --max_new_tokens=20
expect_ok f_sample16
run f_resume16 train "${ex[@]}" --out_dir="$tmp/fstraight" --max_iters=$((N2 + 2)) --init_from=resume --dtype=bfloat16
expect_ok f_resume16
run f16 train "${ex[@]}" --out_dir="$tmp/f16" --max_iters=1 --dtype=float16
expect_fail f16 "dtype float16 is not supported"

# ---------------------------------------------------------------------------------------
section "(b) interrupts"
# (b) interrupts, on a model slow enough (~0.1-0.3 s an iteration) to signal mid-iteration
md=(--dataset="$ds" --n_layer=4 --n_head=4 --n_embd=128 --block_size=64 --batch_size=8 --gradient_accumulation_steps=4
    --eval_iters=1 --eval_interval=3 --always_save_checkpoint=True --max_iters=1000 --threads=2)
"$NG" train "${md[@]}" --out_dir="$tmp/term" >"$tmp/term.out" 2>"$tmp/term.err" &
bg_pid=$!
if wait_for "$tmp/term.out" "^iter 1:" 60; then kill -TERM "$bg_pid"; fi
wait "$bg_pid"; rc=$?; bg_pid=""
check "SIGTERM: exit status 0 (got $rc)" test "$rc" -eq 0
check "SIGTERM: 'terminated at iter K: saving checkpoint'" grep -q '^terminated at iter [0-9]*: saving checkpoint' "$tmp/term.out"
check "SIGTERM: the checkpoint holds the iteration reached" \
    test "$(ckpt_meta "$tmp/term/ckpt.safetensors" iter_num)" = "$(sed -n 's/^terminated at iter \([0-9]*\):.*/\1/p' "$tmp/term.out")"
run term_eval eval --out_dir="$tmp/term" --eval_iters=1
expect_ok term_eval

# SIGTERM during an evaluation (here of 10^6 batches, hours) ends it between two batches:
# the checkpoint of the iterations done, at once
"$NG" train "${md[@]}" --eval_iters=1000000 --out_dir="$tmp/term_ev" >"$tmp/term_ev.out" 2>"$tmp/term_ev.err" &
bg_pid=$!
if wait_for "$tmp/term_ev.out" "^using [0-9]+ thread" 60; then sleep 1; kill -TERM "$bg_pid"; fi
t_sig=$(date +%s)
wait "$bg_pid"; rc=$?; bg_pid=""
check "SIGTERM during an evaluation: exit status 0 (got $rc)" test "$rc" -eq 0
check "SIGTERM during an evaluation: ends within 20 s (took $(( $(date +%s) - t_sig )) s)" test $(( $(date +%s) - t_sig )) -le 20
check "SIGTERM during an evaluation: 'terminated at iter 0: saving checkpoint'" grep -q '^terminated at iter 0: saving checkpoint' "$tmp/term_ev.out"
check "SIGTERM during an evaluation: no loss printed for it" test "$(grep -c '^step 0:' "$tmp/term_ev.out")" -eq 0
check "SIGTERM during an evaluation: the checkpoint is at iteration 0" test "$(ckpt_meta "$tmp/term_ev/ckpt.safetensors" iter_num)" = 0
run term_ev_resume train "${md[@]}" --out_dir="$tmp/term_ev" --init_from=resume --max_iters=1
expect_ok term_ev_resume
check "SIGTERM during an evaluation: the resumed run evaluates iteration 0 again" grep -q '^step 0: train loss' "$tmp/term_ev_resume.out"

# a checkpoint at iteration 3, then a resumed run that evaluates (and saves) no more: the
# only save it could make is the one the first SIGINT asks for, at the end of an iteration
# (16 micro-steps, ~0.25 s) that the second SIGINT, 0.05 s later, cuts short
run int2x_prep train "${md[@]}" --out_dir="$tmp/int2x" --max_iters=3
expect_ok int2x_prep
cp "$tmp/int2x/ckpt.safetensors" "$tmp/int2x.before"
"$NG" train "${md[@]}" --out_dir="$tmp/int2x" --init_from=resume --eval_interval=100000 --gradient_accumulation_steps=16 \
    >"$tmp/int2x.out" 2>"$tmp/int2x.err" &
bg_pid=$!
if wait_for "$tmp/int2x.out" "^iter 4:" 90; then kill -INT "$bg_pid"; sleep 0.05; kill -INT "$bg_pid"; fi
wait "$bg_pid"; rc=$?; bg_pid=""
check "two quick SIGINTs: exit status 130 at once (got $rc)" test "$rc" -eq 130
check "two quick SIGINTs: the message says so" grep -q 'second interrupt, exiting now' "$tmp/int2x.err"
check "two quick SIGINTs: the previous checkpoint is byte-identical" cmp -s "$tmp/int2x/ckpt.safetensors" "$tmp/int2x.before"
run int2x_eval eval --out_dir="$tmp/int2x" --eval_iters=1
expect_ok int2x_eval

# ---------------------------------------------------------------------------------------
section "(c) kill -9"
# (c) kill -9 at random moments of runs that save every iteration (a ~10 MB checkpoint:
# params and both AdamW moments), each restarted from the checkpoint left by the last. One
# thread and a tiny batch, so that saving takes most of the time (~25 ms a save, ~8 ms the rest;
# no sample at each evaluation: 200 tokens through a block of 16 took seconds under ASan)
kd="$tmp/kill9"
k9=(--dataset="$ds" --out_dir="$kd" --n_layer=4 --n_head=4 --n_embd=128 --block_size=16 --batch_size=1
    --gradient_accumulation_steps=1 --eval_iters=1 --eval_interval=1 --always_save_checkpoint=True --log_interval=100
    --max_iters=100000 --threads=1 --sample_at_eval=0)
RANDOM=${NG_KILL_SEED:-20240611}
kills=0; saved_once=0; loads=0; mid_save=0; lost=0; unloadable=0
for i in $(seq 1 22); do
    from=scratch
    [ -f "$kd/ckpt.safetensors" ] && from=resume
    "$NG" train "${k9[@]}" --init_from=$from >"$tmp/k9.out" 2>"$tmp/k9.err" &
    bg_pid=$!
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 0.05 + 1.45 * r / 32767 }')"
    kill -9 "$bg_pid" 2>/dev/null && kills=$((kills + 1))
    wait "$bg_pid" 2>/dev/null; bg_pid=""
    [ "$(tmp_files "$kd")" -gt 0 ] && mid_save=$((mid_save + 1))
    if [ -f "$kd/ckpt.safetensors" ]; then
        saved_once=1
        if timeout 60 "$NG" eval --out_dir="$kd" --eval_iters=1 >"$tmp/k9e.out" 2>"$tmp/k9e.err"; then loads=$((loads + 1))
        else unloadable=$((unloadable + 1)); echo "  after kill $i: $(cat "$tmp/k9e.err")" >&2; fi
    elif [ "$saved_once" -eq 1 ]; then
        lost=$((lost + 1))
    fi
done
echo "kill -9: $kills kills, $loads loadable checkpoints after them, $mid_save left a temporary file (killed mid-save)"
check "kill -9 at >= 20 moments (got $kills)" test "$kills" -ge 20
check "a checkpoint was saved before most kills ($loads of $kills)" test "$loads" -ge 10
check "after every kill the checkpoint, once it existed, still existed ($lost lost)" test "$lost" -eq 0
check "after every kill the checkpoint loads ($unloadable did not)" test "$unloadable" -eq 0
# stale temporary files (left by the kills, plus a planted one) do not break the next run
printf 'half a checkpoint' >"$kd/ckpt.safetensors.tmp.999999"
it=$(ckpt_meta "$kd/ckpt.safetensors" iter_num)
run k9_final train "${k9[@]}" --init_from=resume --max_iters=$((${it:-0} + 2))
expect_ok k9_final
check "the run after the kills removed every stale temporary file" test "$(tmp_files "$kd")" -eq 0
check "the run after the kills continued from iteration $it" grep -q "^step ${it:-x}: " "$tmp/k9_final.out"
run k9_sample sample --out_dir="$kd" --num_samples=1 --max_new_tokens=20
expect_ok k9_sample

# ---------------------------------------------------------------------------------------
section "(d) divergence"
# (d) divergence: learning_rate=1e9 from a good checkpoint (no evaluation, so no save,
# before the loss goes non-finite)
cp -R "$tmp/straight" "$tmp/diverge"
cp "$tmp/diverge/ckpt.safetensors" "$tmp/diverge.before"
run diverge train "${ex[@]}" --out_dir="$tmp/diverge" --init_from=resume --max_iters=$((4 * N)) --eval_interval=100000 \
    --learning_rate=1e9 --decay_lr=False
echo "divergence: $(head -n 1 "$tmp/diverge.err")"
check "divergence: exit status 1 (got $rc)" test "$rc" -eq 1
check "divergence: one line naming the iteration: $(head -c 200 "$tmp/diverge.err")" \
    grep -qE '^nanogpt: iter [0-9]+: loss is .*training diverged.*checkpoint.*is kept' "$tmp/diverge.err"
check "divergence: the last good checkpoint is byte-identical" cmp -s "$tmp/diverge/ckpt.safetensors" "$tmp/diverge.before"
# from scratch, evaluating (and saving) every iteration: the evaluation catches it before a save
run diverge2 train "${ex[@]}" --out_dir="$tmp/diverge2" --max_iters=200 --eval_interval=1 --learning_rate=1e9 \
    --decay_lr=False --grad_clip=0
echo "divergence with saves every iteration: $(head -n 1 "$tmp/diverge2.err")"
check "divergence with saves every iteration: exit status 1 (got $rc)" test "$rc" -eq 1
check "divergence with saves every iteration: the message names the step or iteration: $(head -c 200 "$tmp/diverge2.err")" \
    grep -qE '^nanogpt: (iter|step) [0-9]+: (the )?loss is .*diverged' "$tmp/diverge2.err"
if [ -f "$tmp/diverge2/ckpt.safetensors" ]; then
    run diverge2_eval eval --out_dir="$tmp/diverge2" --eval_iters=1
    expect_ok diverge2_eval
    check "the checkpoint kept after divergence has finite losses" grep -qE '^train loss [0-9.]+, val loss [0-9.]+$' "$tmp/diverge2_eval.out"
fi

# ---------------------------------------------------------------------------------------
section "(e) hostile input"
# (e) hostile input. Each case: a one-line error "nanogpt: ..." naming the file (or key)
# and the problem, exit status 1 within 20 s.
good="$tmp/straight"           # a good checkpoint (n_layer 2, n_head 2, n_embd 48, block_size 32)
doc_rows="$tmp/doc_rows"
: >"$doc_rows"
# --- checkpoints: variants of the good one, written by a small Python helper
python3 - "$good/ckpt.safetensors" "$tmp" <<'EOF'
import json, os, shutil, struct, sys
src, tmp = sys.argv[1], sys.argv[2]
raw = open(src, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
def out(name, blob):
    d = os.path.join(tmp, "ck_" + name)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "ckpt.safetensors"), "wb").write(blob)
def build(h, d=data):
    js = json.dumps(h, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js + d
def edit(f):
    h = json.loads(json.dumps(header))
    f(h)
    return build(h)
tensors = [k for k in header if k != "__metadata__"]
last = max(tensors, key=lambda k: header[k]["data_offsets"][1])
out("truncated", raw[:len(raw) * 6 // 10])
out("truncated_header", raw[:100])
out("hlen", struct.pack("<Q", 1 << 40) + raw[8:])
js = raw[8:8 + n].rstrip(b" ")
out("badjson", raw[:8] + js[:-1] + b"]" + b" " * (n - len(js) + 0) + raw[8 + n:])
def outside(h):
    b, e = h[last]["data_offsets"]; h[last]["data_offsets"] = [b + 8, e + 8]
out("outside", edit(outside))
def overlap(h):
    h["transformer.h.1.ln_1.weight"]["data_offsets"] = list(h["transformer.h.0.ln_1.weight"]["data_offsets"])
out("overlap", edit(overlap))
out("dtype", edit(lambda h: h["transformer.ln_f.weight"].update(dtype="F31")))
out("shape", edit(lambda h: h["transformer.wpe.weight"].update(shape=h["transformer.wpe.weight"]["shape"][::-1])))
out("overflow", edit(lambda h: h.__setitem__("huge", {"dtype": "F32", "shape": [1 << 32, 1 << 32, 1 << 32], "data_offsets": [0, 0]})))
out("no_model_args", edit(lambda h: h["__metadata__"].pop("model_args")))
out("missing_tensor", edit(lambda h: h.pop("transformer.ln_f.weight")))
def bad_args(h):
    a = json.loads(h["__metadata__"]["model_args"]); a["n_embd"] = 47; h["__metadata__"]["model_args"] = json.dumps(a)
out("bad_model_args", edit(bad_args))
out("not_safetensors", b"PK\x03\x04 this is a zip file, not a checkpoint" + bytes(64))
EOF
ck() { printf '%s' "$tmp/ck_$1"; }
ckf="ckpt.safetensors"
hostile truncated "checkpoint cut to 60% of its size" "$ckf" "outside the data section" -- sample --out_dir="$(ck truncated)"
hostile truncated_header "checkpoint cut to 100 bytes (inside the header)" "$ckf" "goes beyond the end of the file" -- eval --out_dir="$(ck truncated_header)"
hostile hlen "header length 2^40, beyond the file" "$ckf" "header length 1099511627776 goes beyond the end of the file" -- sample --out_dir="$(ck hlen)"
hostile badjson "malformed JSON header (last } replaced by ])" "$ckf" "header is not valid JSON" -- eval --out_dir="$(ck badjson)"
hostile outside "a tensor's data_offsets beyond the data section" "$ckf" "outside the data section" -- train --out_dir="$(ck outside)" --init_from=resume
hostile overlap "two tensors with the same data_offsets" "$ckf" "overlap" -- sample --out_dir="$(ck overlap)"
hostile dtype "unknown dtype F31" "$ckf" "unknown dtype 'F31'" -- eval --out_dir="$(ck dtype)"
hostile shape "transformer.wpe.weight shape [48, 32] instead of model_args' [32, 48]" "$ckf" "has the wrong shape" -- sample --out_dir="$(ck shape)"
hostile overflow "a tensor of shape [2^32, 2^32, 2^32] (element count overflows)" "$ckf" "overflows 64 bits" -- sample --out_dir="$(ck overflow)"
hostile no_model_args "__metadata__ without model_args" "$ckf" "no model_args" -- eval --out_dir="$(ck no_model_args)"
hostile missing_tensor "a model tensor missing" "$ckf" "transformer.ln_f.weight is missing" -- train --out_dir="$(ck missing_tensor)" --init_from=resume
hostile bad_model_args "model_args with n_embd 47, n_head 2" "$ckf" "not divisible" -- sample --out_dir="$(ck bad_model_args)"
hostile not_safetensors "a zip file named ckpt.safetensors" "$ckf" "header length" -- eval --out_dir="$(ck not_safetensors)"
hostile no_ckpt "an out_dir without a checkpoint" "$ckf" "No such file" -- sample --out_dir="$tmp/no_such_dir"
cp -R "$good" "$tmp/contra"
cp "$good/ckpt.safetensors" "$tmp/contra.before"
hostile resume_n_layer "resume with n_layer 3, checkpoint has 2" "$ckf" "cannot resume: the config sets n_layer = 3 but the checkpoint's model has 2" \
    -- train --out_dir="$tmp/contra" --init_from=resume --n_layer=3
hostile resume_n_embd "resume with n_embd 64, checkpoint has 48" "$ckf" "cannot resume: the config sets n_embd = 64 but the checkpoint's model has 48" \
    -- train --out_dir="$tmp/contra" --init_from=resume --n_embd=64
check "refused resumes leave the checkpoint byte-identical" cmp -s "$tmp/contra/ckpt.safetensors" "$tmp/contra.before"
hostile eval_block "eval with block_size 64 > the checkpoint's 32" "" "block_size 64 is larger than the checkpoint's 32" -- eval --out_dir="$good" --block_size=64
hostile sample_block "sample with block_size 64 > the checkpoint's 32" "" "block_size 64 is larger than the checkpoint's 32" -- sample --out_dir="$good" --block_size=64
hostile temp0 "temperature 0" "" "temperature must be > 0" -- sample --out_dir="$good" --temperature=0
hostile temp_neg "temperature -1" "" "temperature must be > 0" -- sample --out_dir="$good" --temperature=-1
hostile topk_neg "top_k -1" "" "top_k must be >= 1, or 0" -- sample --out_dir="$good" --top_k=-1

# --- token files and text
mkds() {   # mkds SUFFIX: data/${ds}_SUFFIX with the good meta.json, train.bin and val.bin
    mkdir -p "data/${ds}_$1"
    cp "data/$ds/meta.json" "data/$ds/train.bin" "data/$ds/val.bin" "data/${ds}_$1/"
}
tr_small=(--n_layer=1 --n_head=2 --n_embd=16 --block_size=32 --batch_size=2 --gradient_accumulation_steps=1 --max_iters=2
          --eval_iters=1)
mkds odd; printf 'x' >>"data/${ds}_odd/train.bin"
hostile odd_bin "train.bin with an odd byte count" "train.bin" "odd byte count" -- train --dataset="${ds}_odd" "${tr_small[@]}" --out_dir="$tmp/tok_out"
mkds badid; python3 -c '
import struct, sys
p, v = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read()); b[2000:2002] = struct.pack("<H", v); open(p, "wb").write(b)' \
    "data/${ds}_badid/val.bin" "$V"
hostile bad_id "val.bin with token id $V = vocab_size at position 1000" "val.bin" "token id $V at position 1000 is >= vocab_size $V" \
    -- train --dataset="${ds}_badid" "${tr_small[@]}" --out_dir="$tmp/tok_out"
mkds short; head -c 40 "data/$ds/val.bin" >"data/${ds}_short/val.bin"
hostile short_bin "val.bin of 20 tokens, block_size 32" "val.bin" "has 20 tokens, needs at least block_size+1 = 33" \
    -- train --dataset="${ds}_short" "${tr_small[@]}" --out_dir="$tmp/tok_out"
hostile short_eval "eval on a dataset shorter than block_size+1" "val.bin" "needs at least block_size+1" -- eval --out_dir="$good" --dataset="${ds}_short"
mkds nometa; printf '{"vocab_size": 3, "itos": ["a"]}' >"data/${ds}_nometa/meta.json"
hostile bad_meta "meta.json with vocab_size 3 but 1 itos entry" "meta.json" "itos" -- train --dataset="${ds}_nometa" "${tr_small[@]}" --out_dir="$tmp/tok_out"
printf 'caf\xe9 au lait\n' >"$tmp/latin1.txt"
hostile non_utf8 "prepare a Latin-1 (not UTF-8) text" "latin1.txt" "UTF-8" -- prepare --dataset="${ds}_latin1" --input="$tmp/latin1.txt"
: >"$tmp/empty.txt"
hostile empty_text "prepare an empty text" "empty.txt" "empty" -- prepare --dataset="${ds}_empty" --input="$tmp/empty.txt"

# --- config
hostile unknown_key "unknown key --n_layers" "--n_layers" "unknown config key 'n_layers' (did you mean 'n_layer'?)" -- train --n_layers=2
printf 'batch_size = 4\nn_layrs = 2\n' >"$tmp/bad.conf"
hostile unknown_key_file "unknown key in a config file, line 2" "bad.conf:2" "unknown config key 'n_layrs'" -- train "$tmp/bad.conf"
printf 'batch_size = 4\nthis is not a config line\n' >"$tmp/bad2.conf"
hostile bad_line "an unparsable config line" "bad2.conf:2" "expected 'key = value'" -- train "$tmp/bad2.conf"
hostile bad_int "batch_size=abc" "batch_size" "must be an integer" -- train --batch_size=abc
hostile nan_lr "learning_rate=nan" "learning_rate" "must be a number" -- train --learning_rate=nan
hostile divisible "n_embd 50 with n_head 4" "" "n_embd 50 is not divisible by n_head 4" -- train --dataset="$ds" --n_embd=50 --n_head=4
hostile batch0 "batch_size 0" "" "batch_size must be positive, got 0" -- train --dataset="$ds" --batch_size=0
hostile layer_neg "n_layer -1" "" "n_layer must be positive, got -1" -- train --dataset="$ds" --n_layer=-1
hostile block0 "block_size 0" "" "block_size must be positive, got 0" -- train --dataset="$ds" --block_size=0
hostile accum0 "gradient_accumulation_steps 0" "" "gradient_accumulation_steps must be positive, got 0" -- train --dataset="$ds" --gradient_accumulation_steps=0
hostile dropout1 "dropout 1.0" "" "dropout must be in [0, 1)" -- train --dataset="$ds" --dropout=1.0
hostile huge_int "batch_size 1e10" "batch_size" "out of range" -- train --batch_size=10000000000

# --- out_dir that cannot be written
: >"$tmp/afile"
hostile outdir_file "out_dir under a regular file" "afile" "Not a directory" -- train --dataset="$ds" "${tr_small[@]}" --out_dir="$tmp/afile/out"
hostile outdir_is_file "out_dir is a regular file" "afile" "not a directory" -- train --dataset="$ds" "${tr_small[@]}" --out_dir="$tmp/afile"

# --- a full disk while saving: the old checkpoint survives. A tiny tmpfs where we may mount
# one (root), else a file size limit (ulimit -f, SIGXFSZ ignored) below the checkpoint's size.
S=$(stat -c %s "$good/ckpt.safetensors")
mkdir -p "$tmp/mnt"
if mount -t tmpfs -o size=$((S + S / 2 + 65536)) tmpfs "$tmp/mnt" 2>/dev/null; then
    mnt="$tmp/mnt"
    full="$mnt/out"
    # saves at iteration 10 (fits) and 20 (the temporary copy does not fit next to it)
    timeout 120 "$NG" train "${ex[@]}" --out_dir="$full" --max_iters=25 --eval_interval=10 >"$tmp/h_disk_full.out" 2>"$tmp/h_disk_full.err"
    rc=$?
    how="tmpfs of $((S + S / 2 + 65536)) bytes"
else
    full="$tmp/full"
    run full_prep train "${ex[@]}" --out_dir="$full" --max_iters=10 --eval_interval=10
    expect_ok full_prep
    ( trap '' XFSZ; ulimit -f $((S / 2048)); exec timeout 120 "$NG" train "${ex[@]}" --out_dir="$full" --max_iters=25 --eval_interval=10 --init_from=resume ) \
        >"$tmp/h_disk_full.out" 2>"$tmp/h_disk_full.err"
    rc=$?
    how="ulimit -f $((S / 2048)) (tmpfs not mountable here)"
fi
echo "disk full: $how"
msg=$(head -n 1 "$tmp/h_disk_full.err")
check "disk full while saving: exit status 1 (got $rc)" test "$rc" -eq 1
check "disk full: one line naming the checkpoint and the error: $msg" \
    grep -qE '^nanogpt: .*ckpt\.safetensors: (write|fsync|close) failed: .*\(the previous file is untouched\)$' "$tmp/h_disk_full.err"
check "disk full: the old checkpoint (iteration 10) survives" test "$(ckpt_meta "$full/ckpt.safetensors" iter_num)" = 10
check "disk full: no temporary file is left" test "$(tmp_files "$full")" -eq 0
run full_eval eval --out_dir="$full" --eval_iters=1
expect_ok full_eval
printf '%s\t0\t| %s | `%s` | %s |\n' disk_full "out_dir on a full disk ($how) at the second save" \
    "nanogpt train ... --out_dir=$(printf '%s' "$full" | norm)" "$(printf '%s' "$msg" | norm)" >>"$doc_rows"
[ -n "$mnt" ] && umount "$mnt" && mnt=""

# --- models that cannot fit: refused before anything is allocated, saying how much they need
# (the estimate of src/model/memory.c) and which limit they exceed
if [ "$asan" -eq 0 ]; then
    # 12 layers of 2048 channels: 604 M parameters = 2.4 GB, under a 1 GB address-space limit
    ( ulimit -v 1000000; exec timeout 20 "$NG" train --dataset="$ds" --n_layer=12 --n_head=16 --n_embd=2048 --block_size=32 \
        --out_dir="$tmp/alloc" ) >"$tmp/h_alloc_ulimit.out" 2>"$tmp/h_alloc_ulimit.err"
    rc=$?
    msg=$(head -n 1 "$tmp/h_alloc_ulimit.err")
    check "allocation under ulimit -v: exit status 1 (got $rc)" test "$rc" -eq 1
    check "allocation under ulimit -v: the message says how much: $msg" \
        grep -qE '^nanogpt: the model \([0-9]+ parameters\) needs about [0-9.]+ GB \(parameters [0-9.]+ GB, .*\) but the address-space limit \(ulimit -v\) is [0-9.]+ GB$' "$tmp/h_alloc_ulimit.err"
    printf '%s\t1\t| %s | `%s` | %s |\n' alloc_ulimit "a 2.4 GB model under ulimit -v 1000000 (1 GB)" \
        "nanogpt train --dataset=e2e_rel --n_layer=12 --n_head=16 --n_embd=2048 --block_size=32" "$(printf '%s' "$msg" | norm)" >>"$doc_rows"
fi
# 4096 layers of 65536 channels: 844 TB of parameters, more than any machine has (under ASan,
# its allocator must be allowed to return NULL instead of aborting, should the estimate let it by)
ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1" \
    hostile alloc_huge "a model of 844 TB (n_layer 4096, n_embd 65536)" "" "parameters) needs about" \
    -- train --dataset="$ds" --n_layer=4096 --n_head=32 --n_embd=65536 --block_size=32 --out_dir="$tmp/alloc"

# ---------------------------------------------------------------------------------------
section ""
# docs/bad-inputs.md: regenerated with NG_WRITE_DOC=1; otherwise each case must be in it with
# the same message (numbers aside: sizes and offsets depend on the temporary paths)
doc=docs/bad-inputs.md
if [ "${NG_WRITE_DOC:-0}" = 1 ]; then
    mkdir -p docs
    {
        echo "# Bad inputs and the errors they get"
        echo
        echo "Every input below is tried by \`tests/e2e_reliability.sh\` (section e), which checks that each"
        echo "gets exactly one line on stderr naming the file (or key) and the problem, exit status 1, and"
        echo "neither a crash nor a hang. \`\$TMP\` is the test's temporary directory, \`e2e_rel\` its dataset."
        echo "Regenerate this file with \`NG_WRITE_DOC=1 bash tests/e2e_reliability.sh\`."
        echo
        echo "| input | command | message |"
        echo "|---|---|---|"
        cut -f 3- "$doc_rows"
        echo
        echo "Not in the table (checked by the same script): a run that saves every iteration, killed"
        echo "with SIGKILL at 22 random moments (many of them while saving), always leaves a loadable"
        echo "checkpoint once it has saved one; a diverging run stops with exit status 1 and"
        echo "\`nanogpt: iter K: loss is X and gradient norm Y: training diverged (try a lower learning_rate);"
        echo "the last checkpoint in DIR is kept\` (or \`nanogpt: step K: the loss is not finite ...\` when an"
        echo "evaluation sees it first) and leaves the checkpoint byte-identical."
        echo
        # the second round's section (tests/e2e_hostile.sh writes it) stays as it is
        [ -f "$doc" ] && sed -n '/^<!-- e2e_hostile.sh -->$/,$p' "$doc"
    } >"$doc.new" && mv "$doc.new" "$doc"
    echo "wrote $doc ($(wc -l <"$doc_rows") inputs)"
else
    check_doc_rows "$doc"
fi

finish
