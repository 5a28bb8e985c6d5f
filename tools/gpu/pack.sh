#!/usr/bin/env bash
# Packs what the tools/gpu/ scripts need on a lent GPU machine into gpu-carry/ (ignored by git):
# the stripped binaries of a CUDA build (default build/release, which builds the CUDA engine when
# nvcc is found and links Debian libraries statically) and the tokenizer cross-check data.
# Build first, here:
#   ./setup.sh build && ninja -C build/release -j2 bench_engine_cuda bench_quant_cuda \
#     bench_meter_sampler bench_aligned_windows tokenizer_encode_jsonl
# then run the device call with carry: ["gpu-carry"]. Nothing is compiled on the GPU machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
out="$root/gpu-carry"
rm -rf "$out"
mkdir -p "$out"
for f in tests/test_cuda bench/bench_engine_cuda bench/bench_quant_cuda bench/bench_meter_sampler \
  bench/bench_aligned_windows src/ecocompute; do
  if [[ -x "$build/$f" ]]; then
    cp "$build/$f" "$out/"
    strip "$out/$(basename "$f")"
  else
    echo "pack.sh: $build/$f missing (build it first)" >&2
    exit 1
  fi
done
# Tokenizer cross-check data (ecocompute's ids for the corpus; see tokenizer_check.py).
python3 "$root/tools/gpu/tokenizer_check.py" pack "$build" >/dev/null
# Compressed: the three tokenizer.json files would use a third of the 64 MiB carry limit.
tar -C "$root/build" -czf "$out/tokenizer.tgz" tokenizer-gpu
git -C "$root" rev-parse HEAD > "$out/COMMIT"
git -C "$root" status --porcelain --untracked-files=no > "$out/DIRTY" || true
du -sh "$out"
