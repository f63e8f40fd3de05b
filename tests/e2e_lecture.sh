#!/usr/bin/env bash
# e2e_lecture.sh -- the lecture's two programs as configs (config/train_bigram.conf,
# config/train_lecture_gpt.conf), shortened: (a) the bigram trains as bigram.py does, (b) the
# lecture's GPT trains and its checkpoint has the lecture's tensors, (c) sampling takes the
# training config's full softmax, (d) `export --format=lecture` writes gpt.py's and bigram.py's
# state_dict names and shapes, and refuses models the lecture cannot hold, (e) where PyTorch is
# installed, the export loaded into the lecture's own classes (tools/lecture_model.py,
# load_state_dict strict) continues a prompt greedily exactly as `./nanogpt sample --top_k=1`.
# Prints "e2e_lecture.sh: N passed, N failed" and exits 1 on any failure.
set -u
cd "$(dirname "$0")/.."

. tests/lib_e2e.sh
step_val_loss() { sed -n "s/^step $2: train loss [0-9.]*, val loss \([0-9.]*\).*/\1/p" "$1" | tail -n 1; }
# the tensor names and shapes of a safetensors file, "name [d0, d1]" per line, sorted
st_names() { python3 -c '
import json, struct, sys
d = open(sys.argv[1], "rb").read()
h = json.loads(d[8:8 + struct.unpack("<Q", d[:8])[0]])
h.pop("__metadata__", None)
print("\n".join(sorted("%s %s" % (k, v["shape"]) for k, v in h.items())))' "$1"; }

if [ ! -x "$NG" ]; then bad "${NANOGPT:-./nanogpt} is not built (run make)"; finish; fi
if ! command -v python3 >/dev/null; then bad "python3 is needed to read safetensors headers"; finish; fi
run prep prepare --dataset=shakespeare_char
expect_ok prep

# (a) bigram.py: 300 of its 3000 iterations
bout="$tmp/bigram"
run bigram train config/train_bigram.conf --out_dir="$bout" --max_iters=300 --eval_iters=20
expect_ok bigram
v0=$(step_val_loss "$tmp/bigram.out" 0); v300=$(step_val_loss "$tmp/bigram.out" 300)
# bigram.py prints "step 0: train loss 4.7305, val loss 4.7241" with nn.Embedding's N(0, 1) table
check "bigram: step 0 val loss '$v0' within 0.15 of bigram.py's 4.72" fcmp "$(awk -v x="${v0:-0}" 'BEGIN { d = x - 4.72; print d < 0 ? -d : d }')" "<" 0.15
check "bigram: step 300 val loss '$v300' below 2.95" fcmp "${v300:-99}" "<" 2.95

# (b) gpt.py's model, small
gout="$tmp/gpt"
run gpt train config/train_lecture_gpt.conf --out_dir="$gout" --n_layer=2 --n_embd=64 --n_head=4 --block_size=32 \
    --batch_size=8 --max_iters=100 --eval_interval=100 --eval_iters=4 --log_interval=50 --learning_rate=3e-3
expect_ok gpt
g100=$(step_val_loss "$tmp/gpt.out" 100)
check "lecture GPT: step 100 val loss '$g100' below 2.9" fcmp "${g100:-99}" "<" 2.9
st_names "$gout/ckpt.safetensors" | grep -v '^optimizer' > "$tmp/ckpt_names.txt"
check "lecture GPT checkpoint: lm_head.weight [65, 64] and lm_head.bias [65]" \
    grep -qx 'lm_head.weight \[65, 64\]' "$tmp/ckpt_names.txt"
check "lecture GPT checkpoint: lm_head.bias [65]" grep -qx 'lm_head.bias \[65\]' "$tmp/ckpt_names.txt"
check "lecture GPT checkpoint: no c_attn bias" test "$(grep -c 'c_attn.bias' "$tmp/ckpt_names.txt")" = 0
check "lecture GPT checkpoint: c_proj and c_fc biases" test "$(grep -c 'c_proj.bias\|c_fc.bias' "$tmp/ckpt_names.txt")" = 6

# (c) sampling: the config's temperature 1.0 and top_k 0 (all tokens) unless given
run s_cfg sample --out_dir="$gout" --num_samples=1 --max_new_tokens=100
run s_full sample --out_dir="$gout" --num_samples=1 --max_new_tokens=100 --temperature=1.0 --top_k=0
check "sample uses the training config's temperature 1.0 and top_k 0" cmp -s "$tmp/s_cfg.out" "$tmp/s_full.out"
run s_08 sample --out_dir="$gout" --num_samples=1 --max_new_tokens=100 --temperature=0.8
check "a temperature on the command line still wins" test "$(cmp -s "$tmp/s_cfg.out" "$tmp/s_08.out"; echo $?)" = 1
run s_badk sample --out_dir="$gout" --top_k=-1
expect_fail s_badk "top_k"

# (d) export --format=lecture
run gexp export --out_dir="$gout" --format=lecture "$tmp/gpt_lecture.safetensors"
expect_ok gexp
st_names "$tmp/gpt_lecture.safetensors" > "$tmp/lecture_names.txt"
python3 - > "$tmp/want_names.txt" <<'PY'
C, hs, V, T, names = 64, 16, 65, 32, []
names += ["token_embedding_table.weight [%d, %d]" % (V, C), "position_embedding_table.weight [%d, %d]" % (T, C)]
for l in range(2):
    p = "blocks.%d." % l
    for h in range(4):
        names += ["%ssa.heads.%d.%s.weight [%d, %d]" % (p, h, k, hs, C) for k in ("key", "query", "value")]
        names.append("%ssa.heads.%d.tril [%d, %d]" % (p, h, T, T))
    names += [p + "sa.proj.weight [%d, %d]" % (C, C), p + "sa.proj.bias [%d]" % C,
              p + "ffwd.net.0.weight [%d, %d]" % (4 * C, C), p + "ffwd.net.0.bias [%d]" % (4 * C),
              p + "ffwd.net.2.weight [%d, %d]" % (C, 4 * C), p + "ffwd.net.2.bias [%d]" % C]
    names += [p + "%s.%s [%d]" % (ln, wb, C) for ln in ("ln1", "ln2") for wb in ("weight", "bias")]
names += ["ln_f.weight [%d]" % C, "ln_f.bias [%d]" % C, "lm_head.weight [%d, %d]" % (V, C), "lm_head.bias [%d]" % V]
print("\n".join(sorted(names)))
PY
check "export --format=lecture: exactly gpt.py's state_dict names and shapes" cmp -s "$tmp/lecture_names.txt" "$tmp/want_names.txt"
run bexp export --out_dir="$bout" --format=lecture "$tmp/bigram_lecture.safetensors"
expect_ok bexp
check "export --format=lecture of the bigram: bigram.py's one table" \
    test "$(st_names "$tmp/bigram_lecture.safetensors")" = "token_embedding_table.weight [65, 65]"
run ghf export --out_dir="$gout" --format=hf "$tmp/hf"
expect_fail ghf "--format=lecture"
nout="$tmp/nanogpt"
run ntrain train config/train_shakespeare_char_cpu.conf --out_dir="$nout" --n_layer=1 --n_embd=32 --n_head=2 --max_iters=1 --eval_interval=1 --eval_iters=1 --always_save_checkpoint=True
expect_ok ntrain
run nexp export --out_dir="$nout" --format=lecture "$tmp/n_lecture.safetensors"
expect_fail nexp "ReLU"
run badfmt export --out_dir="$gout" --format=lectures "$tmp/x"
expect_fail badfmt "lecture"

# (e) the lecture's own classes continue a prompt as ./nanogpt sample --top_k=1 does
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    for m in gpt bigram; do
        d="$tmp/$m"
        [ "$m" = gpt ] && n=80 || n=40     # past the GPT's block of 32: the context is cropped
        /usr/bin/python3 tools/lecture_model.py greedy "$tmp/${m}_lecture.safetensors" "ROMEO:" $n > "$tmp/${m}_torch.txt" 2> "$tmp/${m}_torch.err"
        check "$m: tools/lecture_model.py loads the export into the lecture's class (strict)" test -s "$tmp/${m}_torch.txt"
        [ -s "$tmp/${m}_torch.txt" ] || head -n 5 "$tmp/${m}_torch.err" >&2
        run "${m}_greedy" sample --out_dir="$d" --start="ROMEO:" --num_samples=1 --max_new_tokens=$n --top_k=1
        expect_ok "${m}_greedy"
        head -n -1 "$tmp/${m}_greedy.out" > "$tmp/${m}_c.txt"
        check "$m: the lecture's PyTorch class and nanogpt continue the prompt identically" cmp -s "$tmp/${m}_torch.txt" "$tmp/${m}_c.txt"
    done
else
    echo "(python3-torch not installed: the lecture's PyTorch classes were not run)"
fi

finish
