#!/usr/bin/env bash
# One GPU call for the CUDA engine: kernel and engine tests, the card's copy
# bandwidth and cuBLAS fp16 rate, synthetic mistral-7b and qwen2-1.5b, ecocompute decode at
# batch 1/8/64 (prompt 32, 256 new tokens) and prefill of 512 tokens, Hugging Face transformers
# generate (fp16, eager and static cache) on the same shapes, and the transformers cross-check
# of greedy tokens and logits on qwen2-1.5b. Builds nothing: run tools/gpu/pack.sh here first
# and carry gpu-carry/. Full logs go to $OUT; the table is printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."
# ECO_CARRY: another carry (e.g. gpu-carry-before holding the bench binaries of an older commit,
# for a before/after comparison in one call: ECO_STEPS=ours).
C="${ECO_CARRY:-gpu-carry}"
OUT="${OUT:-/tmp/eco-out}"
mkdir -p "$OUT"
M=/tmp/eco-models
mkdir -p "$M"
PY=python3
export PYTHONUNBUFFERED=1
# cuBLAS: the toolkit's or the one PyTorch's wheels bring.
CUBLAS_DIR="$($PY -c 'import nvidia.cu13, os; print(os.path.join(nvidia.cu13.__path__[0], "lib"))' 2>/dev/null || true)"
[[ -z "$CUBLAS_DIR" ]] && CUBLAS_DIR="$($PY -c 'import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], "lib"))' 2>/dev/null || true)"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${CUBLAS_DIR}:${LD_LIBRARY_PATH:-}"
export ECO_FIXTURES_DIR="$PWD/tests/fixtures"
R="$OUT/results.jsonl"
: > "$R"
STEPS="${ECO_STEPS:-tests,roofline,ours,prefill,check,profile,peer,static}"
has() { [[ ",$STEPS," == *",$1,"* ]]; }
log() { echo "== $(date +%T) $*"; }

{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv; \
  cat $C/COMMIT; } > "$OUT/card.txt" 2>&1
cat "$OUT/card.txt"

if has tests; then
  log "test_cuda"
  timeout 180 $C/test_cuda --gtest_brief=1 > "$OUT/test_cuda.log" 2>&1
  echo "{\"kind\":\"tests\",\"rc\":$?,\"summary\":\"$(grep -E '^\[  (PASSED|FAILED) ' "$OUT/test_cuda.log" | tr '\n' ' ' | tr -d '"')\"}" >> "$R"
  tail -25 "$OUT/test_cuda.log"
fi

if has roofline; then
  log "roofline (copy bandwidth, cuBLAS fp16)"
  timeout 90 $PY tools/gpu/peer_transformers.py roofline >> "$R" 2> "$OUT/roofline.err"
fi

log "synthetic models"
timeout 120 $C/bench_engine_cuda synth mistral-7b $M/mistral-7b 2>&1 | tee "$OUT/synth.log"
timeout 60 $C/bench_engine_cuda synth qwen2-1.5b $M/qwen2-1.5b 2>&1 | tee -a "$OUT/synth.log"

if has ours; then
  log "ecocompute decode mistral-7b"
  timeout 180 $C/bench_engine_cuda decode $M/mistral-7b 1,8,64 32 256 2> "$OUT/ours_decode.err" | sed -n 's/^RESULT //p' | sed 's/"kind":"decode"/"kind":"decode","engine":"ecocompute","model":"mistral-7b"/' >> "$R"
  tail -3 "$OUT/ours_decode.err"
fi
if has prefill; then
  log "ecocompute prefill 512"
  timeout 60 $C/bench_engine_cuda prefill $M/mistral-7b 512 2> "$OUT/ours_prefill.err" | sed -n 's/^RESULT //p' | sed 's/"kind":"prefill"/"kind":"prefill","engine":"ecocompute","model":"mistral-7b"/' >> "$R"
fi
if has check; then
  log "transformers cross-check qwen2-1.5b"
  timeout 60 $C/bench_engine_cuda greedy $M/qwen2-1.5b "$OUT/ours_greedy.json" 16 > "$OUT/ours_greedy.log" 2>&1
  timeout 120 $PY tools/gpu/peer_transformers.py check $M/qwen2-1.5b "$OUT/ours_greedy.json" >> "$R" 2> "$OUT/check.err"
  [[ -x $C/ecocompute ]] && timeout 60 $C/ecocompute generate --model $M/qwen2-1.5b --device cuda --prompt-ids 1,2,3,4 --prompt-ids 5,6 --max-new-tokens 8 --max-context 64 > "$OUT/cli_generate.log" 2>&1; echo "cli generate rc=$?" >> "$OUT/cli_generate.log"
fi
if has profile; then
  # Per-kernel device time of about one batch-1 decode step (graph kernel nodes profiled one by
  # one; the launch window skips the prefill and lands inside the warm-up decode).
  log "ncu profile, batch 1 decode"
  NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  if [[ -n "$NCU" ]]; then
    timeout 150 "$NCU" --graph-profiling node --launch-skip 700 --launch-count 200 --csv --print-units base \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum \
      $C/bench_engine_cuda decode $M/mistral-7b 1 32 16 > "$OUT/ncu.csv" 2> "$OUT/ncu.err"
    $PY tools/gpu/peer_transformers.py ncu "$OUT/ncu.csv" >> "$R" 2>> "$OUT/ncu.err"
  fi
fi
if has peer; then
  log "transformers eager mistral-7b"
  timeout 200 $PY tools/gpu/peer_transformers.py generate $M/mistral-7b 1,8,64 32 256 eager >> "$R" 2> "$OUT/peer_eager.err"
fi
if has static; then
  log "transformers static cache mistral-7b"
  timeout 200 $PY tools/gpu/peer_transformers.py generate $M/mistral-7b 1,8,64 32 256 static >> "$R" 2> "$OUT/peer_static.err"
fi
log "summary"
$PY tools/gpu/peer_transformers.py summary "$R" | tee "$OUT/summary.md"
