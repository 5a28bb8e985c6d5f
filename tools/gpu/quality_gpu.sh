#!/usr/bin/env bash
# `ecocompute quality` on the GPU host (session.sh part `quality`): the trained model of
# tests/fixtures/trained/ on CUDA and on the CPU (they must agree within rounding), then the
# synthetic qwen2-1.5b and mistral-7b (with planted outliers, as the sweep part makes them) on
# CUDA over 128 chunks of 512 tokens (65,536 tokens) of the KJV training text, every format, with
# the time each took. Writes $OUT/quality.db, one CSV per run and $OUT/summary.md.
# Environment: ECO_BIN (default gpu-carry/ecocompute), ECO_QUALITY_MODELS (default
# qwen2-1.5b,mistral-7b), ECO_QUALITY_CHUNKS (default 128), ECO_MODELS_DIR (default /tmp/eco-models).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN="${ECO_BIN:-gpu-carry/ecocompute}"
M="${ECO_MODELS_DIR:-/tmp/eco-models}"
OUT="${OUT:-/tmp/eco-quality}"
mkdir -p "$OUT" "$M"
DB="$OUT/quality.db"
FORMATS=fp16,int8,int8-pure,nf4
summary="$OUT/summary.md"
: > "$summary"

run() {  # name, then the quality arguments
  local name="$1"; shift
  local t0=$SECONDS
  "$BIN" quality "$@" --format "$FORMATS" --db "$DB" -o md > "$OUT/$name.md" 2> "$OUT/$name.log"
  local rc=$?
  { echo "### $name (rc=$rc, $((SECONDS - t0)) s wall)"; echo; echo "    $BIN quality $* --format $FORMATS";
    echo; cat "$OUT/$name.md"; tail -2 "$OUT/$name.log"; echo; } >> "$summary"
}

T=tests/fixtures/trained
if [[ -f $T/model.safetensors ]]; then
  run trained-cuda --model "$T" --ctx 512 --device cuda
  run trained-cpu --model "$T" --ctx 512 --device cpu
else
  echo "### trained: tests/fixtures/trained/ is absent (run the train part first)" >> "$summary"
fi

gunzip -c data/kjv/train.txt.gz > "$OUT/kjv-train.txt"
IFS=, read -r -a models <<< "${ECO_QUALITY_MODELS:-qwen2-1.5b,mistral-7b}"
for m in "${models[@]}"; do
  if [[ ! -f $M/$m/config.json ]]; then
    extra=()
    [[ $m == mistral-7b ]] && extra=(--outliers 16:20)
    "$BIN" synth --shape "$m" "${extra[@]}" --out "$M/$m" > "$OUT/synth-$m.log" 2>&1
  fi
  run "$m" --model "$M/$m" --text "$OUT/kjv-train.txt" --ctx 512 \
    --chunks "${ECO_QUALITY_CHUNKS:-128}" --device cuda
done
"$BIN" export --db "$DB" --quality --format csv --out "$OUT/quality.csv" 2>> "$OUT/export.log"
rm -f "$OUT/kjv-train.txt"
cat "$summary"
