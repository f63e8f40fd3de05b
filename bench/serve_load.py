"""serve_load.py PORT STREAMS MAX_TOKENS -- STREAMS concurrent streamed completions against
`nanogpt serve` on 127.0.0.1:PORT; prints one line: streams, tokens, seconds, aggregate
tokens/s, and p50/p99 of the time between a stream's tokens (ms)."""
import http.client, json, sys, threading, time
port, streams, max_tokens = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
gaps, tokens = [], [0]
lock = threading.Lock()
def one(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/completions", json.dumps({"prompt": "Hello, I'm a language model,", "max_tokens": max_tokens,
              "seed": i, "temperature": 1.0, "stream": True}), {"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200, r.status
    last, mine, buf = None, [], b""
    while True:
        piece = r.read1(65536)                         # what has arrived (iterating lines would wait for 8 KB)
        if not piece: break
        buf += piece
        *lines, buf = buf.split(b"\n")
        now = time.perf_counter()
        for line in lines:
            if not line.startswith(b"data: {"): continue
            if last is not None: mine.append(now - last)   # the first gap holds the prefill: left out
            last = now
    with lock:
        gaps.extend(mine); tokens[0] += max_tokens
t0 = time.perf_counter()
ts = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
for t in ts: t.start()
for t in ts: t.join()
dt = time.perf_counter() - t0
gaps.sort()
pct = lambda p: 1000 * gaps[min(len(gaps) - 1, int(p * len(gaps)))] if gaps else float("nan")
print(f"streams {streams}: {tokens[0]} tokens in {dt:.2f} s = {tokens[0] / dt:.1f} tokens/s; "
      f"per-token latency p50 {pct(0.50):.1f} ms, p99 {pct(0.99):.1f} ms")
