#!/usr/bin/python3
"""gen_bf16_fixtures.py -- PyTorch bf16 autocast references for tests/test_bf16.c.

Usage: /usr/bin/python3 tools/gen_bf16_fixtures.py FIXTURE_DIR

For each parity fixture (FIXTURE_DIR/gpt_*.safetensors, written by gen_fixtures.py) this
runs the same model (gen_fixtures.GPT, nanoGPT's model.py math) on the same parameters and
batch under torch.autocast("cpu", dtype=torch.bfloat16), as nanoGPT's train.py does with
dtype='bfloat16': float32 parameters, every Linear and attention matmul on bf16 operands.
It writes FIXTURE_DIR/NAME_bf16.safetensors with the autocast loss ("loss_bf16") and every
gradient ("grad_bf16.<param>"), next to the float64 reference already in the parity fixture
(loss, grad.<param>). The summary line prints how far autocast lands from the reference:
test_bf16.c holds our dtype=bfloat16 to a multiple of that distance.

Deterministic: one thread; two runs give byte-identical files.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import GPT, GPTConfig, write_safetensors  # noqa: E402

_NP = {"F32": "<f4", "I32": "<i4"}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[base + a:base + b], dtype=_NP[t["dtype"]]).reshape(t["shape"]).copy()
    return out, meta


def make(fixture_dir, name):
    tensors, meta = read_safetensors(os.path.join(fixture_dir, name + ".safetensors"))
    ma = json.loads(meta["model_args"])
    cfg = GPTConfig(ma["block_size"], ma["vocab_size"], ma["n_layer"], ma["n_head"], ma["n_embd"], 0.0, ma["bias"],
                    ma["gelu"])
    model = GPT(cfg)
    state = {k[len("param."):]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("param.")}
    model.load_state_dict(state, strict=False)
    model.train()
    idx = torch.from_numpy(tensors["idx"]).long()
    targets = torch.from_numpy(tensors["targets"]).long()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, loss = model(idx, targets)
    loss.float().backward()
    names = [n for n, _ in model.named_parameters()]
    out = [("loss_bf16", loss.detach().float().reshape(1).numpy().astype("<f4"))]
    worst = 0.0
    for n in names:
        g = model.get_parameter(n).grad.detach().float()
        ref = torch.from_numpy(tensors["grad." + n])
        worst = max(worst, float((g - ref).abs().max() / ref.abs().max()))
        out.append(("grad_bf16." + n, g.numpy().astype("<f4")))
    path = os.path.join(fixture_dir, name + "_bf16.safetensors")
    size = write_safetensors(path, out, {"generator": "tools/gen_bf16_fixtures.py", "autocast": "cpu bfloat16",
                                         "torch": torch.__version__})
    ref_loss = float(tensors["loss"][0])
    print("%s: %d bytes | autocast loss %.6f, float64 reference %.6f (|d| %.2e) | gradients: worst max|d| / max|ref| %.3g"
          % (path, size, float(loss), ref_loss, abs(float(loss) - ref_loss), worst))


def main():
    if len(sys.argv) != 2:
        print("usage: /usr/bin/python3 tools/gen_bf16_fixtures.py FIXTURE_DIR", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    for name in ("gpt_bias", "gpt_nobias", "gpt_tanh"):
        make(sys.argv[1], name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
