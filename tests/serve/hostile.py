"""hostile.py PORT -- 200 simultaneous connections against `nanogpt serve`, each a completion
request; prints one line "statuses: CODE=COUNT ..." (every connection is answered or refused
with an HTTP status; a connection the server closed without one counts as 'none')."""
import http.client, json, sys, threading
port = int(sys.argv[1])
codes = {}
lock = threading.Lock()
def one(i):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("POST", "/v1/completions", json.dumps({"prompt": "ROMEO:", "max_tokens": 8, "seed": i}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read())
        code = str(r.status) if r.status == 200 and "choices" in body or r.status != 200 and "error" in body else "badbody"
    except Exception as e:
        code = "none"
    with lock:
        codes[code] = codes.get(code, 0) + 1
ts = [threading.Thread(target=one, args=(i,)) for i in range(200)]
for t in ts: t.start()
for t in ts: t.join()
print("statuses: " + " ".join(f"{k}={v}" for k, v in sorted(codes.items())))
