#!/usr/bin/env bash
# Makes the offline bundle for a GPU machine without network (bench/gpu.sh runs from it):
#   node/bin/node              this machine's node binary (official build: links libc only)
#   prunebench/                the project's files (tracked and untracked-not-ignored), with its
#                              production dependencies; onnxruntime-node and onnxruntime-common
#                              replaced by 1.29.0, linux-x64 binaries only, and onnxruntime's CUDA
#                              provider libraries (1.29.0, CUDA 13, cuDNN 9) from the npm package
#                              com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 placed beside
#                              bin/napi-v6/linux/x64/libonnxruntime.so.1, as onnxruntime-node's
#                              install script places its CUDA build
#   shared/data/               WikiText-2's raw test split and the GPT-2 tokenizer, where
#                              ../shared/data has them (so ../shared/data resolves from prunebench/)
# No model weights: a full-size gpt2 has 500 MB of random fp32 that do not compress; the builder
# (`prunebench build decoder --preset gpt2`) makes it there in seconds.
#
# Compression: zstd -12 --long=27. Most of the bytes are CUDA kernels (the provider library's
# fatbins), which compress about the same at any level: a 21 MB slice of it came to 85.6% with
# zstd -12, zstd -16 and xz -6 alike (11 s, 75 s and 166 s on this shared machine; gzip -6: 99.7%).
# unpack.sh decompresses with zstd, or Python's zstandard module where the zstd command is missing.
#
# Output: <out>/prunebench-gpu.tar.zst.NN parts of at most 57 MiB (59.8 MB) each, MANIFEST.json
# (versions, sizes, checksums of the parts, the whole stream and the key files), SHA256SUMS (the
# parts) and FILES.sha256 (node, onnxruntime and the CUDA provider, checked once unpacked).
# bench/gpu/unpack.sh joins and checks them. The out folder is ignored by git: never commit parts.
#
# Usage: bench/gpu/bundle.sh [out-dir]   (default bench/gpu/parts; downloads cached in bench/gpu/.cache)
# Downloads from the npm registry (npm pack); everything else is read from this machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$(mkdir -p "${1:-$here/parts}" && cd "${1:-$here/parts}" && pwd)"
cache="$here/.cache"
part_size="${BUNDLE_PART_SIZE:-57M}"
ort_version=1.29.0
gpu_package=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
mkdir -p "$cache"
stage="$(mktemp -d "${TMPDIR:-/tmp}/prunebench-bundle-XXXXXX")"
trap 'rm -rf "$stage"' EXIT
say() { echo "bundle: $*" >&2; }

# 1. Packages from the npm registry (npm verifies each tarball against the registry's integrity).
fetch() { # spec -> path of the cached tarball
  local spec="$1" name file
  name="$(npm view "$spec" dist.tarball | sed 's#.*/##')"
  file="$cache/$name"
  if [ ! -s "$file" ]; then
    say "downloading $spec"
    (cd "$cache" && npm pack "$spec" --silent >/dev/null)
  fi
  [ -s "$file" ] || { echo "bundle: npm pack $spec did not produce $file" >&2; exit 1; }
  echo "$file"
}
ort_node_tgz="$(fetch "onnxruntime-node@$ort_version")"
ort_common_tgz="$(fetch "onnxruntime-common@$ort_version")"
gpu_tgz="$(fetch "$gpu_package")"

# 2. The project and its production dependencies.
app="$stage/prunebench-gpu/prunebench"
mkdir -p "$app"
say "copying the project's files"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done | tar -c --null -T - -f -) | tar -x -C "$app"
say "installing production dependencies (npm ci --omit=dev, offline from npm's cache where it can)"
(cd "$app" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline >/dev/null)
replace_package() { # tarball, package dir
  rm -rf "$2" && mkdir -p "$2" && tar -xzf "$1" -C "$2" --strip-components=1
}
replace_package "$ort_node_tgz" "$app/node_modules/onnxruntime-node"
replace_package "$ort_common_tgz" "$app/node_modules/onnxruntime-common"
bin="$app/node_modules/onnxruntime-node/bin/napi-v6"
# Only the runner's platform: darwin, win32 and linux/arm64 are 180 MB the GPU machine never loads.
find "$bin" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
find "$bin/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} +
libs="$stage/gpu"
mkdir -p "$libs"
tar -xzf "$gpu_tgz" -C "$libs" package/Plugins/Linux/x64
for lib in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so libonnxruntime_providers_tensorrt.so; do
  cp "$libs/package/Plugins/Linux/x64/$lib" "$bin/linux/x64/$lib"
done
[ -f "$bin/linux/x64/libonnxruntime.so.1" ] || { echo "bundle: onnxruntime-node $ort_version has no linux/x64/libonnxruntime.so.1" >&2; exit 1; }

# 3. Node itself (the GPU machine may have none).
mkdir -p "$stage/prunebench-gpu/node/bin"
cp "$(command -v node)" "$stage/prunebench-gpu/node/bin/node"

# 4. Evaluation data, where this checkout has it (WikiText-2 test split and the GPT-2 tokenizer).
shared="$root/../shared/data"
if [ -f "$shared/wikitext-2-raw/wiki.test.raw" ] && [ -d "$shared/tokenizers/gpt2" ]; then
  mkdir -p "$stage/prunebench-gpu/shared/data/wikitext-2-raw" "$stage/prunebench-gpu/shared/data/tokenizers"
  cp "$shared/wikitext-2-raw/wiki.test.raw" "$stage/prunebench-gpu/shared/data/wikitext-2-raw/"
  cp -r "$shared/tokenizers/gpt2" "$stage/prunebench-gpu/shared/data/tokenizers/"
  [ -f "$shared/SOURCES.md" ] && cp "$shared/SOURCES.md" "$stage/prunebench-gpu/shared/data/"
else
  say "no ../shared/data here: bench/gpu.sh will measure no perplexity unless ../shared/data is carried beside the bundle"
fi

# 5. Compress, split, checksum.
say "compressing (zstd -12, $(du -sh "$stage/prunebench-gpu" | cut -f1) uncompressed)"
rm -f "$out"/prunebench-gpu.tar.* "$out/MANIFEST.json" "$out/SHA256SUMS" "$out/FILES.sha256"
(cd "$stage" && tar -c --sort=name --owner=0 --group=0 --numeric-owner prunebench-gpu) | zstd -q -12 --long=27 -T"${BUNDLE_THREADS:-2}" -c | split -b "$part_size" -d -a 2 - "$out/prunebench-gpu.tar.zst."
(cd "$out" && sha256sum prunebench-gpu.tar.zst.* > SHA256SUMS)
stream_sha="$(cat "$out"/prunebench-gpu.tar.zst.* | sha256sum | cut -d' ' -f1)"
key_files=(node/bin/node prunebench/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 prunebench/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node prunebench/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so prunebench/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_shared.so)
(cd "$stage/prunebench-gpu" && sha256sum "${key_files[@]}") > "$out/FILES.sha256"
commit="$(cd "$root" && git rev-parse HEAD)"
dirty="$(cd "$root" && git status --porcelain | head -c1)"
OUT="$out" STREAM="$stream_sha" KEYS="$out/FILES.sha256" COMMIT="$commit" DIRTY="$dirty" NODE_V="$(node --version)" \
  ORT="$ort_version" GPU_PKG="$gpu_package" UNPACKED="$(du -sb "$stage/prunebench-gpu" | cut -f1)" node -e '
const fs = require("node:fs"), path = require("node:path"), e = process.env;
const parts = fs.readFileSync(path.join(e.OUT, "SHA256SUMS"), "utf8").trim().split("\n").map((l) => {
  const [sha256, name] = l.split(/\s+/);
  return { name, bytes: fs.statSync(path.join(e.OUT, name)).size, sha256 };
});
const files = fs.readFileSync(e.KEYS, "utf8").trim().split("\n").map((l) => { const [sha256, file] = l.split(/\s+/); return { file, sha256 }; });
const manifest = {
  bundle: "prunebench-gpu", created: new Date().toISOString(), commit: e.COMMIT, dirty: e.DIRTY !== "",
  node: e.NODE_V, onnxruntimeNode: e.ORT, providerLibraries: e.GPU_PKG, needs: "CUDA 13 and cuDNN 9 libraries on LD_LIBRARY_PATH (bench/gpu.sh finds the nvidia-* wheels of PyTorch), an NVIDIA driver",
  compression: "tar | zstd -12 --long=27, split", unpackedBytes: Number(e.UNPACKED), stream: { sha256: e.STREAM, bytes: parts.reduce((a, p) => a + p.bytes, 0) }, parts, files,
};
fs.writeFileSync(path.join(e.OUT, "MANIFEST.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(JSON.stringify({ parts: parts.map((p) => `${p.name} ${(p.bytes / 1e6).toFixed(1)} MB`), totalMB: +(manifest.stream.bytes / 1e6).toFixed(1), unpackedMB: +(manifest.unpackedBytes / 1e6).toFixed(1) }));
'
cp "$here/unpack.sh" "$out/unpack.sh"
say "done: $out (carry the parts, MANIFEST.json, SHA256SUMS, FILES.sha256 and unpack.sh; run unpack.sh there)"
