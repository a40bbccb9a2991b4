#!/usr/bin/env bash
# Joins and checks the parts that bench/gpu/bundle.sh made, and unpacks them.
# Usage: unpack.sh [parts-dir] [dest]   (defaults: this script's folder or bench/gpu/parts, and
# <parts-dir>/..); prints the unpacked bundle's folder on its last line.
# Every part is checked against SHA256SUMS and the joined stream against MANIFEST.json before
# anything is unpacked; a missing or damaged part is named and nothing is written.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
parts="${1:-}"
if [ -z "$parts" ]; then
  if [ -f "$here/SHA256SUMS" ]; then parts="$here"; else parts="$here/parts"; fi
fi
parts="$(cd "$parts" && pwd)"
dest="${2:-$(dirname "$parts")}"
for f in SHA256SUMS MANIFEST.json FILES.sha256; do
  [ -f "$parts/$f" ] || { echo "unpack: $parts/$f is missing (copy it with the parts)" >&2; exit 1; }
done
missing=()
while read -r _ name; do [ -f "$parts/$name" ] || missing+=("$name"); done < "$parts/SHA256SUMS"
if [ "${#missing[@]}" -gt 0 ]; then
  echo "unpack: missing part(s) in $parts: ${missing[*]}" >&2
  exit 1
fi
if ! (cd "$parts" && sha256sum --quiet -c SHA256SUMS >&2); then
  echo "unpack: a part in $parts does not match SHA256SUMS (damaged in transfer: copy it again)" >&2
  exit 1
fi
want="$(grep -A2 '"stream"' "$parts/MANIFEST.json" | sed -n 's/.*"sha256": "\([0-9a-f]*\)".*/\1/p' | head -1)"
names=$(awk '{print $2}' "$parts/SHA256SUMS" | sort)
got="$(cd "$parts" && cat $names | sha256sum | cut -d' ' -f1)"
if [ "$want" != "$got" ]; then
  echo "unpack: the joined parts hash to $got, MANIFEST.json says $want" >&2
  exit 1
fi
mkdir -p "$dest"
tmp="$(mktemp -d "$dest/.unpack-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
decompress() {
  if command -v zstd >/dev/null; then zstd -q -d --long=27 -c
  else python3 -c '
import sys
try:
    from compression import zstd  # Python 3.14
    d = zstd.ZstdDecompressor(options={zstd.DecompressionParameter.window_log_max: 27})
    write = lambda chunk: sys.stdout.buffer.write(d.decompress(chunk))
except ImportError:
    import zstandard
    w = zstandard.ZstdDecompressor(max_window_size=2**27).stream_writer(sys.stdout.buffer)
    write = w.write
for chunk in iter(lambda: sys.stdin.buffer.read(1 << 20), b""):
    write(chunk)
'
  fi
}
if ! command -v zstd >/dev/null && ! python3 -c 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("zstandard") or sys.version_info >= (3, 14) else 1)' 2>/dev/null; then
  echo "unpack: needs the zstd command, or python3 with the zstandard module (or Python 3.14+)" >&2
  exit 1
fi
(cd "$parts" && cat $names) | decompress | tar -x -C "$tmp"
# Key files (node, onnxruntime, the CUDA provider) against the manifest.
if [ -f "$parts/FILES.sha256" ] && ! (cd "$tmp/prunebench-gpu" && sha256sum --quiet -c "$parts/FILES.sha256" >&2); then
  echo "unpack: an unpacked file does not match FILES.sha256" >&2
  exit 1
fi
rm -rf "$dest/prunebench-gpu"
mv "$tmp/prunebench-gpu" "$dest/prunebench-gpu"
echo "unpack: $(du -sh "$dest/prunebench-gpu" | cut -f1) in $dest/prunebench-gpu; run: $dest/prunebench-gpu/prunebench/bench/gpu.sh" >&2
echo "$dest/prunebench-gpu"
