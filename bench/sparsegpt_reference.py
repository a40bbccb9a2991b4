"""Torch reference for bench/sparsegpt.bench.ts: the per-matrix SparseGPT solve of the
reference implementation (IST-DASLab/sparsegpt, SparseGPT.fasterprune: Cholesky,
cholesky_inverse, upper Cholesky, then blocks of columns with the in-block sweep and the lazy
update of the columns after the block), timed on given shapes.

Usage: python3 sparsegpt_reference.py '{"shapes": [[in, out, count], ...], "tokens": 512,
"threads": 2, "blocksize": 128, "damp": 0.01, "sparsity": 0.5}'
Prints one JSON line: total solve seconds and seconds per shape. Only the solves are timed
(not building the Hessians), as prunebench's side of the benchmark times its solver.
"""

import json
import sys
import time

import torch


def solve(W, H, sparsity, blocksize, percdamp):
    """Unstructured SparseGPT of W [out, in] (torch layout) given H [in, in], float32."""
    columns = W.shape[1]
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    damp = percdamp * torch.mean(torch.diag(H))
    idx = torch.arange(columns)
    H[idx, idx] += damp
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        score = W1**2 / torch.diag(Hinv1).reshape((1, -1)) ** 2
        thresh = torch.sort(score.flatten())[0][int(score.numel() * sparsity)]
        mask1 = score <= thresh
        for i in range(i2 - i1):
            w = W1[:, i]
            d = Hinv1[i, i]
            q = w.clone()
            q[mask1[:, i]] = 0
            Q1[:, i] = q
            err = (w - q) / d
            W1[:, i:] -= err.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err
        W[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return W


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(int(spec.get("threads", 2)))
    torch.manual_seed(0)
    tokens = int(spec["tokens"])
    total = 0.0
    per_shape = []
    for rows, cols, count in spec["shapes"]:
        seconds = []
        for _ in range(int(count)):
            X = torch.randn(tokens, rows)
            H = (2 / tokens) * X.t().matmul(X)
            W = torch.randn(cols, rows) * 0.02
            start = time.perf_counter()
            solve(W, H, float(spec.get("sparsity", 0.5)), int(spec.get("blocksize", 128)), float(spec.get("damp", 0.01)))
            seconds.append(time.perf_counter() - start)
        total += sum(seconds)
        per_shape.append({"inputs": rows, "outputs": cols, "count": count, "seconds": sum(seconds)})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "seconds": total, "shapes": per_shape}))


if __name__ == "__main__":
    main()
