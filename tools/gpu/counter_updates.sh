#!/usr/bin/env bash
# The NVML energy counter's real behaviour, measured with ecocompute's own NVML path (the numbers
# that update-aligned windows rely on; docs/METHODOLOGY.md, "Update-aligned windows"), and
# aligned against plain windows around one known load:
#   idle      ecocompute monitor --counter-updates for ECO_COUNTER_SECONDS (10) with the GPU idle
#   load      the same while tools/gpu/matmul_load.py runs (fp16 matmuls)
#   windows   ecocompute measure --repeat 5 around a short load, aligned (default) and
#             --plain-windows: CV of the energy and the stated residuals
# Environment: ECO_BIN (default build/release/ecocompute; session.sh carries gpu-carry/ecocompute),
# OUT (default /tmp/eco-out), PY (python3). Writes $OUT/counter_{idle,load}.{txt,csv} and
# $OUT/windows_{aligned,plain}.{log,json}; prints everything.
set -uo pipefail
cd "$(dirname "$0")/../.."
ECO_BIN="${ECO_BIN:-build/release/ecocompute}"
OUT="${OUT:-/tmp/eco-out}"
PY="${PY:-python3}"
SECONDS_PER_PHASE="${ECO_COUNTER_SECONDS:-10}"
log() { echo "== $(date +%T) $*"; }
if [[ ! -x "$ECO_BIN" ]]; then
  echo "counter_updates.sh: ECO_BIN=$ECO_BIN is not an executable; build it or set ECO_BIN" >&2
  exit 1
fi
mkdir -p "$OUT"
rc=0

log "idle: counter updates for ${SECONDS_PER_PHASE} s"
"$ECO_BIN" monitor --counter-updates --duration "$SECONDS_PER_PHASE" \
  --csv "$OUT/counter_idle.csv" 2>&1 | tee "$OUT/counter_idle.txt"
[[ ${PIPESTATUS[0]} -ne 0 ]] && rc=1

log "load: counter updates for ${SECONDS_PER_PHASE} s under fp16 matmuls"
"$PY" tools/gpu/matmul_load.py "$((SECONDS_PER_PHASE + 15))" > "$OUT/counter_load_matmul.log" 2>&1 &
load_pid=$!
sleep 10  # torch import and CUDA start-up, so that the watch sees the steady load
"$ECO_BIN" monitor --counter-updates --duration "$SECONDS_PER_PHASE" \
  --csv "$OUT/counter_load.csv" 2>&1 | tee "$OUT/counter_load.txt"
[[ ${PIPESTATUS[0]} -ne 0 ]] && rc=1
wait "$load_pid" || true

for kind in aligned plain; do
  flag=()
  [[ $kind == plain ]] && flag=(--plain-windows)
  log "windows: measure --repeat 5 ${flag[*]} around a 1 s matmul load"
  "$ECO_BIN" measure "${flag[@]}" --repeat 5 --json "$OUT/windows_$kind.json" \
    -- "$PY" tools/gpu/matmul_load.py 1 > "$OUT/windows_$kind.log" 2>&1
  r=$?
  [[ $r -ne 0 ]] && rc=$r
  grep -E "^--- run|window:|GPU 0|GPU gross|CV" "$OUT/windows_$kind.log"
done
exit $rc
