#!/usr/bin/env bash
# The meter on a GPU host. Builds nothing: run tools/gpu/pack.sh here first and carry
# gpu-carry/ (tools/gpu/session.sh meter does both the call and the summary). Steps, chosen with
# ECO_METER_STEPS (default info,load,idle,overhead):
#   info      ecocompute info (devices, what each supports, counter update period measured)
#   load      ecocompute measure --idle-seconds 5 --json --timeline around
#             tools/gpu/matmul_load.py 10, a torch fp16 matmul loop that reads the NVML energy
#             counter itself (ctypes) at its start and end: the independent reading
#   idle      ecocompute measure around `sleep 5`, right after the load (idle after load)
#   overhead  process CPU of `ecocompute measure -- sleep 5` at 1 sample/60 s, 10 Hz, 100 Hz and
#             1 kHz; matmul TFLOP/s bare, under a 1 kHz sampler, bare again; and
#             bench_meter_sampler when it sits next to ECO_BIN
# Environment: ECO_BIN (default build/release/ecocompute; session.sh passes
# gpu-carry/ecocompute), OUT (default /tmp/eco-out), ECO_LOAD_SECONDS (10), ECO_LOAD (the load
# command; default python3 tools/gpu/matmul_load.py $ECO_LOAD_SECONDS), ECO_NVML_LIBRARY
# (passed to both ecocompute and the Python reader). The table is printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."
ECO_BIN="${ECO_BIN:-build/release/ecocompute}"
OUT="${OUT:-/tmp/eco-out}"
PY="${PY:-python3}"
LOAD_S="${ECO_LOAD_SECONDS:-10}"
read -r -a LOAD <<< "${ECO_LOAD:-$PY tools/gpu/matmul_load.py $LOAD_S}"
STEPS="${ECO_METER_STEPS:-info,load,idle,overhead}"
export PYTHONUNBUFFERED=1
has() { [[ ",$STEPS," == *",$1,"* ]]; }
log() { echo "== $(date +%T) $*"; }

if [[ ! -x "$ECO_BIN" ]]; then
  echo "meter_check.sh: ECO_BIN=$ECO_BIN is not an executable; build it and run tools/gpu/pack.sh, or set ECO_BIN" >&2
  exit 1
fi
mkdir -p "$OUT"
rm -f "$OUT"/{info.txt,measure.json,timeline.csv,measure.log,idle.json,idle_timeline.csv,idle.log,overhead.log}
rc=0

if has info; then
  log "ecocompute info"
  "$ECO_BIN" info --probe-seconds 2 2>&1 | tee "$OUT/info.txt"
fi

if has load; then
  log "ecocompute measure around ${LOAD[*]}"
  "$ECO_BIN" measure --idle-seconds 5 --json "$OUT/measure.json" --timeline "$OUT/timeline.csv" \
    -- "${LOAD[@]}" > "$OUT/measure.log" 2>&1
  r=$?
  echo "measure rc=$r" >> "$OUT/measure.log"
  [[ $r -ne 0 ]] && rc=$r
  cat "$OUT/measure.log"
fi

if has idle; then
  log "ecocompute measure around sleep 5 (idle right after the load)"
  "$ECO_BIN" measure --json "$OUT/idle.json" --timeline "$OUT/idle_timeline.csv" -- sleep 5 \
    > "$OUT/idle.log" 2>&1
  r=$?
  [[ $r -ne 0 ]] && rc=$r
  cat "$OUT/idle.log"
fi

if has overhead; then
  log "sampler overhead"
  {
    # CPU of the whole ecocompute process around a child that uses none; the 60 s interval
    # samples only the window's two boundaries, so the differences are the sampler's cost.
    for spec in "1 sample/60 s:60000" "10 Hz:100" "100 Hz:10" "1 kHz:1"; do
      "$PY" tools/gpu/nvml_counter.py cpu "${spec%%:*}" -- \
        "$ECO_BIN" measure --interval-ms "${spec##*:}" -- sleep 5
    done
    # The GPU workload's own rate, bare / under a 1 kHz sampler / bare (drift shows as A != A').
    if [[ -z "${ECO_LOAD:-}" ]]; then
      "$PY" tools/gpu/matmul_load.py 5 --label "bare" 2>&1
      "$ECO_BIN" measure --interval-ms 1 -- "$PY" tools/gpu/matmul_load.py 5 --label "under 1 kHz sampler" 2>&1
      "$PY" tools/gpu/matmul_load.py 5 --label "bare again" 2>&1
    fi
    bms="$(dirname "$ECO_BIN")/bench_meter_sampler"
    if [[ -x "$bms" ]]; then
      echo "--- $bms --seconds 3 --reps 5"
      "$bms" --seconds 3 --reps 5 2>&1
    fi
  } > "$OUT/overhead.log" 2>&1
  cat "$OUT/overhead.log"
fi

log "summary"
"$PY" tools/gpu/nvml_counter.py summary "$OUT" | tee "$OUT/summary.md"
exit $rc
