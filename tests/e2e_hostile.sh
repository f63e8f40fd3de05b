#!/usr/bin/env bash
# e2e_hostile.sh -- the second round of hostile inputs and hostile environments: never a wrong
# number, never lost work, never a hang. One section per class of docs/bad-inputs.md's second
# table (which this script writes with NG_WRITE_DOC=1 and otherwise checks):
#   1 thread counts: training and eval under OMP_THREAD_LIMIT=1 / OMP_DYNAMIC=true give the
#     same losses and bitwise the same checkpoint as the unrestricted run;
#   2 two processes on one out_dir: the second is refused (naming the holder's pid) and the
#     first one's work survives; only temporaries of dead processes are removed;
#   3 a dataset replaced half-way: train refuses .bin files meta.json does not describe;
#   4 special files (FIFOs, directories, devices, /proc) named by the error, never a hang;
#   5 memory estimated before allocating; sizes read from a file bounded by the file;
#   6 integer overflow: limits where values enter;
#   7 non-finite weights, temperatures and log values;
#   8 inconsistent requests; 9 outputs; 10 messages.
# The binary is $NANOGPT (default ./nanogpt). Prints "e2e_hostile.sh: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
. tests/lib_e2e.sh
ds="e2e_hos_$$"
bg_pids=""
e2e_cleanup() {
    for p in $bg_pids; do kill -9 "$p" 2>/dev/null; done
    rm -rf "data/$ds" "data/${ds}_"*
}
doc_rows="$tmp/doc_rows"
: >"$doc_rows"
# the "iter K: loss X" and "step K: ..." lines of an output file (timings differ between runs)
losses() { grep -hoE '^(iter [0-9]+: loss [0-9.a-z-]+|step [0-9]+: .*|train loss .*)' "$@"; }
# the data section (every tensor's bytes) of a safetensors file
data_of() { python3 -c 'import struct, sys; b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; sys.stdout.buffer.write(b[8 + n:])' "$1"; }
same_data() { cmp -s <(data_of "$1") <(data_of "$2"); }

head -c 200000 data/shakespeare_char/input.txt >"$tmp/input.txt"
# peak-RSS bounds (ASan's shadow memory and quarantine add their own) and the streamed size
rss_max=100000; big_bytes=60000000
if [ "$asan" -eq 1 ]; then rss_max=600000; big_bytes=6000000; fi
run prep prepare --dataset="$ds" --input="$tmp/input.txt"
expect_ok prep
# a model whose step has two batch shards (B*T/2 >= n_embd) on two threads
m=(--dataset="$ds" --n_layer=2 --n_head=2 --n_embd=32 --block_size=32 --batch_size=8 --gradient_accumulation_steps=2
   --eval_iters=2 --dropout=0.1 --learning_rate=1e-2 --threads=2)

# ---------------------------------------------------------------------------------------
# 1. thread counts: the team OpenMP gives never changes a number
run th_free train "${m[@]}" --out_dir="$tmp/th_free" --max_iters=6 --eval_interval=3
expect_ok th_free
for env in OMP_THREAD_LIMIT=1 OMP_DYNAMIC=true "OMP_THREAD_LIMIT=1 OMP_DYNAMIC=true" OMP_NUM_THREADS=1; do
    name=th_$(printf '%s' "$env" | tr -c 'A-Za-z0-9' _)
    env $env timeout 120 "$NG" train "${m[@]}" --out_dir="$tmp/$name" --max_iters=6 --eval_interval=3 >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
    expect_ok "$name"
    check "$env: training prints the same losses as the unrestricted run" cmp -s <(losses "$tmp/th_free.out") <(losses "$tmp/$name.out")
    check "$env: the checkpoint is bitwise the same" same_data "$tmp/th_free/ckpt.safetensors" "$tmp/$name/ckpt.safetensors"
    env $env timeout 120 "$NG" eval --out_dir="$tmp/th_free" --threads=2 >"$tmp/${name}_eval.out" 2>&1
    rc=$?
    expect_ok "${name}_eval"
    run th_eval_free eval --out_dir="$tmp/th_free" --threads=2
    check "$env: eval --batch_size=8 prints the same loss ($(cat "$tmp/${name}_eval.out"))" cmp -s "$tmp/th_eval_free.out" "$tmp/${name}_eval.out"
done
# more shards than threads, and a team of 3 on 2 cores: still the same for the same shard count
for t in 3 4; do
    run th_$t eval --out_dir="$tmp/th_free" --threads=$t
    OMP_THREAD_LIMIT=1 timeout 120 "$NG" eval --out_dir="$tmp/th_free" --threads=$t >"$tmp/th_${t}_lim.out" 2>&1
    check "eval --threads=$t under OMP_THREAD_LIMIT=1 is the unrestricted value" cmp -s "$tmp/th_$t.out" "$tmp/th_${t}_lim.out"
    check "eval --threads=$t agrees with --threads=2 within rounding" fcmp "$(awk '{ print $3 + 0 }' "$tmp/th_$t.out")" "<" \
        "$(awk '{ print $3 + 0.0002 }' "$tmp/th_eval_free.out")"
done

# ---------------------------------------------------------------------------------------
# 2. two processes on one out_dir
lk=(--dataset="$ds" --n_layer=1 --n_head=2 --n_embd=32 --block_size=32 --batch_size=4 --gradient_accumulation_steps=1
    --eval_iters=1 --eval_interval=1 --max_iters=100000 --threads=1)
"$NG" train "${lk[@]}" --out_dir="$tmp/lock" >"$tmp/lock_a.out" 2>"$tmp/lock_a.err" &
a_pid=$!; bg_pids="$bg_pids $a_pid"
n=0; while [ "$n" -lt 1500 ] && ! grep -q '^saving checkpoint' "$tmp/lock_a.out" 2>/dev/null; do sleep 0.02; n=$((n + 1)); done
sleep 0.5
hostile lock_second "a second train on the out_dir of a running one" "lock" "in use by another training run (pid $a_pid)" \
    -- train "${lk[@]}" --out_dir="$tmp/lock"
hostile lock_resume "a resume on the out_dir of a running one" "lock" "in use by another training run (pid $a_pid)" \
    -- train "${lk[@]}" --out_dir="$tmp/lock" --init_from=resume
# a temporary of a live process (this shell) is left alone, a dead one's is removed
printf 'live' >"$tmp/lock/ckpt.safetensors.tmp.$$"
kill -TERM "$a_pid"; wait "$a_pid"; rc=$?
check "the first run, refused a neighbour, still ends with exit 0 on SIGTERM (got $rc)" test "$rc" -eq 0
it=$(python3 -c 'import json, struct, sys; b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; print(json.loads(b[8:8 + n])["__metadata__"]["iter_num"])' "$tmp/lock/ckpt.safetensors" 2>/dev/null)
k=$(grep -o '^terminated at iter [0-9]*' "$tmp/lock_a.out" | grep -o '[0-9]*$')
check "the first run's checkpoint holds the iteration it reached ($it = $k)" test -n "$it" -a "$it" = "$k"
printf 'dead' >"$tmp/lock/ckpt.safetensors.tmp.999999"
run lock_after train "${lk[@]}" --out_dir="$tmp/lock" --init_from=resume --max_iters=$((it + 1))
expect_ok lock_after
check "after the run: the live process's temporary survives" test -f "$tmp/lock/ckpt.safetensors.tmp.$$"
check "after the run: the dead process's temporary is gone" test ! -e "$tmp/lock/ckpt.safetensors.tmp.999999"
check "after the run: it resumed from the first run's iteration $it" grep -q "^step $it: " "$tmp/lock_after.out"
rm -f "$tmp/lock/ckpt.safetensors.tmp.$$"

# ---------------------------------------------------------------------------------------
# 3. a dataset is three files: meta.json records the .bin files, train checks them
tr=(--n_layer=1 --n_head=2 --n_embd=16 --block_size=32 --batch_size=2 --gradient_accumulation_steps=1 --max_iters=1
    --eval_iters=1 --threads=1)
mkds() {   # mkds SUFFIX: data/${ds}_SUFFIX, a copy of the good dataset
    mkdir -p "data/${ds}_$1"
    cp "data/$ds/meta.json" "data/$ds/train.bin" "data/$ds/val.bin" "data/${ds}_$1/"
}
check "meta.json records both .bin files" grep -q '"files": {"train.bin": {"bytes": [0-9]*, "hash": "[0-9a-f]*"}, "val.bin"' "data/$ds/meta.json"
mkds flip; python3 -c '
import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[1000], b[1002] = b[1002], b[1000]; open(p, "wb").write(b)' "data/${ds}_flip/train.bin"
hostile ds_flip "train.bin with two token ids swapped (same size, valid ids)" "train.bin" "contents differ from what" \
    -- train --dataset="${ds}_flip" "${tr[@]}" --out_dir="$tmp/ds_out"
mkds short; head -c 10000 "data/$ds/val.bin" >"data/${ds}_short/val.bin"
hostile ds_short "val.bin cut to 10000 bytes" "val.bin" "records" -- train --dataset="${ds}_short" "${tr[@]}" --out_dir="$tmp/ds_out"
hostile ds_short_eval "eval on that dataset" "val.bin" "replaced only in part" -- eval --out_dir="$tmp/th_free" --dataset="${ds}_short"
mkds other; head -c 300000 data/shakespeare_char/input.txt | tail -c 100000 >"$tmp/other.txt"
run ds_other_prep prepare --dataset="${ds}_x" --input="$tmp/other.txt"
expect_ok ds_other_prep
cp "data/${ds}_x/train.bin" "data/${ds}_other/train.bin"
hostile ds_other "train.bin of another prepare beside this meta.json and val.bin" "train.bin" "replaced only in part" \
    -- train --dataset="${ds}_other" "${tr[@]}" --out_dir="$tmp/ds_out"
# a prepare that runs out of disk space (a file size limit) while it writes train.bin: the new
# files are temporaries until all three are complete, so the previous dataset stays, whole
mkds full
tac "$tmp/input.txt" >"$tmp/reversed.txt"
( trap '' XFSZ; ulimit -f 100; exec "$NG" prepare --dataset="${ds}_full" --input="$tmp/reversed.txt" ) >"$tmp/ds_full_prep.out" 2>"$tmp/ds_full_prep.err"
rc=$?
check "prepare on a full disk fails (exit $rc): $(head -c 200 "$tmp/ds_full_prep.err")" test "$rc" -eq 1
check "prepare on a full disk says which file and that the previous one is untouched" \
    grep -q '^nanogpt: data/.*_full/train.bin: write failed: .*(the previous file is untouched)$' "$tmp/ds_full_prep.err"
check "prepare on a full disk leaves no temporary file" test -z "$(ls "data/${ds}_full" | grep tmp)"
for f in meta.json train.bin val.bin; do
    check "prepare on a full disk leaves the previous $f" cmp -s "data/${ds}_full/$f" "data/$ds/$f"
done
printf '%s\t1\t| %s | `%s` | %s |\n' ds_full "prepare on a full disk (a file size limit) while it writes train.bin" \
    "$(printf '%s' "ulimit -f 100; nanogpt prepare --dataset=${ds}_full --input=$tmp/reversed.txt" | norm)" \
    "$(head -n 1 "$tmp/ds_full_prep.err" | norm)" >>"$doc_rows"
printf 'x' >"data/${ds}_full/train.bin.tmp.999999"
run ds_full_old train --dataset="${ds}_full" "${tr[@]}" --out_dir="$tmp/ds_out"
expect_ok ds_full_old
run ds_full_again prepare --dataset="${ds}_full" --input="$tmp/input.txt"
expect_ok ds_full_again
check "the next prepare removes a killed prepare's temporary" test ! -e "data/${ds}_full/train.bin.tmp.999999"
run ds_full_train train --dataset="${ds}_full" "${tr[@]}" --out_dir="$tmp/ds_out"
expect_ok ds_full_train
# a dataset without records (an older prepare, or nanoGPT's own) is still read
mkds legacy; python3 -c '
import json, sys; p = sys.argv[1]; m = json.load(open(p)); m.pop("files"); json.dump(m, open(p, "w"))' "data/${ds}_legacy/meta.json"
run ds_legacy train --dataset="${ds}_legacy" "${tr[@]}" --out_dir="$tmp/ds_out2"
expect_ok ds_legacy

# ---------------------------------------------------------------------------------------
# 4. special files: refused at once, saying what they are (each within hostile's 20 s)
mkfifo "$tmp/fifo"
hostile fifo_config "a FIFO as the config file" "fifo" "is a FIFO (named pipe), not a regular file" -- train "$tmp/fifo"
hostile fifo_prompt "a FIFO as the prompt file" "fifo" "is a FIFO" -- sample --out_dir="$tmp/th_free" --start=FILE:"$tmp/fifo"
hostile fifo_input "a FIFO as prepare's input text" "fifo" "is a FIFO" -- prepare --dataset="${ds}_f" --input="$tmp/fifo"
hostile fifo_input_gpt2 "a FIFO as prepare's input text (GPT-2 tokenizer)" "fifo" "is a FIFO" \
    -- prepare --dataset="${ds}_f" --input="$tmp/fifo" --tokenizer=gpt2
hostile fifo_model "a FIFO as init_from (a model file)" "fifo" "is a FIFO" -- sample --init_from="$tmp/fifo"
hostile fifo_meta "a FIFO as encode's --meta" "fifo" "is a FIFO" -- encode --meta="$tmp/fifo"
mkdir -p "$tmp/ck_fifo"; mkfifo "$tmp/ck_fifo/ckpt.safetensors"
hostile fifo_ckpt "a FIFO as the checkpoint" "ckpt.safetensors" "is a FIFO" -- eval --out_dir="$tmp/ck_fifo"
mkds fifo_bin; rm "data/${ds}_fifo_bin/train.bin"; mkfifo "data/${ds}_fifo_bin/train.bin"
hostile fifo_bin "a FIFO as train.bin" "train.bin" "is a FIFO" -- train --dataset="${ds}_fifo_bin" "${tr[@]}" --out_dir="$tmp/sp_out"
mkds fifo_metajson; rm "data/${ds}_fifo_metajson/meta.json"; mkfifo "data/${ds}_fifo_metajson/meta.json"
hostile fifo_metajson "a FIFO as meta.json" "meta.json" "is a FIFO" -- train --dataset="${ds}_fifo_metajson" "${tr[@]}" --out_dir="$tmp/sp_out"
mkds dev_bin; rm "data/${ds}_dev_bin/val.bin"; ln -s /dev/zero "data/${ds}_dev_bin/val.bin"
hostile dev_bin "val.bin a link to /dev/zero" "val.bin" "is a character device, not a regular file" \
    -- train --dataset="${ds}_dev_bin" "${tr[@]}" --out_dir="$tmp/sp_out"
hostile dir_config "a directory as the config file" "" "is a directory, not a regular file" -- train "$tmp"
hostile dev_input "/dev/zero as prepare's input" "/dev/zero" "is a character device" -- prepare --dataset="${ds}_f" --input=/dev/zero
hostile proc_config "/proc/self/status (size 0, has content) as the config file" "/proc/self/status" "reports a size of 0 bytes but has content" \
    -- train /proc/self/status
hostile proc_input "/proc/self/status as prepare's input" "/proc/self/status" "reports a size of 0 bytes but has content" \
    -- prepare --dataset="${ds}_f" --input=/proc/self/status
check "no dataset was created from a special file" test ! -e "data/${ds}_f/train.bin"

# ---------------------------------------------------------------------------------------
# 5-7: crafted checkpoints and model files (variants of the good one)
good="$tmp/th_free"
run export_llmc export --out_dir="$good" --format=llmc "$tmp/model_llmc.bin"
expect_ok export_llmc
python3 - "$good/ckpt.safetensors" "$tmp" tests/fixtures/tiny_gpt2 "$tmp/model_llmc.bin" <<'PYEOF'
import json, os, struct, sys
src, tmp, hf, llmc = sys.argv[1:5]
def load(p):
    raw = open(p, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), bytearray(raw[8 + n:])
def build(h, d):
    js = json.dumps(h, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js + bytes(d)
def out(name, blob, file="ckpt.safetensors"):
    d = os.path.join(tmp, "ck_" + name)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, file), "wb").write(blob)
header, data = load(src)
def edit(name, f):
    h, d = json.loads(json.dumps(header)), bytearray(data)
    f(h, d)
    out(name, build(h, d))
def args(**kw):
    def f(h, d):
        a = json.loads(h["__metadata__"]["model_args"]); a.update(kw); h["__metadata__"]["model_args"] = json.dumps(a)
    return f
def meta(**kw):
    return lambda h, d: h["__metadata__"].update(kw)
def poke(tensor, value, fmt="<f", at=3):
    def f(h, d):
        b = h[tensor]["data_offsets"][0] + at * struct.calcsize(fmt)
        d[b:b + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return f
edit("huge_args", args(n_layer=4096, n_embd=65536, n_head=64))
edit("big_args", args(n_layer=48, n_embd=8192, n_head=64))
edit("big_vocab", args(vocab_size=16777216))
edit("iter_huge", meta(iter_num="2147483000"))
edit("step_huge", meta(optimizer_step="2147483647"))
edit("bvl_nan", meta(best_val_loss="nan"))
edit("bvl_neg_inf", meta(best_val_loss="-inf"))
edit("nan_weight", poke("transformer.h.1.mlp.c_fc.weight", float("nan")))
edit("inf_weight", poke("transformer.wte.weight", float("inf"), at=100))
edit("inf_moment", poke("optimizer.exp_avg_sq.transformer.h.0.attn.c_attn.weight", float("inf")))
# Hugging Face F16 / BF16 files with one Inf / NaN, llm.c files with a NaN
for name, dtype, bits in (("hf_f16_inf", "F16", 0x7C00), ("hf_bf16_nan", "BF16", 0x7FC0)):
    h, d = load(os.path.join(hf, "model_f16.safetensors" if dtype == "F16" else "model_bf16.safetensors"))
    t = sorted(k for k in h if k != "__metadata__" and h[k]["dtype"] == dtype and k.endswith("c_fc.weight"))[0]
    b = h[t]["data_offsets"][0] + 2 * 5
    d[b:b + 2] = struct.pack("<H", bits)
    out(name, build(h, d), "model.safetensors")
    cfg = os.path.join(hf, "config.json")
    if os.path.exists(cfg): open(os.path.join(tmp, "ck_" + name, "config.json"), "w").write(open(cfg).read())
raw = bytearray(open(llmc, "rb").read())
raw[1024 + 4 * 777:1024 + 4 * 778] = struct.pack("<f", float("nan"))
open(os.path.join(tmp, "llmc_nan.bin"), "wb").write(raw)
PYEOF
ck() { printf '%s' "$tmp/ck_$1"; }
ckf=ckpt.safetensors
# 5. memory: bounded by the file's size, estimated before allocating
hostile mem_claim "a 1.6 kB-header checkpoint whose model_args claim 211 T parameters" "$ckf" "parameters" \
    -- eval --out_dir="$(ck huge_args)"
hostile mem_claim2 "a checkpoint whose model_args claim 38.7 G parameters (n_layer 48, n_embd 8192)" "$ckf" "but the file has only" \
    -- sample --out_dir="$(ck big_args)"
hostile mem_vocab "a checkpoint whose model_args claim vocab_size 16777216" "$ckf" "but the file has only" \
    -- train --out_dir="$(ck big_vocab)" --init_from=resume
hostile mem_model "a model of 13 T parameters (n_layer 1024, n_embd 16384)" "" "needs about" \
    -- train --dataset="$ds" --n_layer=1024 --n_head=16 --n_embd=16384 --out_dir="$tmp/mem_out"
hostile mem_model2 "a 4.8 G-parameter model (n_layer 24, n_embd 4096): 19 GB of weights, 4x that to train" "" "gradients and AdamW moments" \
    -- train --dataset="$ds" --n_layer=24 --n_head=32 --n_embd=4096 --block_size=64 --out_dir="$tmp/mem_out"
hostile mem_batch "batch_size 4096 x block_size 4096 (16 M tokens of activations)" "" "activations of 4096 x 4096 tokens" \
    -- train --dataset="$ds" --batch_size=4096 --block_size=4096 --out_dir="$tmp/mem_out"
hostile mem_eval "eval with batch_size 500000 on a small checkpoint" "" "activations of 500000 x 32 tokens" \
    -- eval --out_dir="$good" --batch_size=500000
if [ "$asan" -eq 0 ]; then   # (ASan's shadow memory cannot live under ulimit -v)
( ulimit -v 400000; exec timeout 20 "$NG" train --dataset="$ds" --n_layer=4 --n_head=8 --n_embd=512 --block_size=256 \
    --out_dir="$tmp/mem_out" ) >"$tmp/mem_ulimit.out" 2>"$tmp/mem_ulimit.err"
rc=$?
check "a 12.6 M-parameter run under ulimit -v 400000 is refused up front (exit $rc): $(head -c 300 "$tmp/mem_ulimit.err")" \
    grep -q '^nanogpt: the model .*needs about .* but the address-space limit (ulimit -v) is 0.41 GB$' "$tmp/mem_ulimit.err"
fi
/usr/bin/time -f '%M' -o "$tmp/mem_rss" "$NG" eval --out_dir="$(ck huge_args)" >/dev/null 2>&1
check "the crafted checkpoint is refused without allocating (peak RSS $(tail -n 1 "$tmp/mem_rss") kB < $rss_max kB)" test "$(tail -n 1 "$tmp/mem_rss")" -lt $rss_max
# 6. integer overflow: limits where values enter
hostile int_iter "a checkpoint with iter_num 2147483000" "$ckf" "iter_num missing or invalid (at most 1073741824)" \
    -- train --out_dir="$(ck iter_huge)" --init_from=resume
hostile int_step "a checkpoint with optimizer_step 2^31-1" "$ckf" "optimizer_step missing or invalid" \
    -- train --out_dir="$(ck step_huge)" --init_from=resume
hostile int_max_iters "max_iters 2147483647" "" "max_iters must be in 0..1073741824" -- train --dataset="$ds" --max_iters=2147483647
hostile int_bt "batch_size 65536 x block_size 65536 (2^32 tokens)" "" "batch_size * block_size = 4294967296 tokens per micro-batch" \
    -- train --dataset="$ds" --batch_size=65536 --block_size=65536
hostile int_bt_eval "eval with batch_size 2^31-1" "" "tokens per micro-batch" -- eval --out_dir="$good" --batch_size=2147483647
hostile int_new_tokens "max_new_tokens 2^31-1" "" "max_new_tokens must be at most 268435456" -- sample --out_dir="$good" --max_new_tokens=2147483647
hostile int_warmup "warmup_iters 2^31-1" "" "warmup_iters and lr_decay_iters must be in 0..1073741824" -- train --dataset="$ds" --warmup_iters=2147483647
# 7. non-finite values
hostile nan_weight "a NaN in transformer.h.1.mlp.c_fc.weight" "$ckf" "tensor transformer.h.1.mlp.c_fc.weight holds a non-finite value (nan" \
    -- sample --out_dir="$(ck nan_weight)"
hostile inf_weight "an Inf in transformer.wte.weight" "$ckf" "tensor transformer.wte.weight holds a non-finite value (inf at element 100)" \
    -- eval --out_dir="$(ck inf_weight)"
hostile inf_moment "an Inf in an AdamW second moment (resume)" "$ckf" "tensor optimizer.exp_avg_sq.transformer.h.0.attn.c_attn.weight holds a non-finite" \
    -- train --out_dir="$(ck inf_moment)" --init_from=resume
hostile bvl_nan "best_val_loss nan in a checkpoint (would stop every later save)" "$ckf" "best_val_loss is nan" \
    -- train --out_dir="$(ck bvl_nan)" --init_from=resume
hostile bvl_neg_inf "best_val_loss -inf in a checkpoint" "$ckf" "best_val_loss is -inf" -- train --out_dir="$(ck bvl_neg_inf)" --init_from=resume
hostile hf_f16_inf "a Hugging Face F16 model.safetensors with an Inf (its directory as init_from)" "ck_hf_f16_inf" "holds a non-finite value (inf" \
    -- sample --init_from="$(ck hf_f16_inf)" --max_new_tokens=5 --num_samples=1
hostile hf_bf16_nan "a Hugging Face BF16 model.safetensors with a NaN" "model.safetensors" "holds a non-finite value (nan" \
    -- eval --init_from="$(ck hf_bf16_nan)/model.safetensors" --dataset="${ds}_gpt2"
hostile llmc_nan "an llm.c model file with a NaN" "llmc_nan.bin" "holds a non-finite value (nan" -- sample --init_from="$tmp/llmc_nan.bin"
hostile temp_nan "temperature nan" "temperature" "must be a number" -- sample --out_dir="$good" --temperature=nan
hostile temp_inf "temperature inf" "temperature" "must be a number" -- sample --out_dir="$good" --temperature=inf
hostile temp_under "temperature 1e-50 (0 as a float)" "" "temperature must be > 0" -- sample --out_dir="$good" --temperature=1e-50
# a tiny temperature samples the argmax (what top_k=1 gives), never the last vocabulary entries
smp=(sample --out_dir="$good" --num_samples=2 --max_new_tokens=60 --start=ROMEO)
run greedy "${smp[@]}" --top_k=1 --temperature=1
expect_ok greedy
for t in 1e-30 1e-38 1e-44; do
    run tiny_$t "${smp[@]}" --temperature=$t
    expect_ok tiny_$t
    check "temperature $t samples what top_k=1 does" cmp -s "$tmp/greedy.out" "$tmp/tiny_$t.out"
    run tiny_k_$t "${smp[@]}" --temperature=$t --top_k=1
    check "temperature $t with top_k=1 too" cmp -s "$tmp/greedy.out" "$tmp/tiny_k_$t.out"
done
# log.jsonl stays JSON whatever the numbers (an MFU of inf with a peak of 1e-320 FLOP/s)
run inf_mfu train "${m[@]}" --out_dir="$tmp/inf_mfu" --max_iters=8 --eval_interval=4 --peak_flops=1e-320
expect_ok inf_mfu
check "log.jsonl is strict JSON (no inf/nan), with mfu null" python3 -c '
import json, sys
def bad(c): raise ValueError(c)
rows = [json.loads(l, parse_constant=bad) for l in open(sys.argv[1])]
assert any(r.get("mfu", 0) is None for r in rows), rows' "$tmp/inf_mfu/log.jsonl"

# ---------------------------------------------------------------------------------------
# 8. inconsistent requests
mkdir -p "data/${ds}_vocab"; printf 'abcdefghij klmnopqrstuvwxyz\n%.0s' $(seq 400) >"$tmp/small_vocab.txt"
run vocab_prep prepare --dataset="${ds}_vocab" --input="$tmp/small_vocab.txt"
expect_ok vocab_prep
hostile vocab_eval "eval on a dataset of another vocabulary (28 characters, the checkpoint has 61+)" "meta.json" \
    "differs from the checkpoint's" -- eval --out_dir="$good" --dataset="${ds}_vocab"
hostile vocab_resume "resume on a dataset of another vocabulary" "meta.json" "differs from the checkpoint's" \
    -- train --out_dir="$tmp/th_free" --init_from=resume --dataset="${ds}_vocab" --max_iters=7
mkds nometa; rm "data/${ds}_nometa/meta.json"
hostile vocab_nometa "eval of a char checkpoint on a dataset without meta.json (GPT-2 ids)" "ckpt.safetensors" "has no meta.json" \
    -- eval --out_dir="$good" --dataset="${ds}_nometa"
hostile init_sample "sample with init_from naming no model and no file" "init_from" "'no-such-model' is not resume, gpt2" \
    -- sample --out_dir="$good" --init_from=no-such-model
hostile init_eval "eval with init_from naming no model and no file" "init_from" "is not resume, gpt2" \
    -- eval --out_dir="$good" --init_from=/nonexistent/model.bin
hostile keys_sample "sample --n_layer=3 on a 2-layer checkpoint" "ckpt.safetensors" "cannot use it: the config sets n_layer = 3 but the checkpoint's model has 2" \
    -- sample --out_dir="$good" --n_layer=3
hostile keys_eval "eval --n_embd=64 on a 32-channel checkpoint" "ckpt.safetensors" "the config sets n_embd = 64" -- eval --out_dir="$good" --n_embd=64
# model keys the checkpoint decides are not validated against the defaults (n_embd 768)
run keys_head sample --out_dir="$good" --n_head=2 --num_samples=1 --max_new_tokens=5
expect_ok keys_head
# a smaller block_size crops sample's context: with block_size 4 the output differs from the full context's
run crop_full sample --out_dir="$good" --num_samples=1 --max_new_tokens=40 --top_k=1 --start=ROMEO
run crop_4 sample --out_dir="$good" --num_samples=1 --max_new_tokens=40 --top_k=1 --start=ROMEO --block_size=4
expect_ok crop_4
check "sample --block_size=4 crops the context (its greedy text differs)" test "$(cat "$tmp/crop_full.out")" != "$(cat "$tmp/crop_4.out")"
run crop_32 sample --out_dir="$good" --num_samples=1 --max_new_tokens=40 --top_k=1 --start=ROMEO --block_size=32
check "sample --block_size=32 (the checkpoint's) is the default" cmp -s "$tmp/crop_full.out" "$tmp/crop_32.out"

# ---------------------------------------------------------------------------------------
# 9. outputs
cp -R "$good" "$tmp/exp"; cp "$good/ckpt.safetensors" "$tmp/exp.before"
hostile export_self "export --format=llmc onto the checkpoint it reads" "ckpt.safetensors" "is the checkpoint being exported" \
    -- export --out_dir="$tmp/exp" --format=llmc "$tmp/exp/ckpt.safetensors"
ln -s ckpt.safetensors "$tmp/exp/model.safetensors"
hostile export_self_hf "export --format=hf into out_dir whose model.safetensors links to the checkpoint" "model.safetensors" \
    "is the checkpoint being exported" -- export --out_dir="$tmp/exp" --format=hf "$tmp/exp"
check "the checkpoint survives both exports" cmp -s "$tmp/exp/ckpt.safetensors" "$tmp/exp.before"
if [ -w /dev/full ]; then
    timeout 20 "$NG" sample --out_dir="$good" --num_samples=2 --max_new_tokens=20 >/dev/full 2>"$tmp/h_sample_full.err"; rc=$?
    check "sample onto /dev/full: exit 1 and one line (got $rc: $(head -c 200 "$tmp/h_sample_full.err"))" \
        test "$rc" -eq 1 -a "$(wc -l <"$tmp/h_sample_full.err")" -eq 1
    check "sample onto /dev/full: the message says so" grep -q '^nanogpt: stdout: write failed: No space left on device$' "$tmp/h_sample_full.err"
    printf '%s\t1\t| %s | `%s` | %s |\n' sample_full "sample onto /dev/full (a full disk)" \
        "nanogpt sample --out_dir=\$TMP/th_free --num_samples=2 --max_new_tokens=20 >/dev/full" "$(head -n 1 "$tmp/h_sample_full.err")" >>"$doc_rows"
    echo hello | timeout 20 "$NG" encode --tokenizer=gpt2 >/dev/full 2>"$tmp/enc_full.err"; rc=$?
    check "encode onto /dev/full: exit 1 (got $rc)" test "$rc" -eq 1
    echo 31373 | timeout 20 "$NG" decode --tokenizer=gpt2 >/dev/full 2>"$tmp/dec_full.err"; rc=$?
    check "decode onto /dev/full: exit 1 (got $rc)" test "$rc" -eq 1
fi
# encode and decode stream: 60 MB through each in bounded memory, the same ids as in one piece
yes 'To be, or not to be, that is the question: <|endoftext|> Whether tis nobler' | head -c $big_bytes >"$tmp/big.txt"
/usr/bin/time -f %M -o "$tmp/enc_rss" "$NG" encode --tokenizer=gpt2 <"$tmp/big.txt" >"$tmp/big.ids" 2>"$tmp/enc.err"
check "encode of $big_bytes bytes: peak RSS $(tail -n 1 "$tmp/enc_rss") kB < $rss_max kB" test "$(tail -n 1 "$tmp/enc_rss")" -lt $rss_max
/usr/bin/time -f %M -o "$tmp/dec_rss" "$NG" decode --tokenizer=gpt2 <"$tmp/big.ids" >"$tmp/big.out" 2>"$tmp/dec.err"
check "decode of its ids: peak RSS $(tail -n 1 "$tmp/dec_rss") kB < $rss_max kB" test "$(tail -n 1 "$tmp/dec_rss")" -lt $rss_max
check "decode(encode($big_bytes bytes)) is the text" cmp -s "$tmp/big.txt" "$tmp/big.out"
head -c 3000000 "$tmp/big.txt" | "$NG" encode --tokenizer=gpt2 >"$tmp/part.ids"
check "the ids of the streamed text begin with those of its first 3 MB" \
    test "$(head -c 100000 "$tmp/part.ids" | tr ' ' '\n' | head -n 1000 | md5sum)" = "$(head -c 100000 "$tmp/big.ids" | tr ' ' '\n' | head -n 1000 | md5sum)"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do cat "$tmp/input.txt"; done >"$tmp/big_char.txt"
"$NG" encode --meta="data/$ds/meta.json" <"$tmp/big_char.txt" >"$tmp/char.ids"
check "char encode of 3 MB streams too (decode gives the text back)" cmp -s <("$NG" decode --meta="data/$ds/meta.json" <"$tmp/char.ids") "$tmp/big_char.txt"

# ---------------------------------------------------------------------------------------
# 10. messages that mislead: escapes implemented or refused, BOMs skipped, controls escaped
printf '\xef\xbb\xbfbatch_sise = 4\n' >"$tmp/bom.conf"
hostile bom_typo "a config file with a BOM and a misspelt first key" "bom.conf:1" "unknown config key 'batch_sise' (did you mean 'batch_size'?)" -- train "$tmp/bom.conf"
printf '\xef\xbb\xbfout_dir = "%s/bom_out"\n' "$tmp" >"$tmp/bom_ok.conf"
run bom_ok train "$tmp/bom_ok.conf" "${tr[@]}" --dataset="$ds"
expect_ok bom_ok
check "a BOM before the first key is skipped (out_dir applied)" test -f "$tmp/bom_out/log.jsonl"
echo "out_dir = '$tmp/x\\x41\\u00e9'" >"$tmp/esc.conf"
run esc train "$tmp/esc.conf" "${tr[@]}" --dataset="$ds"
expect_ok esc
check "out_dir = '...x\\x41\\u00e9' is the directory xAé, as Python reads it" test -f "$tmp/xAé/log.jsonl"
printf "out_dir = 'unterminated\n" >"$tmp/unterm.conf"
hostile unterminated "an unterminated string in a config file" "unterm.conf:1" "unterminated string (no closing quote)" -- train "$tmp/unterm.conf"
echo "out_dir = 'a\\x4'" >"$tmp/trunc.conf"
hostile trunc_escape "a truncated \\x escape" "trunc.conf:1" "truncated \\x escape (it takes 2 hex digits)" -- train "$tmp/trunc.conf"
echo "start = 'x\\U00110000'" >"$tmp/bigcp.conf"
hostile big_escape "a \\U escape above U+10FFFF" "bigcp.conf:1" "not a character UTF-8 can hold" -- sample "$tmp/bigcp.conf"
printf 'dataset = "a\033[2J\033[Hb"\n' >"$tmp/ctl.conf"
hostile ctl_value "a value with terminal escape sequences (ESC[2J)" "dataset" 'a\x1b[2J\x1b[Hb' -- train "$tmp/ctl.conf"
hostile ctl_key "a key with a newline and a bell" "" 'unknown config key' -- train $'--out_dir\nX\a=1'
check "the newline and bell of that key are escaped in its one-line message" grep -qF 'out_dir\nX\x07' "$tmp/h_ctl_key.err"
head -c 4096 "data/$ds/train.bin" >"$tmp/shard.bin"
python3 -c '
import struct, sys; t = open(sys.argv[1], "rb").read(); h = struct.pack("<256i", 20240520, 1, len(t) // 2, *([0] * 253))
open(sys.argv[2], "wb").write(h + t)' "data/$ds/train.bin" "$tmp/tokens_shard.bin"
hostile shard_as_model "an llm.c token shard given as the model" "tokens_shard.bin" "is an llm.c token shard (magic 20240520), not a model file" \
    -- sample --init_from="$tmp/tokens_shard.bin"


# ---------------------------------------------------------------------------------------
# docs/bad-inputs.md: the second table (from the marker on) is this script's; regenerated with
# NG_WRITE_DOC=1, otherwise each case must be in it with the same message (numbers aside)
doc=docs/bad-inputs.md
marker='<!-- e2e_hostile.sh -->'
if [ "${NG_WRITE_DOC:-0}" = 1 ]; then
    {
        sed -n "/^$marker\$/q;p" "$doc"
        echo "$marker"
        echo "## Second round: hostile environments"
        echo
        echo "Tried by \`tests/e2e_hostile.sh\` in the same way (one line on stderr naming the file and the"
        echo "problem, exit status 1, no crash, no hang); \`e2e_rel\` is that script's dataset here. The"
        echo "mechanism behind each class is described in the issue note of this round."
        echo
        echo "| input | command | message |"
        echo "|---|---|---|"
        cut -f 3- "$doc_rows"
    } >"$doc.new" && mv "$doc.new" "$doc"
    echo "wrote $doc ($(wc -l <"$doc_rows") inputs)"
else
    check_doc_rows "$doc"
fi
finish
