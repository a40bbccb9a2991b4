#!/usr/bin/env bash
# The evaluation benchmarks on a machine with an NVIDIA GPU: perplexity over the WikiText-2
# test split with a built gpt2 (bench/perplexity.bench.ts) and a latency run, each with the
# cuda execution provider, plus the same perplexity run on the CPU for comparison.
#
# Needs: node 20+, `npm ci` done, ../shared/data beside the checkout (WikiText-2 and the GPT-2
# tokenizer), and onnxruntime-node's CUDA provider. The npm package ships the CPU provider only;
# its install script fetches the CUDA one when asked:
#   ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node   (downloads the nuget package)
# Without it the benchmarks say "cuda provider unavailable, running on cpu" in their JSON.
#
# Usage: bench/gpu.sh [out-dir]      (default: bench-gpu-<date>); prints one JSON per run.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench-gpu-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt" || echo "no nvidia-smi" | tee "$out/gpu.txt"
node -e 'const o=require("onnxruntime-node");console.log(JSON.stringify({ort:o.env.versions,backends:o.listSupportedBackends()}))' | tee "$out/ort.json"

run() { # name, then env assignments
  local name="$1"; shift
  echo "== $name" >&2
  env "$@" node --expose-gc --import tsx "bench/${name%%-*}.bench.ts" | tee "$out/$name.json"
}

# Perplexity: the whole split, seq_len 1024 non-overlapping sliding windows (HF stride = 1024), batch 8.
run perplexity-cuda PRUNEBENCH_PROVIDER=cuda PRUNEBENCH_PPL_SEQ_LEN=1024 PRUNEBENCH_PPL_BATCH=8
# Overlapping windows (stride 512), the HF guide's setting.
run perplexity-cuda-stride512 PRUNEBENCH_PROVIDER=cuda PRUNEBENCH_PPL_SEQ_LEN=1024 PRUNEBENCH_PPL_STRIDE=512 PRUNEBENCH_PPL_BATCH=8
# Latency grid on the GPU.
run latency-cuda PRUNEBENCH_PROVIDER=cuda PRUNEBENCH_LAT_BATCH=1,8,32 PRUNEBENCH_LAT_SEQ=128,512,1024 PRUNEBENCH_LAT_BUDGET_S=10
# CPU reference on the same machine (time-capped: a 124M model over 287k tokens is slow on CPU).
run perplexity-cpu PRUNEBENCH_PROVIDER=cpu PRUNEBENCH_PPL_SEQ_LEN=1024 PRUNEBENCH_PPL_MAX_SECONDS=300
run latency-cpu PRUNEBENCH_PROVIDER=cpu PRUNEBENCH_LAT_BATCH=1,8 PRUNEBENCH_LAT_SEQ=128,512 PRUNEBENCH_LAT_BUDGET_S=10

# The CLI end to end, as a user runs it: perplexity and latency in one result file.
model_dir="$(mktemp -d)"
node --import tsx src/cli.ts build decoder --preset gpt2 --out "$model_dir/model.onnx" >&2 || true
if [ -f "$model_dir/model.onnx" ]; then
  node --import tsx src/cli.ts eval "$model_dir/model.onnx" --tokenizer ../shared/data/tokenizers/gpt2 \
    --dataset ../shared/data/wikitext-2-raw/wiki.test.raw --dataset-name wikitext-2-raw/test \
    --seq-len 1024 --batch-size 8 --latency --batch 1,8 --latency-seq-len 128,512 \
    --provider cuda --json "$out/cli-eval-cuda.json" >&2
fi
rm -rf "$model_dir"
echo "results in $out" >&2
