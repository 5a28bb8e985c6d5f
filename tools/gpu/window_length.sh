#!/usr/bin/env bash
# Decode J/token against the decode window's length, synthetic mistral-7b fp16 at batch
# ECO_WL_BATCH (default 1), prompt 32, 128 generated tokens: the default protocol's decode windows
# hold k = 2 repetitions; this measures 5 runs at decode windows of about 1.3, 2.6, 5.2 and 10.4 s
# (k about 2, 4, 8, 16), one `ecocompute bench` process and database each, and fits
# window energy = a per-window part + k x a per-repetition part (tools/gpu/window_length.py).
# A per-window part well above the idle energy of the window's boundary time means each window
# costs energy beyond its repetitions (the board ramping up after the wait between windows, say),
# which windows of k = 2 charge to every token. About 4 min on an H200.
#   OUT=dir ECO_BIN=gpu-carry/ecocompute bash tools/gpu/window_length.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/eco-out}"
BIN="${ECO_BIN:-gpu-carry/ecocompute}"
M=/tmp/eco-models
mkdir -p "$OUT" "$M"
[[ -f $M/mistral-7b/config.json ]] ||
  "$BIN" synth --shape mistral-7b --outliers 16:20 --out $M/mistral-7b > "$OUT/synth.log" 2>&1
same=(--model $M/mistral-7b --format fp16 --prompt-len 32 --gen-len 128 --batch "${ECO_WL_BATCH:-1}")
dbs=()
for s in 1.3 2.6 5.2 10.4; do
  echo "{\"protocol\": {\"runs\": 5, \"max_runs\": 5, \"idle_seconds\": 0, \"max_reruns\": 0,
    \"decode_window_s\": $s}}" > "$OUT/wl-$s.json"
  timeout 150 "$BIN" bench --sweep "$OUT/wl-$s.json" "${same[@]}" --db "$OUT/wl-$s.db" \
    -o md >> "$OUT/wl.md" 2>> "$OUT/wl.log"
  echo "decode window $s s rc=$?"
  dbs+=("$OUT/wl-$s.db")
done
python3 tools/gpu/window_length.py "${dbs[@]}"
