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
# CUDA against the CPU reference on the trained model: every format's perplexity within 0.5 %,
# its KL divergence within 10 % (or 1e-4 nats), its top-1 agreement within 1 point.
python3 - "$OUT/quality.csv" >> "$summary" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["model"] == "tests/fixtures/trained"]
by = {(r["device"], r["format"]): r for r in rows}
ok = bad = 0
for (dev, fmt), cuda in sorted(by.items()):
    cpu = by.get(("cpu", fmt))
    if dev != "cuda" or cpu is None:
        continue
    f = lambda r, k: float(r[k])
    checks = [abs(f(cuda, "ppl") / f(cpu, "ppl") - 1) < 0.005,
              abs(f(cuda, "kld") - f(cpu, "kld")) <= max(0.1 * f(cpu, "kld"), 1e-4),
              abs(f(cuda, "same_top1") - f(cpu, "same_top1")) <= 0.01]
    print(f"{fmt}: PPL cuda {f(cuda, 'ppl'):.4f} cpu {f(cpu, 'ppl'):.4f}; KLD cuda "
          f"{f(cuda, 'kld'):.3g} cpu {f(cpu, 'kld'):.3g}; top-1 cuda {f(cuda, 'same_top1'):.4f} "
          f"cpu {f(cpu, 'same_top1'):.4f}: {'ok' if all(checks) else 'DIFFERENT'}")
    ok, bad = ok + all(checks), bad + (not all(checks))
print(f"cpu-vs-cuda: {ok} passed, {bad} failed")
PY
rm -f "$OUT/kjv-train.txt"
cat "$summary"
