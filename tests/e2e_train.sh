#!/usr/bin/env bash
# e2e_train.sh -- end-to-end test of the ./nanogpt CLI, the way a user drives it:
#   (a) prepare shakespeare_char and a small UTF-8 text, (b) train a tiny GPT for 200
#   iterations, (c) resume it, and refuse a resume that contradicts the checkpoint,
#   (d) eval, (e) sample (format, determinism, FILE: prompts, bad prompts and settings),
#   (f) bad input of every kind: one line on stderr, exit status 1, no crash,
#   (g) the bigram model.
# Runs from the repository root with ./nanogpt built by `make` (or the binary in $NANOGPT,
# e.g. `make sanitize`'s build-asan/nanogpt); outputs go to a temp dir.
# Prints "e2e_train.sh: N passed, N failed" and exits 1 on any failure.
set -u
cd "$(dirname "$0")/.."

. tests/lib_e2e.sh
tiny="e2e_tiny_$$"
e2e_cleanup() { rm -rf "data/$tiny"; }
# numbers from "step N: train loss X, val loss Y" lines
step_train_loss() { sed -n "s/^step $2: train loss \([0-9.]*\), val loss .*/\1/p" "$1" | tail -n 1; }
step_val_loss()   { sed -n "s/^step $2: train loss [0-9.]*, val loss \([0-9.]*\).*/\1/p" "$1" | tail -n 1; }
valid_jsonl() { python3 -c 'import json,sys; n=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if n else 1)' "$1" 2>/dev/null; }

if [ ! -x "$NG" ]; then bad "${NANOGPT:-./nanogpt} is not built (run make)"; finish; fi
if ! command -v python3 >/dev/null; then bad "python3 is needed to check JSON and UTF-8"; finish; fi

# ---------------------------------------------------------------------------------------
# (a) prepare
run prep prepare --dataset=shakespeare_char
expect_ok prep
check "prepare prints vocab size: 65" grep -q '^vocab size: 65$' "$tmp/prep.out"
check "prepare prints the train/val token counts" grep -q '^train has 1,003,854 tokens$' "$tmp/prep.out"
sc=data/shakespeare_char
check "train.bin is 2,007,708 bytes" test "$(stat -c %s $sc/train.bin 2>/dev/null)" = 2007708
check "val.bin is 223,080 bytes" test "$(stat -c %s $sc/val.bin 2>/dev/null)" = 223080
check "meta.json has vocab_size 65 and 65 itos entries" python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
sys.exit(0 if m["vocab_size"] == 65 and len(m["itos"]) == 65 and m["itos"][0] == "\n" and m["itos"][-1] == "z" else 1)' $sc/meta.json

# a small custom UTF-8 text with accented and CJK characters
python3 - "$tmp/tiny.txt" <<'EOF'
import sys
text = ("Été à Paris, naïve café. 日本語のテキスト。Ünïcödé ✓\n" * 40) + "ROMEO: O, she doth teach the torches to burn bright!\n" * 20
open(sys.argv[1], "w", encoding="utf-8").write(text)
EOF
run tiny prepare --dataset="$tiny" --input="$tmp/tiny.txt"
expect_ok tiny
check "custom text: meta.json, train.bin and val.bin match nanoGPT's prepare.py" python3 - "$tmp/tiny.txt" "data/$tiny" <<'EOF'
import json, os, struct, sys
text = open(sys.argv[1], encoding="utf-8").read()
d = sys.argv[2]
chars = sorted(set(text))
m = json.load(open(os.path.join(d, "meta.json"), encoding="utf-8"))
stoi = {c: i for i, c in enumerate(chars)}
n = len(text)
train = open(os.path.join(d, "train.bin"), "rb").read()
val = open(os.path.join(d, "val.bin"), "rb").read()
ids = list(struct.unpack("<%dH" % (len(train) // 2), train)) + list(struct.unpack("<%dH" % (len(val) // 2), val))
ok = (m["vocab_size"] == len(chars) and m["itos"] == chars and len(train) == 2 * int(n * 0.9)
      and len(train) + len(val) == 2 * n and ids == [stoi[c] for c in text])
if not ok:
    print("vocab", m.get("vocab_size"), len(chars), "bytes", len(train), len(val), "n", n, file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
check "prepare reports the custom vocab size" grep -q "^vocab size: $(python3 -c 'import sys; print(len(set(open(sys.argv[1], encoding="utf-8").read())))' "$tmp/tiny.txt")\$" "$tmp/tiny.out"
printf 'caf\xe9\n' >"$tmp/latin1.txt"
run badutf8 prepare --dataset="$tiny" --input="$tmp/latin1.txt"
expect_fail badutf8 "UTF-8"
run noinput prepare --dataset="$tiny" --input="$tmp/no_such.txt"
expect_fail noinput "no_such.txt"

# ---------------------------------------------------------------------------------------
# (b) train a tiny GPT for 200 iterations
out="$tmp/out"
targs=(config/train_shakespeare_char_cpu.conf --out_dir="$out" --lr_decay_iters=200 --eval_interval=100 --eval_iters=10
       --n_layer=2 --n_embd=64 --n_head=4 --batch_size=8 --block_size=32 --log_interval=50)
run train train "${targs[@]}" --max_iters=200
expect_ok train
l0=$(step_train_loss "$tmp/train.out" 0)
check "step 0 train loss '$l0' is within 0.15 of ln(65) = 4.174" fcmp "$(awk -v x="${l0:-0}" 'BEGIN { d = x - 4.1744; print d < 0 ? -d : d }')" "<" 0.15
v200=$(step_val_loss "$tmp/train.out" 200)
check "step 200 val loss '$v200' is below 2.9" fcmp "${v200:-99}" "<" 2.9
check "the last iteration printed is 200" test "$(grep -o '^iter [0-9]*' "$tmp/train.out" | tail -n 1)" = "iter 200"
check "ckpt.safetensors exists" test -s "$out/ckpt.safetensors"
check "log.jsonl: every line is JSON" valid_jsonl "$out/log.jsonl"
check "log.jsonl has the evaluations and the iterations" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
evals = [r["iter"] for r in rows if "val_loss" in r]
iters = [r["iter"] for r in rows if "loss" in r]
sys.exit(0 if evals == [0, 100, 200] and iters == [0, 50, 100, 150, 200] else 1)' "$out/log.jsonl"
check "the run prints its vocab and parameter count" grep -q '^found vocab_size = 65' "$tmp/train.out"

# ---------------------------------------------------------------------------------------
# (c) resume from iteration 200: the checkpoint was written at the step-200 evaluation,
# before that iteration's update (nanoGPT's order), so the resumed run re-evaluates at 200
# and its first iteration is 200.
cp "$out/ckpt.safetensors" "$tmp/ckpt.before"
run resume train "${targs[@]}" --init_from=resume --max_iters=250
expect_ok resume
check "resume says so" grep -q '^Resuming training from' "$tmp/resume.out"
first=$(grep -o '^iter [0-9]*' "$tmp/resume.out" | head -n 1)
check "the first iteration after resuming is 200 or 201 (got '$first')" test "$first" = "iter 200" -o "$first" = "iter 201"
check "the resumed run finishes at iteration 250" test "$(grep -o '^iter [0-9]*' "$tmp/resume.out" | tail -n 1)" = "iter 250"
check "the resumed step-200 evaluation is the same as before" test "$(grep '^step 200:' "$tmp/resume.out")" = "$(grep '^step 200:' "$tmp/train.out")"
check "log.jsonl is still valid after the resume" valid_jsonl "$out/log.jsonl"
cp "$out/ckpt.safetensors" "$tmp/ckpt.resumed"
run resume_bad train "${targs[@]}" --init_from=resume --max_iters=250 --n_layer=3
expect_fail resume_bad "cannot resume"
check "a refused resume leaves the checkpoint alone" cmp -s "$out/ckpt.safetensors" "$tmp/ckpt.resumed"

# ---------------------------------------------------------------------------------------
# (d) eval
run eval eval --out_dir="$out" --eval_iters=5
expect_ok eval
line=$(grep -E '^train loss [0-9.]+, val loss [0-9.]+$' "$tmp/eval.out")
check "eval prints 'train loss X, val loss Y'" test -n "$line"
ev=$(printf '%s' "$line" | sed -n 's/.*val loss \([0-9.]*\)$/\1/p')
check "eval val loss '$ev' is below 2.9" fcmp "${ev:-99}" "<" 2.9

# ---------------------------------------------------------------------------------------
# (e) sample
# check_samples FILE N PROMPT NEW: N samples separated by "---------------" lines, each the
# prompt plus NEW code points, every one from the vocabulary
check_samples() {
    python3 - "$@" "$sc/meta.json" <<'EOF'
import json, sys
path, n, prompt, new, meta = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
raw = open(path, "rb").read()
try:
    out = raw.decode("utf-8")
except UnicodeDecodeError as e:
    sys.exit("not UTF-8: %s" % e)
vocab = set(json.load(open(meta, encoding="utf-8"))["itos"])
sep = "---------------"
if out.split("\n").count(sep) != n:
    sys.exit("want %d separator lines, got %d" % (n, out.split("\n").count(sep)))
parts = out.split("\n" + sep + "\n")
if len(parts) != n + 1 or parts[-1] != "":
    sys.exit("output is not N samples each followed by a separator line")
for s in parts[:-1]:
    if not s.startswith(prompt):
        sys.exit("sample does not start with the prompt: %r" % s[:40])
    if len(s) != len(prompt) + new:
        sys.exit("sample has %d code points, want %d: %r" % (len(s), len(prompt) + new, s))
    if not set(s) <= vocab:
        sys.exit("characters outside the vocabulary: %r" % (set(s) - vocab))
EOF
}
sargs=(--out_dir="$out" --num_samples=2 --max_new_tokens=50)
run s1 sample "${sargs[@]}" --start=ROMEO
expect_ok s1
check "2 samples of ROMEO + 50 characters from the vocabulary" check_samples "$tmp/s1.out" 2 ROMEO 50
run s2 sample "${sargs[@]}" --start=ROMEO
expect_ok s2
check "the same seed gives the same samples" cmp -s "$tmp/s1.out" "$tmp/s2.out"
run s3 sample "${sargs[@]}" --start=ROMEO --seed=7
expect_ok s3
check "another seed gives other samples" bash -c '! cmp -s "$1" "$2"' _ "$tmp/s1.out" "$tmp/s3.out"
check "the two samples of one run differ" python3 -c '
import sys; p = open(sys.argv[1]).read().split("\n---------------\n"); sys.exit(0 if p[0] != p[1] else 1)' "$tmp/s1.out"
printf 'JULIET:\nO Romeo, Romeo' >"$tmp/prompt.txt"
run sfile sample "${sargs[@]}" --start="FILE:$tmp/prompt.txt" --max_new_tokens=20
expect_ok sfile
check "--start=FILE: prompts with the file's text" check_samples "$tmp/sfile.out" 2 "$(cat "$tmp/prompt.txt")" 20
run sutf8 sample "${sargs[@]}" --start='Roméo'
expect_fail sutf8
run snofile sample "${sargs[@]}" --start="FILE:$tmp/no_such_prompt.txt"
expect_fail snofile "no_such_prompt.txt"
run stemp sample "${sargs[@]}" --start=ROMEO --temperature=0
expect_fail stemp "temperature"
run stopk sample "${sargs[@]}" --start=ROMEO --top_k=-1
expect_fail stopk "top_k"
run stopk1 sample --out_dir="$out" --num_samples=2 --max_new_tokens=30 --start=ROMEO --top_k=1
expect_ok stopk1
check "top_k=1 is greedy: both samples are the same" python3 -c '
import sys; p = open(sys.argv[1]).read().split("\n---------------\n"); sys.exit(0 if len(p) == 3 and p[0] == p[1] else 1)' "$tmp/stopk1.out"

# ---------------------------------------------------------------------------------------
# (f) bad input
run unknown train --n_layers=2 --out_dir="$tmp/unknown"
expect_fail unknown "did you mean 'n_layer'"
printf '# a config\nbatch_size = 4\nthis is not a config line\n' >"$tmp/bad.conf"
run badconf train "$tmp/bad.conf" --out_dir="$tmp/badconf"
expect_fail badconf "$tmp/bad.conf:3"
printf "out_dir = unquoted\n" >"$tmp/bad2.conf"
run badconf2 train "$tmp/bad2.conf"
expect_fail badconf2 "$tmp/bad2.conf:1"
run badtype train --dataset=shakespeare_char --batch_size=abc --out_dir="$tmp/badtype"
expect_fail badtype "batch_size must be an integer"
run nodata train --dataset="no_such_dataset_$$" --out_dir="$tmp/nodata"
expect_fail nodata "no_such_dataset_$$"
run noconf train "$tmp/no_such.conf"
expect_fail noconf "no_such.conf"
run nockpt sample --out_dir="$tmp/empty_dir" --start=ROMEO
expect_fail nockpt "ckpt.safetensors"
run badcmd frobnicate
check "an unknown command exits 2" test "$rc" -eq 2
# a checkpoint cut to 100 bytes
cp -R "$out" "$tmp/corrupt"
truncate -s 100 "$tmp/corrupt/ckpt.safetensors"
run csample sample --out_dir="$tmp/corrupt" --start=ROMEO --num_samples=1 --max_new_tokens=5
expect_fail csample "ckpt.safetensors"
run ceval eval --out_dir="$tmp/corrupt" --eval_iters=2
expect_fail ceval "ckpt.safetensors"
run cresume train "${targs[@]/#--out_dir=*/--out_dir=$tmp/corrupt}" --init_from=resume --max_iters=210
expect_fail cresume "ckpt.safetensors"
check "a failed resume leaves the corrupt checkpoint as it was" test "$(stat -c %s "$tmp/corrupt/ckpt.safetensors")" = 100
# a checkpoint with garbage of the right size
cp -R "$out" "$tmp/garbage"
head -c "$(stat -c %s "$out/ckpt.safetensors")" /dev/urandom >"$tmp/garbage/ckpt.safetensors"
run gsample sample --out_dir="$tmp/garbage" --start=ROMEO --num_samples=1 --max_new_tokens=5
expect_fail gsample

# ---------------------------------------------------------------------------------------
# (g) the bigram model
bout="$tmp/bigram"
run bigram train --dataset=shakespeare_char --model=bigram --out_dir="$bout" --max_iters=100 --lr_decay_iters=100 \
    --warmup_iters=10 --learning_rate=1e-1 --min_lr=1e-2 --eval_interval=50 --eval_iters=10 --batch_size=32 --block_size=8 \
    --gradient_accumulation_steps=1 --log_interval=50
expect_ok bigram
bv=$(step_val_loss "$tmp/bigram.out" 100)
check "bigram val loss '$bv' at step 100 is below 3.0" fcmp "${bv:-99}" "<" 3.0
run bsample sample --out_dir="$bout" --start=ROMEO --num_samples=2 --max_new_tokens=40
expect_ok bsample
check "bigram samples: 2 of ROMEO + 40 characters" check_samples "$tmp/bsample.out" 2 ROMEO 40
run beval eval --out_dir="$bout" --eval_iters=5
expect_ok beval
run bresume train --dataset=shakespeare_char --model=gpt --out_dir="$bout" --init_from=resume --max_iters=110
expect_fail bresume "cannot resume"

# ---------------------------------------------------------------------------------------
# the README's config key table is the config table (`nanogpt help --markdown`)
sed -n '/^<!-- keys:/,/^<!-- \/keys -->/p' README.md | sed '1d;$d' > "$tmp/readme_keys.md"
"$NG" help --markdown > "$tmp/help_keys.md"
check "README.md's config key table matches ./nanogpt help --markdown" cmp -s "$tmp/readme_keys.md" "$tmp/help_keys.md"

# ---------------------------------------------------------------------------------------
# (h) the checkpoint in nanoGPT's PyTorch model (where Debian's python3-torch is installed):
# tools/nanogpt_ckpt.py loads ckpt.safetensors into nanoGPT's GPT by its state_dict names and
# continues a prompt greedily; ./nanogpt sample --top_k=1 must print the same text.
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 tools/nanogpt_ckpt.py greedy "$out/ckpt.safetensors" "ROMEO:" 60 > "$tmp/torch_greedy.txt" 2> "$tmp/torch_greedy.err"
    check "tools/nanogpt_ckpt.py loads the checkpoint" test -s "$tmp/torch_greedy.txt"
    run cgreedy sample --out_dir="$out" --start="ROMEO:" --num_samples=1 --max_new_tokens=60 --top_k=1
    expect_ok cgreedy
    head -n -1 "$tmp/cgreedy.out" > "$tmp/c_greedy.txt"
    check "PyTorch and nanogpt continue the prompt identically from the same checkpoint" cmp -s "$tmp/torch_greedy.txt" "$tmp/c_greedy.txt"
else
    echo "(python3-torch not installed: PyTorch checkpoint check skipped)"
fi

finish
