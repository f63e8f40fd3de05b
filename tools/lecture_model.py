#!/usr/bin/python3
"""lecture_model.py -- the lecture's own model classes, taken from the unchanged copies of its
two programs in tools/lecture/ (karpathy/ng-video-lecture: gpt.py, bigram.py) WITHOUT running
their training: the file's text is executed only up to the line that creates the model (in a
scratch directory holding a stand-in input.txt, since the top level reads one), then the
hyperparameter globals its classes read (n_embd, n_head, n_layer, block_size, vocab_size,
dropout, device) are set to the values wanted.

    python3 tools/lecture_model.py greedy EXPORT START N
        loads a `./nanogpt export --format=lecture` file into the lecture's GPTLanguageModel
        (or BigramLanguageModel) with load_state_dict(strict=True) and prints START followed by
        N tokens, each the argmax of the last position's logits (the context cropped to
        block_size as in generate()); tests/e2e_lecture.sh compares it with
        `./nanogpt sample --top_k=1`.

As a library: `g = lecture_globals("gpt.py", n_embd=24, ...)`, then g["GPTLanguageModel"]().
"""
import json
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from nanogpt_ckpt import read_safetensors  # noqa: E402

# the line of each file that creates the model: everything before it is definitions only
MODEL_LINE = {"gpt.py": "\nmodel = GPTLanguageModel()\n", "bigram.py": "\nmodel = BigramLanguageModel(vocab_size)\n"}


def lecture_globals(which, **hyper):
    """The module globals of tools/lecture/<which> executed up to the model's creation, with the
    hyperparameters `hyper` set afterwards (the classes read them when constructed and run)."""
    path = os.path.join(HERE, "lecture", which)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cut = text.index(MODEL_LINE[which])
    g = {"__name__": "lecture_" + which[:-3], "__file__": path}
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "input.txt"), "w", encoding="utf-8") as f:
            f.write("stand-in text: only the definitions are wanted\n")
        os.chdir(d)
        try:
            exec(compile(text[:cut], path, "exec"), g)
        finally:
            os.chdir(cwd)
    g.update(hyper)
    g["device"] = "cpu"
    return g


def load_export(path):
    """(model, itos) from a `./nanogpt export --format=lecture` file, by load_state_dict(strict=True)."""
    tensors, meta = read_safetensors(path)
    hp = json.loads(meta["hyperparameters"])
    which = meta["lecture"]
    g = lecture_globals(which, **hp)
    model = g["GPTLanguageModel"]() if which == "gpt.py" else g["BigramLanguageModel"](hp["vocab_size"])
    model.load_state_dict(tensors, strict=True)
    model.eval()
    itos = json.loads(meta["meta"])["itos"] if "meta" in meta else None
    return model, hp, itos


def main():
    if len(sys.argv) != 5 or sys.argv[1] != "greedy":
        sys.exit(__doc__)
    model, hp, itos = load_export(sys.argv[2])
    stoi = {s: i for i, s in enumerate(itos)}
    idx = torch.tensor([[stoi[c] for c in sys.argv[3]]])
    with torch.no_grad():
        for _ in range(int(sys.argv[4])):
            logits, _ = model(idx[:, -hp["block_size"]:])
            idx = torch.cat((idx, logits[:, -1, :].argmax(dim=-1, keepdim=True)), dim=1)
    sys.stdout.write("".join(itos[i] for i in idx[0].tolist()) + "\n")


if __name__ == "__main__":
    main()
