#!/usr/bin/env bash
# e2e_tokenize.sh -- end-to-end test of `nanogpt encode`, `nanogpt decode` and
# `nanogpt prepare --tokenizer=gpt2` (GPT-2's BPE), plus their errors.
# Runs from the repository root with ./nanogpt built by `make`; outputs go to a temp dir and a
# temporary data/<name>/ that is removed at the end.
# Prints "e2e_tokenize.sh: N passed, N failed" and exits 1 on any failure.
set -u
cd "$(dirname "$0")/.."

pass=0; fail=0
tmp=$(mktemp -d)
ds="e2e_bpe_$$"
trap 'rm -rf "$tmp" "data/$ds"' EXIT
start_time=$SECONDS

ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local _desc=$1; shift; if "$@"; then ok; else bad "$_desc"; fi; }
finish() {
    echo "e2e_tokenize.sh: $pass passed, $fail failed ($((SECONDS - start_time))s)"
    [ "$fail" -eq 0 ] || exit 1
    exit 0
}
# run NAME STDIN_FILE ARGS...: ./nanogpt ARGS < STDIN_FILE, stdout in $tmp/NAME.out, stderr in $tmp/NAME.err
run() {
    local name=$1 in=$2; shift 2
    ./nanogpt "$@" <"$in" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
}
expect_ok() { if [ "$rc" -eq 0 ]; then ok; else bad "$1: exit status $rc: $(head -c 300 "$tmp/$1.err")"; fi; }
# expect_fail NAME TEXT: exit status 1, one line "nanogpt: ..." on stderr containing TEXT
expect_fail() {
    local name=$1 want=$2
    if [ "$rc" -ne 1 ]; then bad "$name: exit status $rc, want 1"; return; fi
    if [ "$(wc -l <"$tmp/$name.err")" -eq 1 ] && grep -q '^nanogpt: ' "$tmp/$name.err" && grep -qF -- "$want" "$tmp/$name.err"; then ok
    else bad "$name: stderr should be one line with '$want', got: $(head -c 300 "$tmp/$name.err")"; fi
}

if [ ! -x ./nanogpt ]; then bad "./nanogpt is not built (run make)"; finish; fi

# ---------------------------------------------------------------------------------------
# encode / decode with gpt2 (ids from tiktoken's gpt2 encoding)
printf 'Hello world' >"$tmp/hello.txt"
run enc "$tmp/hello.txt" encode --tokenizer=gpt2
expect_ok enc
check "encode 'Hello world' = 15496 995" test "$(cat "$tmp/enc.out")" = "15496 995"
check "encode output ends with one newline" test "$(tail -c 1 "$tmp/enc.out" | od -An -c | tr -d ' ')" = '\n'
printf 'a<|endoftext|>b' >"$tmp/eot.txt"
run eot "$tmp/eot.txt" encode --tokenizer=gpt2
expect_ok eot
check "<|endoftext|> is token 50256" test "$(cat "$tmp/eot.out")" = "64 50256 65"
: >"$tmp/empty.txt"
run empty "$tmp/empty.txt" encode --tokenizer=gpt2
expect_ok empty
check "empty input gives an empty line" test "$(od -An -c "$tmp/empty.out" | tr -d ' ')" = '\n'

# round trips of tricky bytes: UTF-8, invalid bytes, NUL, whitespace runs
printf "I'm caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd\n\n  x \t\r\n\xff\xfe\x00end   " >"$tmp/tricky.txt"
run trick_enc "$tmp/tricky.txt" encode --tokenizer=gpt2
expect_ok trick_enc
run trick_dec "$tmp/trick_enc.out" decode --tokenizer=gpt2
expect_ok trick_dec
check "decode(encode(tricky bytes)) == bytes" cmp -s "$tmp/tricky.txt" "$tmp/trick_dec.out"
cp data/shakespeare_char/input.txt "$tmp/shakespeare.txt"
run sh_enc "$tmp/shakespeare.txt" encode --tokenizer=gpt2
expect_ok sh_enc
check "tinyshakespeare is 338,025 gpt2 tokens" test "$(wc -w <"$tmp/sh_enc.out")" = 338025
run sh_dec "$tmp/sh_enc.out" decode --tokenizer=gpt2
expect_ok sh_dec
check "tinyshakespeare round trip" cmp -s "$tmp/shakespeare.txt" "$tmp/sh_dec.out"

# decode errors
printf '15496 abc 995\n' >"$tmp/badid.txt"
run badid "$tmp/badid.txt" decode --tokenizer=gpt2
expect_fail badid "'abc'"
printf '15496 50257\n' >"$tmp/range.txt"
run range "$tmp/range.txt" decode --tokenizer=gpt2
expect_fail range "50257"
printf -- '-1\n' >"$tmp/neg.txt"
run neg "$tmp/neg.txt" decode --tokenizer=gpt2
expect_fail neg "out of range"
run badtok "$tmp/hello.txt" encode --tokenizer=bpe
expect_fail badtok "gpt2"

# ---------------------------------------------------------------------------------------
# prepare --tokenizer=gpt2 (nanoGPT's data/shakespeare/prepare.py: 301,966 / 36,059 tokens)
./nanogpt prepare --dataset="$ds" --tokenizer=gpt2 --input=data/shakespeare_char/input.txt >"$tmp/prep.out" 2>"$tmp/prep.err"
rc=$?
expect_ok prep
check "prepare prints train has 301,966 tokens" grep -q '^train has 301,966 tokens$' "$tmp/prep.out"
check "prepare prints val has 36,059 tokens" grep -q '^val has 36,059 tokens$' "$tmp/prep.out"
check "train.bin is 603,932 bytes" test "$(stat -c %s "data/$ds/train.bin" 2>/dev/null)" = 603932
check "val.bin is 72,118 bytes" test "$(stat -c %s "data/$ds/val.bin" 2>/dev/null)" = 72118
check "meta.json says gpt2" grep -q '"tokenizer": "gpt2", "vocab_size": 50257' "data/$ds/meta.json"
check "no temporary files left" test -z "$(ls "data/$ds" | grep tmp)"
check "train.bin starts as the whole-text encoding" cmp -s <(head -c 1000 "data/$ds/train.bin") <(head -c 1000 tests/fixtures/bpe_shakespeare.bin)
# with meta.json saying gpt2, encode/decode need no --tokenizer
run meta_enc "$tmp/hello.txt" encode --dataset="$ds"
expect_ok meta_enc
check "encode picks gpt2 from meta.json" test "$(cat "$tmp/meta_enc.out")" = "15496 995"
run meta_dec "$tmp/meta_enc.out" decode --meta="data/$ds/meta.json"
expect_ok meta_dec
check "decode with --meta" test "$(cat "$tmp/meta_dec.out")" = "Hello world"
# invalid UTF-8 input is refused (nanoGPT's open(...).read() would raise), naming the byte
printf 'abc\xffdef\n' >"$tmp/bad.txt"
./nanogpt prepare --dataset="$ds" --tokenizer=gpt2 --input="$tmp/bad.txt" >"$tmp/prepbad.out" 2>"$tmp/prepbad.err"
rc=$?
expect_fail prepbad "byte 3"
check "a failed prepare keeps the previous train.bin" test "$(stat -c %s "data/$ds/train.bin" 2>/dev/null)" = 603932

# ---------------------------------------------------------------------------------------
# char tokenizer through a meta.json
./nanogpt prepare --dataset="$ds" --input="$tmp/hello.txt" >/dev/null 2>&1
run c_enc "$tmp/hello.txt" encode --dataset="$ds"
expect_ok c_enc
check "char encode of 'Hello world'" test "$(cat "$tmp/c_enc.out")" = "1 3 4 4 5 0 7 5 6 4 2"
run c_dec "$tmp/c_enc.out" decode --meta="data/$ds/meta.json"
expect_ok c_dec
check "char decode" test "$(cat "$tmp/c_dec.out")" = "Hello world"
printf 'Hello z' >"$tmp/z.txt"
run c_bad "$tmp/z.txt" encode --dataset="$ds"
expect_fail c_bad "'z'"
run c_range "$tmp/range.txt" decode --dataset="$ds"
expect_fail c_range "out of range"
run nometa "$tmp/hello.txt" encode --dataset=no_such_dataset_$$
expect_fail nometa "meta.json"

finish
