"""Torch reference for the fine-tuning benchmark (bench/train.bench.ts).

GPT-2 of the shapes prunebench builds (`buildModel({ family: "decoder", preset: "gpt2" })`),
written with torch modules: pre-LN blocks, packed q/k/v, causal attention, gelu_new, LM head
tied to the token embedding. One step = forward, token cross-entropy, backward, clipping by
global norm 1.0, AdamW (weight decay 0.01 on matrices only, as prunebench), on random token ids
(their values do not change the work). Takes one JSON argument (bench/lib.ts runPythonJson:
layers, dModel, heads, dFF, vocab, positions, batch, seqLen, steps, threads); prints one JSON line.
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, d, heads, ff, positions):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.c_fc = nn.Linear(d, ff)
        self.mlp_proj = nn.Linear(ff, d)
        self.register_buffer("causal", torch.tril(torch.ones(positions, positions, dtype=torch.bool)))

    def forward(self, h):
        b, t, d = h.shape
        q, k, v = self.c_attn(self.ln_1(h)).split(d, dim=2)
        q, k, v = (x.view(b, t, self.heads, d // self.heads).transpose(1, 2) for x in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        scores = scores.masked_fill(~self.causal[:t, :t], torch.finfo(scores.dtype).min)
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        h = h + self.c_proj(context)
        return h + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(h)), approximate="tanh"))


class Gpt2(nn.Module):
    def __init__(self, layers, d, heads, ff, vocab, positions):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(positions, d)
        self.h = nn.ModuleList(Block(d, heads, ff, positions) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        for m in self.modules():  # GPT-2's init (modeling_gpt2._init_weights), as prunebench builds it
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, ids):
        h = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            h = block(h)
        return self.ln_f(h) @ self.wte.weight.t()


def blas_gflops():
    """A 1024x768x3072 product: about 50 GFLOP/s with OpenBLAS here, under 2 with the reference BLAS."""
    a, b = torch.randn(1024, 768), torch.randn(768, 3072)
    a @ b
    start = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 1024 * 768 * 3072 / (time.perf_counter() - start) / 1e9


def main():
    a = json.loads(sys.argv[1])
    torch.set_num_threads(a.get("threads", 2))
    torch.manual_seed(0)
    model = Gpt2(a["layers"], a["dModel"], a["heads"], a["dFF"], a["vocab"], a["positions"])
    params = [q for q in model.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [q for q in params if q.dim() >= 2], "weight_decay": 0.01}, {"params": [q for q in params if q.dim() < 2], "weight_decay": 0.0}],
        lr=1e-4,
    )
    gflops = blas_gflops()
    step_seconds, cpu_seconds, losses = [], [], []
    for _ in range(a["steps"]):
        ids = torch.randint(0, a["vocab"], (a["batch"], a["seqLen"] + 1))
        start, cpu = time.perf_counter(), time.process_time()
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, a["vocab"]), ids[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        step_seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu)
        losses.append(loss.item())
    steady = step_seconds[1:] or step_seconds
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "blasGflops": round(gflops, 1),
                "params": sum(q.numel() for q in params),
                "steps": a["steps"],
                "tokensPerSecond": round(len(steady) * a["batch"] * a["seqLen"] / sum(steady), 2),
                "stepSeconds": [round(s, 3) for s in step_seconds],
                "stepCpuSeconds": [round(s, 3) for s in cpu_seconds],
                "losses": [round(x, 4) for x in losses],
                "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
