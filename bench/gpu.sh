#!/usr/bin/env bash
# The GPU run, in one short script: on a machine with an NVIDIA GPU, the cuda provider beside
# the cpu provider of the same machine, with a full-size gpt2 (124M parameters, random weights,
# built here):
#   perplexity  WikiText-2's test split (../shared/data, or the bundle's copy) at seq 1024,
#               batch 8: the whole split on cuda (60 s at most), 30 s of it on cpu
#   latency     batch 1 and 8 x seq 128, 512, 1024
#   finetune    steps at batch 4 x 128 (weights fed and gradients fetched every step)
#   transfer    the same feeds and fetches through pass-through graphs: the host-device copies
#   placement   the nodes onnxruntime puts on the CPU, per graph of the project (verbose log)
#   ops         the static check of every op against the CUDA kernel table
# and writes bench/results/gpu.json (the pieces stay in the run folder).
#
# Run it from an unpacked bundle (bench/gpu/bundle.sh, then unpack.sh): the bundle's node and
# onnxruntime-node 1.29.0 with the CUDA provider libraries (CUDA 13, cuDNN 9). CUDA and cuDNN
# themselves are found in the nvidia-* pip wheels of the machine's PyTorch and put on
# LD_LIBRARY_PATH. From a plain checkout it runs whatever onnxruntime-node is installed.
#
# Usage: bench/gpu.sh [run-dir]   (default bench/results/gpu-run)
#   PRUNEBENCH_GPU_DRY=1  dry run on a machine without a GPU: tiny model, short budgets, the
#                         same steps and files (the cuda requests fall back to cpu and say so)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/results/gpu-run}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
dry="${PRUNEBENCH_GPU_DRY:-}"
log() { echo "gpu.sh: $*" >&2; }
started=$(date +%s)

# Node: the bundle's, where this checkout sits in one.
if [ -x ../node/bin/node ]; then PATH="$(cd ../node/bin && pwd):$PATH"; export PATH; fi
command -v node >/dev/null || { echo "gpu.sh: no node (run from the unpacked bundle, or install Node 20+)" >&2; exit 1; }

# CUDA 13 and cuDNN 9 from PyTorch's nvidia-* wheels: every lib folder under site-packages/nvidia.
cuda_libs=""
for py in python3 python; do
  command -v "$py" >/dev/null || continue
  cuda_libs="$("$py" - <<'EOF' 2>/dev/null
import importlib.util, os
dirs = []
spec = importlib.util.find_spec("nvidia")
for root in (list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []):
    for path, subdirs, files in os.walk(root):
        if os.path.basename(path) == "lib" and any(".so" in f for f in files):
            dirs.append(path)
        if path.count(os.sep) - root.count(os.sep) >= 3:
            subdirs[:] = []
spec = importlib.util.find_spec("torch")
if spec and spec.origin:
    lib = os.path.join(os.path.dirname(spec.origin), "lib")
    if os.path.isdir(lib):
        dirs.append(lib)
print(":".join(sorted(set(dirs))))
EOF
)"
  [ -n "$cuda_libs" ] && break
done
if [ -n "$cuda_libs" ]; then export LD_LIBRARY_PATH="$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
log "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-<unset>}"

# Data: ../shared/data where it was carried (the bundle has its own copy there); without it the
# perplexity steps fail and say so (the built model's tokenizer is GPT-2's, which only that folder has).
data=""
if [ -f ../shared/data/wikitext-2-raw/wiki.test.raw ] && [ -d ../shared/data/tokenizers/gpt2 ]; then data="$(cd ../shared/data && pwd)"; fi

# The machine.
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  nvidia-smi 2>/dev/null | grep -o "CUDA Version: [0-9.]*" || true
} > "$out/nvidia-smi.txt"
log "$(head -1 "$out/nvidia-smi.txt")"
node -e 'const o=require("onnxruntime-node");console.log(JSON.stringify({ort:o.env.versions,backends:o.listSupportedBackends(),ldLibraryPath:process.env.LD_LIBRARY_PATH??null}))' > "$out/ort.json" 2>"$out/ort.err" || true

step() { # name timeout-seconds command...: one JSON document on stdout into <name>.json, stderr into <name>.log
  local name="$1" limit="$2"; shift 2
  local t0; t0=$(date +%s)
  log "== $name (limit ${limit}s)"
  timeout "$limit" "$@" > "$out/$name.json" 2> "$out/$name.log"
  local rc=$?
  [ $rc -eq 0 ] || log "$name: exit $rc (see $out/$name.log)"
  log "$name: $(( $(date +%s) - t0 )) s"
}
bench=(node --expose-gc --import tsx)

# 1. One full-size gpt2 for every step (a tiny one in a dry run).
preset=gpt2
[ -n "$dry" ] && preset=tiny
model="$out/model/model.onnx"
if [ ! -f "$model" ]; then
  log "building $preset"
  node bin/prunebench.js build decoder --preset "$preset" --out "$model" >&2 || { echo "gpu.sh: building the model failed" >&2; exit 1; }
fi

# (The tiny model has 256 positions; its time caps allow for tokenizing the split on a slow machine.)
if [ -n "$dry" ]; then ppl_seq=128; ppl_cuda_s=60; ppl_cpu_s=60; lat_budget=1; steps_cuda=2; steps_cpu=2; transfer=tiny; runs=2; lat_batch=1; lat_seq=64,128
else ppl_seq=1024; ppl_cuda_s=60; ppl_cpu_s=30; lat_budget=2; steps_cuda=5; steps_cpu=2; transfer=gpt2; runs=5; lat_batch=1,8; lat_seq=128,512,1024; fi
common=(env PRUNEBENCH_MODEL_FILE="$model" PRUNEBENCH_MODEL_NAME="built $preset (random weights)" ${data:+PRUNEBENCH_DATA="$data"})
case_name=gpt2; [ -n "$dry" ] && case_name=tiny-decoder

# 2. Perplexity: the whole split on cuda; on cpu, the first minute of it.
step perplexity-cuda $((ppl_cuda_s + 120)) "${common[@]}" PRUNEBENCH_PROVIDER=cuda PRUNEBENCH_PPL_SEQ_LEN=$ppl_seq PRUNEBENCH_PPL_BATCH=8 PRUNEBENCH_PPL_MAX_SECONDS=$ppl_cuda_s "${bench[@]}" bench/perplexity.bench.ts
step perplexity-cpu $((ppl_cpu_s + 120)) "${common[@]}" PRUNEBENCH_PROVIDER=cpu PRUNEBENCH_PPL_SEQ_LEN=$ppl_seq PRUNEBENCH_PPL_BATCH=8 PRUNEBENCH_PPL_MAX_SECONDS=$ppl_cpu_s "${bench[@]}" bench/perplexity.bench.ts
# 3. Latency grid.
step latency-cuda 240 "${common[@]}" PRUNEBENCH_PROVIDER=cuda PRUNEBENCH_LAT_BATCH=$lat_batch PRUNEBENCH_LAT_SEQ=$lat_seq PRUNEBENCH_LAT_BUDGET_S=$lat_budget "${bench[@]}" bench/latency.bench.ts
step latency-cpu 300 "${common[@]}" PRUNEBENCH_PROVIDER=cpu PRUNEBENCH_LAT_BATCH=$lat_batch PRUNEBENCH_LAT_SEQ=$lat_seq PRUNEBENCH_LAT_BUDGET_S=$lat_budget "${bench[@]}" bench/latency.bench.ts
# 4. Fine-tuning steps.
step train-cuda 300 env TRAIN_BENCH_CASES=$case_name PRUNEBENCH_PROVIDER=cuda PRUNEBENCH_TRAIN_STEPS=$steps_cuda "${bench[@]}" bench/train.bench.ts
step train-cpu 300 env TRAIN_BENCH_CASES=$case_name PRUNEBENCH_PROVIDER=cpu PRUNEBENCH_TRAIN_STEPS=$steps_cpu "${bench[@]}" bench/train.bench.ts
# 5. Host-device copies of a step's and a window's feeds and fetches.
step transfer-cuda 180 env PRUNEBENCH_PROVIDER=cuda PRUNEBENCH_TRANSFER_PRESET=$transfer PRUNEBENCH_TRANSFER_RUNS=$runs "${bench[@]}" bench/transfer.bench.ts
step transfer-cpu 180 env PRUNEBENCH_PROVIDER=cpu PRUNEBENCH_TRANSFER_PRESET=$transfer PRUNEBENCH_TRANSFER_RUNS=$runs "${bench[@]}" bench/transfer.bench.ts
# 6. Where the nodes go, and the static op check.
exports=()
if [ -n "$data" ]; then for f in "$data"/models/torch-export/*/model.onnx; do [ -f "$f" ] && exports+=("$f"); done; fi
step placement 300 "${bench[@]}" bench/gpu/placement.ts ${dry:+--cpu} "${exports[@]}"
step ops 120 "${bench[@]}" bench/gpu/cuda-ops.ts --json

# 7. bench/results/gpu.json from the pieces.
node --import tsx bench/gpu/summary.ts "$out" "${PRUNEBENCH_GPU_RESULT:-bench/results/gpu.json}" ${dry:+--dry}
log "done in $(( $(date +%s) - started )) s; results in ${PRUNEBENCH_GPU_RESULT:-bench/results/gpu.json}, pieces in $out"
