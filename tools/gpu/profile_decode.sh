#!/usr/bin/env bash
# Nsight Compute on the fp16 decode step at several batch sizes: per kernel its device time,
# DRAM throughput, achieved occupancy and warp stall reasons (sections SpeedOfLight, Occupancy,
# WarpStateStats), caches and clocks left as a real step has them (--cache-control none,
# --clock-control none). Graph kernel nodes are profiled one by one; the launch window skips
# the prefill and the first decode steps and covers ECO_PROFILE_LAUNCHES kernels (a few layers:
# every layer runs the same kernels). Then the same decode untouched by ncu, for the real step
# time, so that the kernels' sum can be set against it (the gaps between kernels).
#   OUT=dir bash tools/gpu/profile_decode.sh MODEL_DIR
# Needs gpu-carry/ (tools/gpu/pack.sh). Writes ncu_b<B>.csv, step_b<B>.log and summary.md.
set -uo pipefail
cd "$(dirname "$0")/../.."
C=gpu-carry
M="$1"
OUT="${OUT:-/tmp/eco-out}"
mkdir -p "$OUT"
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
[[ -z "$NCU" ]] && { echo "ncu not found" | tee "$OUT/summary.md"; exit 1; }
launches="${ECO_PROFILE_LAUNCHES:-40}"
for b in ${ECO_PROFILE_BATCHES:-1 8 64}; do
  echo "== $(date +%T) batch $b"
  timeout 60 $C/bench_engine_cuda decode "$M" "$b" 32 64 > "$OUT/step_b$b.log" 2>&1
  timeout "${ECO_PROFILE_TIMEOUT:-150}" "$NCU" --graph-profiling node --launch-skip 1200 \
    --launch-count "$launches" --cache-control none --clock-control none \
    --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats \
    --page raw --csv $C/bench_engine_cuda decode "$M" "$b" 32 24 > "$OUT/ncu_b$b.csv" 2> "$OUT/ncu_b$b.err"
  echo "ncu rc=$?"
done
python3 tools/gpu/ncu_summary.py "$OUT" | tee "$OUT/summary.md"
