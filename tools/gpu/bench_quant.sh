#!/usr/bin/env bash
# One GPU call for the quantized formats: the quant tests of test_cuda, then a
# synthetic mistral-7b with 16 planted outlier dimensions decoded at batch 1/8/64 (prompt 32,
# 256 new tokens) in fp16, int8-pure, int8 (fused), int8 (reference-bnb), nf4, nf4-dq and nf4
# with the dequantize + cuBLAS path forced, all in this one call. Builds nothing: pack first,
# here, with
#   ninja -C build/release -j2 test_cuda bench_quant_cuda ecocompute
#   tools/gpu/bench_quant.sh --pack build/release
# and carry gpu-carry-quant/. Logs go to $OUT; the table is printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."
C="${ECO_CARRY:-gpu-carry}"
if [[ "${1:-}" == "--pack" ]]; then
  build="${2:?build directory}"
  rm -rf "$C" && mkdir -p "$C"
  for f in tests/test_cuda bench/bench_quant_cuda src/ecocompute; do
    cp "$build/$f" "$C/" && strip "$C/$(basename "$f")" || exit 1
  done
  git rev-parse HEAD > "$C/COMMIT"
  grep -qx "/$C/" .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo "/$C/" >> .git/info/exclude; }
  du -sh "$C"
  exit 0
fi
OUT="${OUT:-/tmp/eco-out}"
mkdir -p "$OUT"
M=/tmp/eco-models
mkdir -p "$M"
PY=python3
CUBLAS_DIR="$($PY -c 'import nvidia.cu13, os; print(os.path.join(nvidia.cu13.__path__[0], "lib"))' 2>/dev/null || true)"
[[ -z "$CUBLAS_DIR" ]] && CUBLAS_DIR="$($PY -c 'import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], "lib"))' 2>/dev/null || true)"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${CUBLAS_DIR}:${LD_LIBRARY_PATH:-}"
FORMATS="${ECO_FORMATS:-fp16,int8-pure,int8,int8-eager,int8-bnb,nf4,nf4-dq,nf4-deq}"
BATCHES="${ECO_BATCHES:-1,8,64}"
SCALE="${ECO_OUTLIER_SCALE:-20}"
log() { echo "== $(date +%T) $*"; }

{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv; \
  cat $C/COMMIT; date -u; } > "$OUT/card.txt" 2>&1
cat "$OUT/card.txt"

if [[ "${ECO_SKIP_TESTS:-0}" != 1 ]]; then
  filter="${ECO_TEST_FILTER:-CudaQuant*:CudaPaths*:CudaEngine.MatchesCpuOnTinyLlama}"
  log "test_cuda $filter"
  timeout 240 $C/test_cuda --gtest_filter="$filter" > "$OUT/test_quant.log" 2>&1
  echo "test rc=$?"
  grep -E '^\[  (PASSED|FAILED) |FAILED  \]|Failure|error|\[(cuda-quant-engine|quant-prefill|cuda-engine)\]' "$OUT/test_quant.log" | head -80
fi

# Its own folder (bench_engine.sh writes a plain mistral-7b), written once per machine: a second
# run (e.g. ECO_CARRY=gpu-carry-before, whose carry may hold bench_quant_cuda alone) reuses it.
QM=$M/mistral-7b-outliers16-$SCALE
if [[ ! -f $QM/config.json || ! ( -f $QM/model.safetensors || -f $QM/model.safetensors.index.json ) ]]; then
  log "synthetic mistral-7b with 16 outlier dims (scale $SCALE)"
  timeout 150 $C/ecocompute synth --shape mistral-7b --outliers "16:$SCALE" --out $QM > "$OUT/synth.log" 2>&1 || { echo "synth failed"; tail "$OUT/synth.log"; }
fi

log "decode $FORMATS at batch $BATCHES"
timeout "${ECO_BENCH_TIMEOUT:-420}" $C/bench_quant_cuda $QM "$FORMATS" "$BATCHES" 32 256 \
  > "$OUT/bench.log" 2> "$OUT/bench.err"
echo "bench rc=$?"
grep -E "bytes/weight|loaded in|copy bandwidth|outlier columns|bench_quant_cuda:" "$OUT/bench.err" | cut -c1-400
sed -n '/^| format/,$p' "$OUT/bench.log"
