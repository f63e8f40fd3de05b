#!/usr/bin/env bash
# e2e_tokenize.sh -- end-to-end test of `nanogpt encode`, `nanogpt decode` and
# `nanogpt prepare --tokenizer=gpt2` (GPT-2's BPE), plus their errors.
# Runs from the repository root with "$NG" built by `make`; outputs go to a temp dir and a
# temporary data/<name>/ that is removed at the end.
# Prints "e2e_tokenize.sh: N passed, N failed" and exits 1 on any failure.
set -u
cd "$(dirname "$0")/.."

. tests/lib_e2e.sh
ds="e2e_bpe_$$"
e2e_cleanup() { rm -rf "data/$ds"; }

if [ ! -x "$NG" ]; then bad "$NG is not built (run make)"; finish; fi

# ---------------------------------------------------------------------------------------
# encode / decode with gpt2 (ids from tiktoken's gpt2 encoding)
printf 'Hello world' >"$tmp/hello.txt"
RUN_STDIN="$tmp/hello.txt" run enc encode --tokenizer=gpt2
expect_ok enc
check "encode 'Hello world' = 15496 995" test "$(cat "$tmp/enc.out")" = "15496 995"
check "encode output ends with one newline" test "$(tail -c 1 "$tmp/enc.out" | od -An -c | tr -d ' ')" = '\n'
printf 'a<|endoftext|>b' >"$tmp/eot.txt"
RUN_STDIN="$tmp/eot.txt" run eot encode --tokenizer=gpt2
expect_ok eot
check "<|endoftext|> is token 50256" test "$(cat "$tmp/eot.out")" = "64 50256 65"
: >"$tmp/empty.txt"
RUN_STDIN="$tmp/empty.txt" run empty encode --tokenizer=gpt2
expect_ok empty
check "empty input gives an empty line" test "$(od -An -c "$tmp/empty.out" | tr -d ' ')" = '\n'

# round trips of tricky bytes: UTF-8, invalid bytes, NUL, whitespace runs
printf "I'm caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd\n\n  x \t\r\n\xff\xfe\x00end   " >"$tmp/tricky.txt"
RUN_STDIN="$tmp/tricky.txt" run trick_enc encode --tokenizer=gpt2
expect_ok trick_enc
RUN_STDIN="$tmp/trick_enc.out" run trick_dec decode --tokenizer=gpt2
expect_ok trick_dec
check "decode(encode(tricky bytes)) == bytes" cmp -s "$tmp/tricky.txt" "$tmp/trick_dec.out"
cp data/shakespeare_char/input.txt "$tmp/shakespeare.txt"
RUN_STDIN="$tmp/shakespeare.txt" run sh_enc encode --tokenizer=gpt2
expect_ok sh_enc
check "tinyshakespeare is 338,025 gpt2 tokens" test "$(wc -w <"$tmp/sh_enc.out")" = 338025
RUN_STDIN="$tmp/sh_enc.out" run sh_dec decode --tokenizer=gpt2
expect_ok sh_dec
check "tinyshakespeare round trip" cmp -s "$tmp/shakespeare.txt" "$tmp/sh_dec.out"

# decode errors
printf '15496 abc 995\n' >"$tmp/badid.txt"
RUN_STDIN="$tmp/badid.txt" run badid decode --tokenizer=gpt2
expect_fail badid "'abc'"
printf '15496 50257\n' >"$tmp/range.txt"
RUN_STDIN="$tmp/range.txt" run range decode --tokenizer=gpt2
expect_fail range "50257"
printf -- '-1\n' >"$tmp/neg.txt"
RUN_STDIN="$tmp/neg.txt" run neg decode --tokenizer=gpt2
expect_fail neg "out of range"
RUN_STDIN="$tmp/hello.txt" run badtok encode --tokenizer=bpe
expect_fail badtok "gpt2"

# ---------------------------------------------------------------------------------------
# prepare --tokenizer=gpt2 (nanoGPT's data/shakespeare/prepare.py: 301,966 / 36,059 tokens)
"$NG" prepare --dataset="$ds" --tokenizer=gpt2 --input=data/shakespeare_char/input.txt >"$tmp/prep.out" 2>"$tmp/prep.err"
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
RUN_STDIN="$tmp/hello.txt" run meta_enc encode --dataset="$ds"
expect_ok meta_enc
check "encode picks gpt2 from meta.json" test "$(cat "$tmp/meta_enc.out")" = "15496 995"
RUN_STDIN="$tmp/meta_enc.out" run meta_dec decode --meta="data/$ds/meta.json"
expect_ok meta_dec
check "decode with --meta" test "$(cat "$tmp/meta_dec.out")" = "Hello world"
# a prepare killed (kill -9) while it encodes a bigger text leaves the previous dataset exactly
# as it was: the new train.bin/val.bin are still temporaries, meta.json is not replaced
for f in train.bin val.bin meta.json; do cp "data/$ds/$f" "$tmp/keep.$f" 2>/dev/null; done
for i in $(seq 32); do cat data/shakespeare_char/input.txt; done >"$tmp/big.txt"   # 36 MB: seconds to encode
"$NG" prepare --dataset="$ds" --tokenizer=gpt2 --input="$tmp/big.txt" >"$tmp/prepkill.out" 2>&1 &
kpid=$!
for _ in $(seq 3000); do   # until the new train.bin has data in it (mid-stream), at most 60 s
    [ -n "$(find "data/$ds" -name 'train.bin.tmp.*' -size +0 2>/dev/null)" ] && break
    sleep 0.02
done
kill -9 "$kpid" 2>/dev/null; wait "$kpid" 2>/dev/null
check "prepare killed mid-stream: it had started writing train.bin" test -n "$(find "data/$ds" -name 'train.bin.tmp.*' -size +0)"
for f in train.bin val.bin meta.json; do
    check "prepare killed mid-stream: the previous $f is intact" cmp -s "data/$ds/$f" "$tmp/keep.$f"
done
"$NG" prepare --dataset="$ds" --tokenizer=gpt2 --input=data/shakespeare_char/input.txt >"$tmp/prep2.out" 2>"$tmp/prep2.err"
rc=$?
expect_ok prep2
check "the next prepare removed the killed one's temporary files" test -z "$(ls "data/$ds" | grep tmp)"
check "and wrote the same dataset again" cmp -s "data/$ds/meta.json" "$tmp/keep.meta.json"
# invalid UTF-8 input is refused (nanoGPT's open(...).read() would raise), naming the byte
printf 'abc\xffdef\n' >"$tmp/bad.txt"
"$NG" prepare --dataset="$ds" --tokenizer=gpt2 --input="$tmp/bad.txt" >"$tmp/prepbad.out" 2>"$tmp/prepbad.err"
rc=$?
expect_fail prepbad "byte 3"
check "a failed prepare keeps the previous train.bin" test "$(stat -c %s "data/$ds/train.bin" 2>/dev/null)" = 603932

# ---------------------------------------------------------------------------------------
# char tokenizer through a meta.json
"$NG" prepare --dataset="$ds" --input="$tmp/hello.txt" >/dev/null 2>&1
RUN_STDIN="$tmp/hello.txt" run c_enc encode --dataset="$ds"
expect_ok c_enc
check "char encode of 'Hello world'" test "$(cat "$tmp/c_enc.out")" = "1 3 4 4 5 0 7 5 6 4 2"
RUN_STDIN="$tmp/c_enc.out" run c_dec decode --meta="data/$ds/meta.json"
expect_ok c_dec
check "char decode" test "$(cat "$tmp/c_dec.out")" = "Hello world"
printf 'Hello z' >"$tmp/z.txt"
RUN_STDIN="$tmp/z.txt" run c_bad encode --dataset="$ds"
expect_fail c_bad "'z'"
RUN_STDIN="$tmp/range.txt" run c_range decode --dataset="$ds"
expect_fail c_range "out of range"
RUN_STDIN="$tmp/hello.txt" run nometa encode --dataset=no_such_dataset_$$
expect_fail nometa "meta.json"

finish
