#!/usr/bin/env bash
# Before/after of a decode-kernel change in one device call of about three minutes:
#   1. the new kernel tests (test_cuda: GEMV, attention, engine against the CPU reference),
#      while synthetic mistral-7b is written;
#   2. the new fp16 GEMV alone on mistral-7b's four shapes at batch 1 and 8: time and GB/s of
#      weights (bench_engine_cuda gemv);
#   3. decode tok/s, GB/s and J/token (NVML energy counter) at batch 1/8/64, prompt 32, STEPS
#      new tokens: the old binary, then the new one.
# Needs two ignored folders in the checkout (carry them): $OLD with bench_engine_cuda of the
# commit before, $NEW with bench_engine_cuda and test_cuda of the commit under test, each
# stripped (12 MB a binary). Builds nothing. Logs and results.jsonl go to $OUT.
#   OLD=gpu-kernels-before NEW=gpu-kernels STEPS=128 bash tools/gpu/decode_geometry.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit
OLD="${OLD:-gpu-kernels-before}"
NEW="${NEW:-gpu-kernels}"
STEPS="${STEPS:-128}"
OUT="${OUT:-/tmp/eco-out}"
M=/tmp/eco-models/mistral-7b
mkdir -p "$OUT" /tmp/eco-models
export ECO_FIXTURES_DIR="$PWD/tests/fixtures"
R="$OUT/results.jsonl"
: > "$R"
log() { echo "== $(date +%T) $*"; }

nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv,noheader
log "test_cuda (background) and synthetic mistral-7b"
timeout 170 "$NEW/test_cuda" --gtest_brief=1 > "$OUT/test_cuda.log" 2>&1 &
tests=$!
[[ -f $M/config.json ]] || timeout 150 "$NEW/bench_engine_cuda" synth mistral-7b $M 2>&1 | tail -1
wait $tests
echo "test_cuda rc=$?"
grep -E '^\[  (PASSED|FAILED) |FAILED  \]|split' "$OUT/test_cuda.log" | head -20

log "GEMV alone"
timeout 60 "$NEW/bench_engine_cuda" gemv 1,8 2> "$OUT/gemv.txt" | sed -n 's/^RESULT //p' >> "$R"
cat "$OUT/gemv.txt"

decode() {  # label binary batches
  timeout 120 "$2/bench_engine_cuda" decode $M "$3" 32 "$STEPS" 2> "$OUT/decode_$1.err" |
    sed -n "s/^RESULT {/{\"engine\":\"$1\",/p" >> "$R"
  tail -1 "$OUT/decode_$1.err"
}
log "decode: old, new"
decode old "$OLD" 1,8,64
decode new "$NEW" 1,8,64
head -1 "$OUT/decode_new.err"

python3 - "$R" <<'EOF' | tee "$OUT/summary.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| engine | batch | tok/s | step ms | GB/s | J/token |")
print("|---|---|---|---|---|---|")
for r in rows:
    if r.get("kind") == "decode":
        j = r.get("j_per_token")
        print(f"| {r['engine']} | {r['batch']} | {r['tok_s']:.1f} | {r['step_ms']:.3f} | "
              f"{r['gb_s']:.0f} | {'-' if j is None else f'{j:.4f}'} |")
print()
print("| GEMV shape | batch | us | GB/s |")
print("|---|---|---|---|")
for r in rows:
    if r.get("kind") == "gemv":
        print(f"| {r['shape']} | {r['batch']} | {r['us']:.1f} | {r['gb_s']:.0f} |")
EOF
