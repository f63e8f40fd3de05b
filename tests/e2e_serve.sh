#!/usr/bin/env bash
# e2e_serve.sh -- `nanogpt serve` with real clients on a free loopback port: curl and the
# official openai npm client (non-streamed and streamed) give the same text as `nanogpt
# sample` with the same prompt, seed, temperature, top_k, top_p and stop; hostile requests
# get OpenAI's error object with the right status and the server keeps answering; the API
# key; SIGTERM stops it cleanly. Every server started here is killed on exit.
set -u
cd "$(dirname "$0")/.."
source tests/lib_e2e.sh
ds=serve_e2e_$$
SPID=
e2e_cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; rm -rf "data/$ds"; }
PY=/usr/bin/python3

head -c 30000 data/shakespeare_char/input.txt > "$tmp/input.txt"
run prep prepare --dataset=$ds --input="$tmp/input.txt"; expect_ok prep
run train train --dataset=$ds --out_dir="$tmp/out" --n_layer=2 --n_head=2 --n_embd=32 --block_size=64 --batch_size=4 \
    --gradient_accumulation_steps=1 --max_iters=30 --eval_interval=30 --eval_iters=1 --threads=1 --log_interval=100
expect_ok train

# start_server LOG ARGS...: serve on a free port (--port=0), wait for its line; sets SPID, PORT, URL
start_server() {
    local log=$1; shift
    "$NG" serve --out_dir="$tmp/out" --port=0 --threads=1 "$@" 2>"$tmp/$log" &
    SPID=$!
    PORT=
    for _ in $(seq 100); do
        PORT=$(sed -n 's/^serving .* on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/$log")
        [ -n "$PORT" ] && break
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    URL=http://127.0.0.1:$PORT
    [ -n "$PORT" ]
}
stop_server() { kill -TERM "$SPID" 2>/dev/null; local i; for i in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done; wait "$SPID"; local rc=$?; SPID=; return $rc; }

check "serve starts on a free loopback port" start_server serve.err
check "GET /health" bash -c "curl -s -m 10 $URL/health | grep -q '\"status\": \"ok\"'"
check "GET /v1/models lists the model" bash -c "curl -s -m 10 $URL/v1/models | grep -qF '\"id\": \"$tmp/out\"'"

# post NAME JSON: the answer body in $tmp/NAME.json, the status in $code
post() { code=$(curl -s -m 60 -o "$tmp/$1.json" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$URL/v1/completions"); }
# the text of choice I of a completion
text_of() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["choices"][int(sys.argv[2])]["text"], end="")' "$1" "$2"; }
# sample_text OUT I: the continuation of sample I in `sample`'s output (prompt and separator cut off)
sample_text() { $PY -c '
import sys
parts = open(sys.argv[1], encoding="utf-8").read().split("\n---------------\n")
print(parts[int(sys.argv[2])][len(sys.argv[3]):], end="")' "$1" "$2" "$3"; }

# (a) answers equal `nanogpt sample` with the same settings; n choices = num_samples samples
P="ROMEO:"
post a '{"model": "x", "prompt": "ROMEO:", "max_tokens": 40, "seed": 7, "temperature": 0.9, "top_k": 12, "top_p": 0.8, "n": 3}'
check "completion: status 200" [ "$code" = 200 ]
run s_a sample --out_dir="$tmp/out" --start="$P" --max_new_tokens=40 --seed=7 --temperature=0.9 --top_k=12 --top_p=0.8 --num_samples=3 --threads=1
expect_ok s_a
for i in 0 1 2; do
    check "choice $i equals sample $i of nanogpt sample" [ "$(text_of "$tmp/a.json" $i)" = "$(sample_text "$tmp/s_a.out" $i "$P")" ]
done
check "usage counts the prompt once and every generated token" grep -q '"usage": {"prompt_tokens": 6, "completion_tokens": 120, "total_tokens": 126}' "$tmp/a.json"
check "finish_reason length" grep -q '"finish_reason": "length"' "$tmp/a.json"
# stop strings (an array), echo
post b '{"prompt": "ROMEO:", "max_tokens": 50, "seed": 3, "temperature": 1.0, "stop": ["e", "zz"], "echo": true}'
run s_b sample --out_dir="$tmp/out" --start="$P" --max_new_tokens=50 --seed=3 --temperature=1.0 --top_k=100000 --stop=e --num_samples=1 --threads=1
check "stop + echo: text equals sample --stop=e with the prompt" [ "$(text_of "$tmp/b.json" 0)" = "$P$(sample_text "$tmp/s_b.out" 0 "$P")" ]
if grep -q '"finish_reason": "stop"' "$tmp/b.json"; then ok; else bad "stop: finish_reason is not stop: $(cat "$tmp/b.json")"; fi
# streamed: server-sent events ending in [DONE], the same text
curl -sN -m 60 -H 'Content-Type: application/json' -d '{"prompt": "ROMEO:", "max_tokens": 40, "seed": 7, "temperature": 0.9, "top_k": 12, "top_p": 0.8, "stream": true}' "$URL/v1/completions" > "$tmp/c.sse"
check "stream ends with data: [DONE]" [ "$(tail -n 2 "$tmp/c.sse" | head -n 1)" = "data: [DONE]" ]
streamed=$($PY -c '
import json,sys
t = ""
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("data: {"): t += json.loads(line[6:])["choices"][0]["text"]
print(t, end="")' "$tmp/c.sse")
check "streamed text equals sample 0" [ "$streamed" = "$(sample_text "$tmp/s_a.out" 0 "$P")" ]

# (b) the official openai npm client (tests/serve/node_modules, installed here when missing)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "SKIPPED: the openai npm client test (node or npm is not installed)"
else
    [ -d tests/serve/node_modules/openai ] || (cd tests/serve && npm install --no-save --no-package-lock openai >/dev/null 2>&1)
    if timeout 120 node tests/serve/openai_client.mjs "$URL/v1" "$tmp/out" "$P" 40 7 0.9 0.8 > "$tmp/node.out" 2>"$tmp/node.err"; then ok
    else bad "openai client failed: $(tail -n 5 "$tmp/node.err")"; fi
    run s_n sample --out_dir="$tmp/out" --start="$P" --max_new_tokens=40 --seed=7 --temperature=0.9 --top_k=100000 --top_p=0.8 --num_samples=1 --threads=1
    want=$(sample_text "$tmp/s_n.out" 0 "$P")
    for line in 1 2; do
        got=$(sed -n "${line}p" "$tmp/node.out" | $PY -c 'import json,sys; print(json.load(sys.stdin)["text"], end="")')
        check "openai client (line $line: 1 plain, 2 streamed) equals sample" [ "$got" = "$want" ]
    done
fi

# (c) hostile requests: the right status, OpenAI's error object
expect_error() {   # NAME STATUS: $code and the body of $tmp/NAME.json
    if [ "$code" = "$2" ] && $PY -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert set(e) == {"message","type","param","code"}' "$tmp/$1.json" 2>/dev/null; then ok
    else bad "$1: status $code (want $2), body $(head -c 300 "$tmp/$1.json")"; fi
}
post h1 '{"prompt": "ROMEO:", "max_tokens": 5'; expect_error h1 400
post h2 '{"prompt": "ROMEO:", max_tokens: 5}'; expect_error h2 400
post h3 '[1, 2, 3]'; expect_error h3 400
post h4 '{"prompt": 5}'; expect_error h4 400
post h5 '{"prompt": "ROMEO:", "max_tokens": "5"}'; expect_error h5 400
post h6 '{"prompt": "ROMEO:", "max_tokens": 1e300}'; expect_error h6 400
post h7 '{"prompt": "ROMEO:", "max_tokens": -1}'; expect_error h7 400
post h8 '{"prompt": "ROMEO:", "temperature": -0.5}'; expect_error h8 400
post h9 '{"prompt": "ROMEO:", "n": 1000000}'; expect_error h9 400
post h10 '{"prompt": "ROMEO:", "max_tokens": 99999999999999999999}'; expect_error h10 400
post h11 "$(printf '{"prompt": "ROM\xff\xfeEO"}')"; expect_error h11 400
post h12 '{"prompt": ""}'; expect_error h12 400
post h13 '{"prompt": "ROMEO:", "max_tokens": 64}'; expect_error h13 400
check "prompt + max_tokens over the block: context_length_exceeded" grep -q context_length_exceeded "$tmp/h13.json"
post h14 '{"prompt": "ROMEO:", "stop": ["a", "b", "c", "d", "e"]}'; expect_error h14 400
post h15 '{"prompt": "ROMEO:", "top_p": 1.5}'; expect_error h15 400
post h16 '{"prompt": "ROMEO:", "stream": "yes"}'; expect_error h16 400
post h17 '{"prompt": "\u0001\u00ff~~"}'; expect_error h17 400
post h18 ''; expect_error h18 400
post h19 '{"prompt": ["ROMEO:", 7]}'; expect_error h19 400
post h20 '{"prompt": "ROMEO:", "logprobs": 5}'; expect_error h20 400
head -c 10000000 /dev/zero | tr '\0' 'a' > "$tmp/big"
code=$(curl -s -m 60 -o "$tmp/h21.json" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$tmp/big" "$URL/v1/completions")
expect_error h21 413
code=$(curl -s -m 60 -o "$tmp/h22.json" -w '%{http_code}' -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' --data-binary @"$tmp/big" "$URL/v1/completions")
expect_error h22 413
code=$(curl -s -m 10 -o "$tmp/h23.json" -w '%{http_code}' "$URL/v1/nothing"); expect_error h23 404
code=$(curl -s -m 10 -o "$tmp/h24.json" -w '%{http_code}' "$URL/v1/completions"); expect_error h24 405
code=$(curl -s -m 10 -o "$tmp/h25.json" -w '%{http_code}' -X DELETE "$URL/health"); expect_error h25 405
# a client that sends half a request and stalls: others are served meanwhile, and the server
# drops it after its connection timeout (10 s)
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt": "RO' >&3
post ok1 '{"prompt": "ROMEO:", "max_tokens": 4}'
check "a request is answered while another client stalls" [ "$code" = 200 ]
t0=$SECONDS
timeout 30 cat <&3 >/dev/null; cat_rc=$?
exec 3<&-
check "the stalled connection is closed by the server (after $((SECONDS - t0)) s)" [ "$cat_rc" -eq 0 ]
# 200 simultaneous connections: every one answered 200 or 429 (queue full), then still serving
timeout 300 $PY tests/serve/hostile.py "$PORT" > "$tmp/many.out" 2>&1
statuses=$(cat "$tmp/many.out")
if echo "$statuses" | grep -qE '^statuses:( (200|429)=[0-9]+)+$' && echo "$statuses" | grep -q ' 200='; then ok
else bad "200 connections: $statuses"; fi
post ok2 '{"prompt": "ROMEO:", "max_tokens": 4}'
check "a normal request is answered after the hostile ones" [ "$code" = 200 ]
check "server still running" kill -0 "$SPID"
check "SIGTERM: the server exits 0" stop_server
grep -q "SIGTERM: finishing" "$tmp/serve.err" && ok || bad "no shutdown line: $(tail -n 3 "$tmp/serve.err")"

# (d) --api_key: 401 with OpenAI's error object without the Bearer token, 200 with it
check "serve --api_key starts" start_server serve2.err --api_key=s3cret
code=$(curl -s -m 10 -o "$tmp/k1.json" -w '%{http_code}' -d '{"prompt": "RO"}' "$URL/v1/completions"); expect_error k1 401
code=$(curl -s -m 10 -o "$tmp/k2.json" -w '%{http_code}' -H 'Authorization: Bearer wrong' "$URL/v1/models"); expect_error k2 401
code=$(curl -s -m 10 -o "$tmp/k3.json" -w '%{http_code}' -H 'Authorization: Bearer s3cret' -d '{"prompt": "RO", "max_tokens": 3}' "$URL/v1/completions")
check "the right key: 200" [ "$code" = 200 ]
check "SIGTERM again" stop_server
finish
