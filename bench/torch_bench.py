"""PyTorch side of bench/compare.sh: times nanoGPT's training step (forward, backward,
clip_grad_norm_, AdamW) or nanoGPT-style generation (the whole context recomputed for each
token) with the same model the parity fixtures use (tools/gen_fixtures.py).

usage: python3 bench/torch_bench.py --n_layer=4 --n_head=4 --n_embd=128 --block_size=64
           --batch_size=12 --vocab_size=65 [--dropout=0.0] [--iters=10] [--mode=train|sample]
           [--max_new_tokens=500] [--dtype=float32|bfloat16]

--dtype=bfloat16 runs the forward under torch.autocast("cpu", dtype=torch.bfloat16), as
nanoGPT's train.py and sample.py do for dtype='bfloat16' (fp32 parameters and optimizer).
"""
import contextlib
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import torch  # noqa: E402
from gen_fixtures import GPT, GPTConfig  # noqa: E402


def main():
    a = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "batch_size": 12, "vocab_size": 65,
         "dropout": 0.0, "iters": 10, "mode": "train", "max_new_tokens": 500, "bias": 0, "dtype": "float32"}
    for arg in sys.argv[1:]:
        k, v = arg.lstrip("-").split("=", 1)
        a[k] = type(a[k])(v) if not isinstance(a[k], str) else v
    torch.manual_seed(1337)
    cfg = GPTConfig(a["block_size"], a["vocab_size"], a["n_layer"], a["n_head"], a["n_embd"],
                    dropout=a["dropout"], bias=bool(a["bias"]))
    model = GPT(cfg)
    for n, p in model.named_parameters():
        torch.nn.init.normal_(p, 0.0, 0.02) if p.dim() >= 2 else None
    B, T, V = a["batch_size"], a["block_size"], a["vocab_size"]
    assert a["dtype"] in ("float32", "bfloat16"), a["dtype"]
    ctx_dtype = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a["dtype"] == "bfloat16" else contextlib.nullcontext
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, blas: "
          f"{'openblas' if 'openblas' in torch.__config__.show().lower() else 'see torch.__config__'}, dtype {a['dtype']}")
    if a["mode"] == "train":
        model.train()
        opt = model.configure_optimizer(6e-4, (0.9, 0.95), 1e-8, 0.1)
        times = []
        for it in range(2 + a["iters"]):
            x = torch.randint(V, (B, T))
            y = torch.randint(V, (B, T))
            t0 = time.perf_counter()
            with ctx_dtype():
                _, loss = model(x, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            dt = time.perf_counter() - t0
            print(f"iter {it}: loss {loss.item():.4f}, time {dt * 1000:.2f}ms{' (warm-up)' if it < 2 else ''}", flush=True)
            if it >= 2:
                times.append(dt)
        times.sort()
        med = times[len(times) // 2]
        print(f"ms/iter: median {med * 1000:.2f}, min {times[0] * 1000:.2f}, max {times[-1] * 1000:.2f}")
    else:
        model.eval()
        idx = torch.zeros((1, 1), dtype=torch.long)
        with torch.no_grad(), ctx_dtype():     # a first call untimed, as nanogpt bench's setup
            model(idx)
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(a["max_new_tokens"]):
                ctx = idx if idx.size(1) <= T else idx[:, -T:]
                with ctx_dtype():
                    logits, _ = model(ctx)
                logits = logits.float()
                probs = torch.softmax(logits[:, -1, :] / 0.8, dim=-1)
                idx = torch.cat((idx, torch.multinomial(probs, 1)), dim=1)
        dt = time.perf_counter() - t0
        n = a["max_new_tokens"]
        print(f"generated {n} tokens in {dt:.3f} s: {n / dt:.1f} tokens/s, {dt * 1000 / n:.2f} ms/token")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
