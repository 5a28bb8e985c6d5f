#!/usr/bin/env bash
# Packs what tools/gpu/bench_engine.sh needs on a lent GPU machine into gpu-carry/ (ignored by
# git): the stripped CUDA build outputs of build/cuda. Build first, here:
#   cmake -S . -B build/cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DECO_CUDA=ON -DECO_STATIC_RUNTIME=ON
#   ninja -C build/cuda -j2 test_cuda bench_engine_cuda ecocompute
# then run the device call with carry: ["gpu-carry"]. Nothing is compiled on the GPU machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/cuda}"
out="$root/gpu-carry"
rm -rf "$out"
mkdir -p "$out"
for f in tests/test_cuda bench/bench_engine_cuda src/ecocompute; do
  if [[ -x "$build/$f" ]]; then
    cp "$build/$f" "$out/"
    strip "$out/$(basename "$f")"
  else
    echo "pack.sh: $build/$f missing (build it first)" >&2
    [[ "$f" == src/ecocompute ]] || exit 1
  fi
done
git -C "$root" rev-parse HEAD > "$out/COMMIT"
git -C "$root" status --porcelain --untracked-files=no > "$out/DIRTY" || true
du -sh "$out"
