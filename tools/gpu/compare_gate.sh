#!/usr/bin/env bash
# The energy regression gate on a real GPU: two identical sweeps (A, then B) of a synthetic
# qwen2-1.5b in fp16 and nf4 at batch 1 and 8, then `compare` B against A. With nothing changed
# between them the gate must pass (exit 0); the printed p-values and changes show how far
# run-to-run and sweep-to-sweep drift goes on this card. Also `analyze` of sweep A and of the
# imported published table. Builds nothing: run tools/gpu/pack.sh here first and carry
# gpu-carry/. Everything goes to $OUT; the verdicts are printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."
C="${ECO_CARRY:-gpu-carry}"
OUT="${OUT:-/tmp/eco-out}"
mkdir -p "$OUT"
E="$C/ecocompute"
SWEEP=(--model synthetic:qwen2-1.5b --format fp16,nf4 --batch 1,8 --gen-len 128 --device cuda)
for s in A B; do
  rm -f "$OUT/$s.db"
  timeout 280 "$E" bench "${SWEEP[@]}" --db "$OUT/$s.db" > "$OUT/bench_$s.log" 2>&1
  echo "bench $s rc=$?"
done
"$E" compare --baseline "$OUT/A.db" --candidate "$OUT/B.db" > "$OUT/compare.md" 2>&1
echo "compare B vs A (decode J/token, 2 % margin) rc=$? (expected 0)"
"$E" compare --baseline "$OUT/A.db" --candidate "$OUT/B.db" --metric j_per_token \
  --max-regression 0% -o json > "$OUT/compare_0pct.json" 2>&1
echo "compare B vs A (J/token, no margin) rc=$?"
"$E" analyze --db "$OUT/A.db" --bootstrap > "$OUT/analyze_A.md" 2>&1
echo "analyze A rc=$?"
rm -f "$OUT/published.db"
"$E" import --csv data/seed_published_results.csv --claims data/seed_published_claims.csv \
  --db "$OUT/published.db" > "$OUT/import.log" 2>&1
"$E" analyze --db "$OUT/published.db" > "$OUT/analyze_published.md" 2>&1
echo "import + analyze published rc=$?"
cat "$OUT/compare.md"
