#!/usr/bin/env bash
# e2e_examples.sh -- the programs in examples/ (built by `make examples` against the public
# header only) do what the README says: train_loop's loss falls and it saves a checkpoint;
# generate reads that checkpoint and produces the number of tokens asked for.
cd "$(dirname "$0")/.." || exit 1
. tests/lib_e2e.sh
EX=$(dirname "$NG")/examples
[ -x "$EX/generate" ] || EX=build/examples
ds=examples_$$
e2e_cleanup() { rm -rf "data/$ds"; }
head -c 60000 data/shakespeare_char/input.txt >"$tmp/input.txt"
run prepare prepare --dataset="$ds" --input="$tmp/input.txt"; expect_ok prepare

timeout 300 "$EX/train_loop" "data/$ds" "$tmp/ckpt.safetensors" 60 >"$tmp/train.out" 2>"$tmp/train.err"; rc=$?
check "train_loop exits 0 (exit $rc: $(tail -n 2 "$tmp/train.err"))" test "$rc" -eq 0
first=$(awk '/^step 0:/ { sub(",", "", $4); print $4 }' "$tmp/train.out")
last=$(awk '/^step 59:/ { sub(",", "", $4); print $4 }' "$tmp/train.out")
check "train_loop's first loss is near ln(vocab) (got '$first')" fcmp "${first:-0}" '>' 3.0
check "train_loop's loss falls by at least 0.8 in 60 steps ($first -> $last)" fcmp "${last:-99}" '<' "$(awk -v f="${first:-0}" 'BEGIN { print f - 0.8 }')"
check "train_loop saved its checkpoint" test -s "$tmp/ckpt.safetensors"

timeout 120 "$EX/generate" "$tmp/ckpt.safetensors" "ROMEO:" 77 >"$tmp/gen.out" 2>"$tmp/gen.err"; rc=$?
check "generate exits 0 (exit $rc: $(tail -n 2 "$tmp/gen.err"))" test "$rc" -eq 0
check "generate reports 77 new tokens after the 6-token prompt" grep -qx 'generated 77 tokens after a prompt of 6' "$tmp/gen.err"
# a character vocabulary: one token is one character (the output ends with one added newline)
chars=$(head -c -1 "$tmp/gen.out" | LC_ALL=C.UTF-8 wc -m)
check "the text is the prompt and 77 characters ($chars)" test "$chars" -eq 83
check "the text starts with the prompt" grep -q '^ROMEO:' "$tmp/gen.out"
# and the same checkpoint through ./nanogpt sample (its out_dir form)
mkdir -p "$tmp/out"; cp "$tmp/ckpt.safetensors" "$tmp/out/"
timeout 120 "$EX/generate" "$tmp/out" "ROMEO:" 77 >"$tmp/gen2.out" 2>/dev/null
check "generate takes the checkpoint's directory too, with the same text" cmp -s "$tmp/gen.out" "$tmp/gen2.out"
timeout 60 "$EX/generate" "$tmp/missing.safetensors" >"$tmp/gen3.out" 2>"$tmp/gen3.err"; rc=$?
check "generate on a missing file: exit 1 and one line naming it (exit $rc)" \
    sh -c "[ $rc -eq 1 ] && [ \$(wc -l <'$tmp/gen3.err') -eq 1 ] && grep -q 'missing.safetensors' '$tmp/gen3.err'"
finish
