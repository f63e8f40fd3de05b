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
if grep -qa __asan_init "$NG" 2>/dev/null; then
    echo "(AddressSanitizer build: its shadow memory inflates the RSS, the memory estimate is checked by the plain build)"
else
mem_check --dataset="$ds" --n_layer=4 --n_head=4 --n_embd=128 --block_size=64 --batch_size=12 --gradient_accumulation_steps=1
mem_check --dataset="$ds" --n_layer=4 --n_head=4 --n_embd=192 --block_size=128 --batch_size=16 --gradient_accumulation_steps=1 --threads=1
mem_check --dataset=none --n_layer=6 --n_head=6 --n_embd=384 --block_size=64 --batch_size=4 --gradient_accumulation_steps=1
fi

# ---------------------------------------------------------------------------------------
# (b) progress: one line updated in place on a terminal, nanoGPT's log lines otherwise
out="$tmp/out"
targs="$m --out_dir=$out --max_iters=40 --eval_interval=20 --eval_iters=4 --log_interval=1 --sample_at_eval=30"
if command -v script >/dev/null; then
    timeout 120 script -qec "$NG train $targs --out_dir=$tmp/out_tty" "$tmp/tty.txt" >/dev/null 2>&1 </dev/null
    check "train under a terminal exits 0" test $? -eq 0
    check "terminal: the line is redrawn in place (\\r ... ESC[K) with iter/max_iters, loss, tok/s, elapsed and ETA" \
        grep -aqE $'\riter [0-9]+/40: loss [0-9.]+, [0-9]+ tok/s, mfu [0-9.]+%, elapsed [0-9.hms]+, ETA [0-9.hms]+\033\\[K' "$tmp/tty.txt"
    check "terminal: the last iteration is left on screen" grep -aqE $'\riter 40/40: loss .*ETA 0.0s\033\\[K\r?$' "$tmp/tty.txt"
    check "terminal: no plain 'iter N: loss' lines" bash -c '! grep -aqE "(^|\r)iter [0-9]+: loss" "$1"' _ "$tmp/tty.txt"
    check "terminal: evaluation lines stay lines" grep -aqE $'\033\\[Kstep 20: train loss [0-9.]+, val loss [0-9.]+\r?$' "$tmp/tty.txt"
    check "terminal: estimate_loss shows its batches" grep -aqF $'\restimate_loss: train batch 1/4\033' "$tmp/tty.txt"
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

# ---------------------------------------------------------------------------------------
# (c) report.html, report, plot
page="$out/report.html"
check "report.html, run.json and samples.jsonl are written" test -s "$page" -a -s "$out/run.json" -a -s "$out/samples.jsonl"
# the page's embedded data (the JSON block the script draws from) against log.jsonl
embedded_equals_logs() {   # PAGE DIR...: run i of the page is DIR i, its log lines equal DIR i/log.jsonl
    /usr/bin/python3 - "$@" <<'PY'
import json, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
block = re.search(r'<script type="application/json" id="ng-data">(.*?)</script>', page, re.S).group(1)
data = json.loads(block.replace("<!--NG_DATA-->", ""))
dirs = sys.argv[2:]
assert len(data["runs"]) == len(dirs), (len(data["runs"]), dirs)
for run, d in zip(data["runs"], dirs):
    want = [json.loads(l) for l in open(d + "/log.jsonl") if l.strip()]
    assert run["log"] == want, d
    assert len(want) > 10
    samples = [json.loads(l) for l in open(d + "/samples.jsonl")] if run["samples"] else []
    assert run["samples"] == samples
print("embedded data equal log.jsonl:", [len(r["log"]) for r in data["runs"]], "lines")
PY
}
check "report.html: the embedded data are log.jsonl's lines, and the samples" embedded_equals_logs "$page" "$out"
check "report.html: run.json says finished, 40 iterations, the model and its parameter count" /usr/bin/python3 - "$out/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = r["model"]
ok = (r["status"] == "finished" and r["max_iters"] == 40 and r["iter"] == 40 and m["n_layer"] == 2 and m["n_embd"] == 32
      and m["num_params"] == sum(t["numel"] for t in m["tensors"]) and r["config"]["sample_at_eval"] == 30)
sys.exit(0 if ok else 1)
PY
check "report.html: one sample of 30 tokens per evaluation (0, 20, 40)" /usr/bin/python3 - "$out/samples.jsonl" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if [x["iter"] for x in s] == [0, 20, 40] and all(len(x["text"]) == 31 for x in s) else 1)
PY
check "report.html loads nothing: no src/href/url()/@import/link/fetch, no http(s) address" \
    bash -c '! grep -qiE "(src|href|action|poster|srcset)[[:space:]]*=|url\(|@import|<link|<iframe|<img|fetch\(|XMLHttpRequest|https?://" "$1"' _ "$page"
# headless Chromium: no network at all (every request would go to a closed proxy), a screenshot
# that is not blank, and the drawn DOM with one polyline per series holding every logged point
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -n "$CHROME" ]; then
    cflags=(--headless --disable-gpu --no-sandbox --no-first-run --disable-extensions --proxy-server=127.0.0.1:9
            --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$tmp/chrome" --virtual-time-budget=5000)
    timeout 120 "$CHROME" "${cflags[@]}" --window-size=1300,1700 --screenshot="$tmp/shot.png" "file://$page" >/dev/null 2>&1
    timeout 120 "$CHROME" "${cflags[@]}" --dump-dom "file://$page" >"$tmp/dom.html" 2>/dev/null
    check "chromium: the screenshot is a PNG that is not blank" /usr/bin/python3 - "$tmp/shot.png" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w = 8, b"", 0
while pos < len(d):
    n, kind = struct.unpack(">I4s", d[pos:pos + 8]); body = d[pos + 8:pos + 8 + n]; pos += 12 + n
    if kind == b"IHDR": w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    if kind == b"IDAT": idat += body
raw = zlib.decompress(idat)
bpp = {2: 3, 6: 4}[ctype]
stride = 1 + w * bpp
assert depth == 8 and len(raw) == h * stride
# count non-white bytes of unfiltered rows of filter type 0 or the raw bytes otherwise (filtered
# rows differ from the pixels, but a blank page compresses to rows of zeros/255 either way)
nonwhite = sum(1 for y in range(h) for b in raw[y * stride + 1:(y + 1) * stride:bpp] if b not in (0, 255))
distinct = len(set(raw[::97]))
print("screenshot %dx%d, %d non-white samples, %d distinct bytes" % (w, h, nonwhite, distinct))
sys.exit(0 if nonwhite > w * h * 0.005 and distinct > 20 else 1)
PY
    check "chromium: the page ran and drew one polyline per series with every point of log.jsonl" /usr/bin/python3 - "$tmp/dom.html" "$out/log.jsonl" <<'PY'
import json, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
log = [json.loads(l) for l in open(sys.argv[2])]
assert 'data-ready="1"' in dom
charts = dict(re.findall(r'<svg[^>]*id="(chart-[a-z-]+)"[^>]*>(.*?)</svg>', dom, re.S))
want = {("chart-loss", "loss"): sum("loss" in o for o in log), ("chart-loss", "val_loss"): sum("val_loss" in o for o in log),
        ("chart-loss", "train_loss"): sum("train_loss" in o for o in log), ("chart-loss-log", "val_loss"): sum("val_loss" in o for o in log),
        ("chart-lr", "lr"): sum("loss" in o for o in log), ("chart-grad-norm", "grad_norm"): sum("loss" in o for o in log),
        ("chart-tokens", "tokens_per_sec"): sum("loss" in o for o in log), ("chart-mfu", "mfu"): sum(o.get("mfu", -1) >= 0 for o in log)}
for (chart, key), n in want.items():
    m = re.search(r'<polyline [^>]*data-series="%s"[^>]*>' % key, charts[chart])
    got = int(re.search(r'data-n="(\d+)"', m.group(0)).group(1))
    pts = len(re.search(r'points="([^"]*)"', m.group(0)).group(1).split())
    assert got == n == pts and n > 0, (chart, key, got, pts, n)
print("charts:", sorted(charts))
PY
else
    bad "chromium is not installed (Debian: apt-get install chromium): report.html cannot be checked in a browser"
fi

# a second run, overlaid
run train2 train $m --out_dir="$tmp/out2" --max_iters=20 --eval_interval=10 --eval_iters=2 --learning_rate=3e-3 --sample_at_eval=0
expect_ok train2
check "sample_at_eval=0: no samples" test ! -s "$tmp/out2/samples.jsonl"
run report report "$out" "$tmp/out2" --out="$tmp/both.html"
expect_ok report
check "report of two runs: both runs' data, equal to their log.jsonl" embedded_equals_logs "$tmp/both.html" "$out" "$tmp/out2"
run plot_svg plot "$out" "$tmp/out2" --out="$tmp/loss.svg"
expect_ok plot_svg
check "plot: the SVG parses as XML with an <svg> root and drawn paths" /usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
sys.exit(0 if root.tag.endswith("svg") and len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 10 else 1)' "$tmp/loss.svg"
run plot_png plot "$out" --out="$tmp/loss.png"
expect_ok plot_png
png_ok() {   # FILE MIN_W: a PNG that zlib decodes to width x height RGBA rows, with ink on it
    /usr/bin/python3 - "$@" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat = 8, b""
while pos < len(d):
    n, kind = struct.unpack(">I4s", d[pos:pos + 8]); body = d[pos + 8:pos + 8 + n]
    assert zlib.crc32(kind + body) == struct.unpack(">I", d[pos + 8 + n:pos + 12 + n])[0]
    pos += 12 + n
    if kind == b"IHDR": w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    if kind == b"IDAT": idat += body
raw = zlib.decompress(idat)
bpp = {2: 3, 6: 4}[ctype]
assert depth == 8 and len(raw) == h * (1 + w * bpp) and w >= int(sys.argv[2])
print("png %dx%d" % (w, h))
sys.exit(0 if len(set(raw)) > 16 else 1)
PY
}
check "plot: the PNG decodes (signature, CRCs, zlib, size)" png_ok "$tmp/loss.png" 800
run report_nodir report "$tmp/nothing" --out="$tmp/x.html"
expect_fail report_nodir "no log.jsonl"
run report_noout report "$out"
expect_fail report_noout "--out=FILE.html"
run plot_gif plot "$out" --out="$tmp/x.gif"
expect_fail plot_gif "FILE.svg or FILE.png"

# diverged: report.html says so
run diverge train $m --out_dir="$tmp/div" --max_iters=30 --eval_interval=10 --eval_iters=1 --learning_rate=1e9 --grad_clip=0 --sample_at_eval=0
expect_fail diverge "diverged"
check "a diverged run's report says diverged" /usr/bin/python3 -c '
import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["status"] == "diverged" else 1)' "$tmp/div/run.json"

# ---------------------------------------------------------------------------------------
# (d) attention maps
prompt="ROMEO: O, she"   # 13 tokens, within block_size 16
run att_all attention --out_dir="$out" --start="$prompt" --layer=1 --out="$tmp/att.json"
expect_ok att_all
run att_one attention --out_dir="$out" --start="$prompt" --layer=1 --head=1 --out="$tmp/att1.json"
expect_ok att_one
check "attention JSON: every head, rows sum to 1, zeros above the diagonal, the prompt's tokens" /usr/bin/python3 - "$tmp/att.json" "$tmp/att1.json" "$prompt" <<'PY'
import json, sys
a, one, prompt = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
T = len(prompt)
assert a["layer"] == 1 and a["head"] == [0, 1] and a["tokens"] == list(prompt) and len(a["matrix"]) == 2
assert one["head"] == 1 and one["matrix"] == a["matrix"][1]
for M in a["matrix"]:
    assert len(M) == T
    for t, row in enumerate(M):
        assert len(row) == T and abs(sum(row) - 1) <= 1e-5 and all(v == 0 for v in row[t + 1:]) and all(v > 0 for v in row[:t + 1])
PY
if [ "$have_torch" = 1 ]; then
    check "attention JSON equals PyTorch's attention probabilities for the same checkpoint and prompt (<= 1e-5)" \
        /usr/bin/python3 - "$tmp/att.json" "$out/ckpt.safetensors" "$prompt" <<'PY'
import json, subprocess, sys
mine = json.load(open(sys.argv[1]))
ref = json.loads(subprocess.check_output(["/usr/bin/python3", "tools/nanogpt_ckpt.py", "attention", sys.argv[2], sys.argv[3], "1"]))
assert ref["tokens"] == mine["tokens"]
d = max(abs(x - y) for A, B in zip(mine["matrix"], ref["matrix"]) for r, s in zip(A, B) for x, y in zip(r, s))
print("attention: max |C - PyTorch| = %.3g" % d)
sys.exit(0 if d <= 1e-5 else 1)
PY
else
    echo "(PyTorch not installed: attention checked against the committed parity fixtures in test_parity only)"
fi
for f in svg png html; do
    run "att_$f" attention --out_dir="$out" --start="$prompt" --out="$tmp/att.$f"
    expect_ok "att_$f"
done
check "attention SVG parses as XML" /usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET; sys.exit(0 if ET.parse(sys.argv[1]).getroot().tag.endswith("svg") else 1)' "$tmp/att.svg"
check "attention PNG decodes" png_ok "$tmp/att.png" 200
check "attention HTML: inline SVG, nothing loaded" bash -c 'grep -q "<svg" "$1" && ! grep -qiE "(src|href)[[:space:]]*=[[:space:]]*\"?https?:|<link|<script" "$1"' _ "$tmp/att.html"
run att_layer attention --out_dir="$out" --start="$prompt" --layer=2 --out="$tmp/x.json"
expect_fail att_layer "--layer=2: the model has layers 0..1"
run att_head attention --out_dir="$out" --start="$prompt" --head=5 --out="$tmp/x.json"
expect_fail att_head "--head=5"
run att_ext attention --out_dir="$out" --start="$prompt" --out="$tmp/x.txt"
expect_fail att_ext "--out=FILE.svg"
run att_char attention --out_dir="$out" --start="日本" --out="$tmp/x.json"
expect_fail att_char ""

finish
