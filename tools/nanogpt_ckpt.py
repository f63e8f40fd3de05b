"""Reads a nanogpt checkpoint (out_dir/ckpt.safetensors) into PyTorch without the safetensors
package, builds nanoGPT's GPT from its model_args (the same architecture as nanoGPT's
model.py, see gen_fixtures.py) and loads the state_dict.

    python3 tools/nanogpt_ckpt.py greedy CKPT START N   prints START + N greedily chosen characters
    python3 tools/nanogpt_ckpt.py attention CKPT START LAYER
                                    prints {"tokens", "matrix"}: every head's attention
                                    probabilities (NH, T, T) of block LAYER for START, as
                                    nanoGPT's CausalSelfAttention computes them

Used by tests/e2e_train.sh and tests/e2e_report.sh to check that a checkpoint written by C gives the same
continuation in PyTorch. As a library: `model, meta = load_model(path)`.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import GPT, GPTConfig, attention_probs  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "U16": np.uint16, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        arr = np.frombuffer(data[base + b:base + e], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        tensors[name] = torch.from_numpy(arr.copy())
    return tensors, meta


def load_model(path):
    tensors, meta = read_safetensors(path)
    args = json.loads(meta["model_args"])
    cfg = GPTConfig(args["block_size"], args["vocab_size"], args["n_layer"], args["n_head"], args["n_embd"],
                    dropout=0.0, bias=args["bias"], gelu=meta.get("gelu", "erf"))
    model = GPT(cfg)
    sd = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected, unexpected
    assert missing in ([], ["lm_head.weight"]), missing   # tied to transformer.wte.weight
    model.eval()
    return model, meta


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("greedy", "attention"):
        sys.exit(__doc__)
    model, meta = load_model(sys.argv[2])
    if sys.argv[1] == "attention":
        itos = json.loads(meta["meta"])["itos"]
        stoi = {s: i for i, s in enumerate(itos)}
        ids = [stoi[c] for c in sys.argv[3]][:model.cfg.block_size]
        att = attention_probs(model, torch.tensor([ids]), int(sys.argv[4]))
        json.dump({"tokens": [itos[i] for i in ids], "matrix": att.tolist()}, sys.stdout)
        return
    itos = json.loads(meta["meta"])["itos"]
    stoi = {s: i for i, s in enumerate(itos)}
    ids = [stoi[c] for c in sys.argv[3]]
    T = model.cfg.block_size
    with torch.no_grad():
        for _ in range(int(sys.argv[4])):
            logits, _ = model(torch.tensor([ids[-T:]]))
            ids.append(int(torch.argmax(logits[0, -1])))
    sys.stdout.write("".join(itos[i] for i in ids) + "\n")


if __name__ == "__main__":
    main()
