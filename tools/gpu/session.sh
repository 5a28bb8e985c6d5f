#!/usr/bin/env bash
# One device call for the GPU checks and benchmarks of this repository. Builds nothing: run
# tools/gpu/pack.sh here first, then the device call with carry ["gpu-carry"] and
#   tools/gpu/session.sh PART...
# Parts (each writes its logs under a work folder PART/ and its table to PART/summary.md; at the
# end everything is archived into $OUT/logs.tgz, since the device tool brings back few files,
# and the summaries go to $OUT/summary.md and stdout):
#   engine     tools/gpu/bench_engine.sh: CUDA tests, roofline, fp16 decode/prefill, transformers
#              cross-check and peers (eager and static cache), with J/token
#   quant      tools/gpu/bench_quant.sh: every format on mistral-7b with planted outliers
#   meter      tools/gpu/meter_check.sh: info, measure around a known load vs an independent
#              NVML counter reading
#   sweep      ecocompute bench: mistral-7b and qwen2-1.5b x fp16,int8,int8-pure,nf4 x batch
#              1,8,64 with the protocol's defaults (ECO_SWEEP_* override single flags),
#              ECO_SWEEP_RESUME_DB a carried database to resume
#   run        `ecocompute run` with its defaults (the main job on a GPU), timed
#              (sweep and run also print tools/gpu/config_times.py: each configuration's time
#              split into sizing, stabilisation, windows and waits)
#   tokenizer  tools/gpu/tokenizer_check.py against Python `tokenizers`
#   tests      the CUDA kernel and engine tests (test_cuda) against the CPU reference
#   overhead   bench_aligned_windows: the time aligned windows spend waiting for counter changes
#              at begin and end, beside plain windows around the same computation
#   counter    tools/gpu/counter_behaviour.py: the energy counter's update interval, phase
#              jitter and increments, idle and under load (ECO_COUNTER_SECONDS per phase)
#   profile    tools/gpu/profile_decode.sh: Nsight Compute on the fp16 decode step of
#              mistral-7b at ECO_PROFILE_BATCHES (default 1 8 64)
#   train      tools/gpu/train_small_model.py: the small trained test model and its transformers
#              perplexity, into $OUT/trained/ (commit it as tests/fixtures/trained/)
#   quality    tools/gpu/quality_gpu.sh: `ecocompute quality` on the trained model (CUDA and
#              CPU) and on synthetic qwen2-1.5b / mistral-7b, every format, with timings
#   steady     synthetic mistral-7b fp16 at ECO_STEADY_BATCHES (default 1,64), per batch: the
#              default bench protocol with at least ECO_STEADY_RUNS (10) runs, then one measured
#              run whose decode window lasts >= 60 s; tools/gpu/steady_compare.py prints both
#              decode J/token, their difference in % and the protocol's CV (about 5-6 min)
# The summaries are printed last, in the order given.
set -uo pipefail
cd "$(dirname "$0")/../.."
FINAL="${OUT:-/tmp/eco-out}"
mkdir -p "$FINAL"
export OUT=/tmp/eco-work
rm -rf "$OUT" && mkdir -p "$OUT"
C=gpu-carry
M=/tmp/eco-models
mkdir -p "$M"
PY=python3
parts=("$@")
[[ ${#parts[@]} -eq 0 ]] && parts=(engine quant meter sweep tokenizer)
CUBLAS_DIR="$($PY -c 'import nvidia.cu13, os; print(os.path.join(nvidia.cu13.__path__[0], "lib"))' 2>/dev/null || true)"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${CUBLAS_DIR}:${LD_LIBRARY_PATH:-}"
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,power.limit --format=csv,noheader;
  echo "commit $(cat $C/COMMIT)"; } > "$OUT/card.txt" 2>&1

# Archive after every part, so that a call cut off by its time limit still brings back the parts
# it finished.
finish() {
  {
    cat "$OUT/card.txt"
    for p in "${parts[@]}"; do [[ -f "$OUT/$p/summary.md" ]] && { echo; echo "#### $p"; cat "$OUT/$p/summary.md"; }; done
  } > "$OUT/summary.md"
  tar -C "$OUT" -czf "$FINAL/logs.tgz" .
  cp "$OUT/summary.md" "$FINAL/summary.md"
}
for p in "${parts[@]}"; do
  d="$OUT/$p"
  mkdir -p "$d"
  echo "== $(date +%T) part $p"
  case "$p" in
    engine) OUT="$d" bash tools/gpu/bench_engine.sh > "$d/run.log" 2>&1
            sed -n '/^card:/,$p' "$d/run.log" > "$d/summary.md" ;;
    quant) OUT="$d" bash tools/gpu/bench_quant.sh > "$d/run.log" 2>&1
           { grep -E "test rc=|bench rc=|bytes/weight|copy bandwidth|outlier columns|^\[  (PASSED|FAILED) |FAILED  \]|quant-prefill" "$d/run.log"; sed -n '/^| format/,$p' "$d/run.log"; } > "$d/summary.md" ;;
    meter) OUT="$d" ECO_BIN=$C/ecocompute bash tools/gpu/meter_check.sh > "$d/run.log" 2>&1
           tail -25 "$d/run.log" > "$d/summary.md" ;;
    sweep)
      models="${ECO_SWEEP_MODELS:-mistral-7b,qwen2-1.5b}"
      if [[ ",$models," == *",mistral-7b,"* && ! -f $M/mistral-7b/config.json ]]; then
        $C/ecocompute synth --shape mistral-7b --outliers 16:20 --out $M/mistral-7b > "$d/synth.log" 2>&1
      fi
      if [[ ",$models," == *",qwen2-1.5b,"* && ! -f $M/qwen2-1.5b/config.json ]]; then
        $C/ecocompute synth --shape qwen2-1.5b --out $M/qwen2-1.5b >> "$d/synth.log" 2>&1
      fi
      # A sweep longer than one call: carry the database an earlier call brought back (in
      # logs.tgz) and name it in ECO_SWEEP_RESUME_DB; finished configurations are skipped.
      resume=()
      if [[ -n "${ECO_SWEEP_RESUME_DB:-}" && -f "$ECO_SWEEP_RESUME_DB" ]]; then
        cp "$ECO_SWEEP_RESUME_DB" "$d/sweep.db" && resume=(--resume)
        # A sweep cut off by `timeout` leaves its last transactions in the write-ahead log.
        [[ -f "$ECO_SWEEP_RESUME_DB-wal" ]] && cp "$ECO_SWEEP_RESUME_DB-wal" "$d/sweep.db-wal"
      fi
      # The protocol's own defaults (update-aligned windows, direct decode window, one idle
      # baseline, stabilisation on J/token, adaptive runs to a 1 % CI, gates 1 % / 2 %); an
      # ECO_SWEEP_* variable overrides its flag.
      knobs=()
      [[ -n "${ECO_SWEEP_RUNS:-}" ]] && knobs+=(--runs "$ECO_SWEEP_RUNS")
      [[ -n "${ECO_SWEEP_MAX_RUNS:-}" ]] && knobs+=(--max-runs "$ECO_SWEEP_MAX_RUNS")
      [[ -n "${ECO_SWEEP_WARMUP:-}" ]] && knobs+=(--warmup "$ECO_SWEEP_WARMUP")
      [[ -n "${ECO_SWEEP_IDLE:-}" ]] && knobs+=(--idle "$ECO_SWEEP_IDLE")
      [[ -n "${ECO_SWEEP_STAB:-}" ]] && knobs+=(--stabilise-max "$ECO_SWEEP_STAB")
      [[ -n "${ECO_SWEEP_RERUNS:-}" ]] && knobs+=(--max-reruns "$ECO_SWEEP_RERUNS")
      [[ -n "${ECO_SWEEP_MIN_UPDATES:-}" ]] && knobs+=(--min-counter-updates "$ECO_SWEEP_MIN_UPDATES")
      [[ -n "${ECO_SWEEP_WINDOWS:-}" ]] && knobs+=(--windows "$ECO_SWEEP_WINDOWS")
      timeout "${ECO_SWEEP_TIMEOUT:-540}" $C/ecocompute bench "${resume[@]}" --model "$M/${models//,/,$M/}" \
        --format "${ECO_SWEEP_FORMATS:-fp16,int8,int8-pure,nf4}" --batch "${ECO_SWEEP_BATCHES:-1,8,64}" \
        --prompt-len 32 --gen-len "${ECO_SWEEP_GEN:-128}" "${knobs[@]}" \
        --db "$d/sweep.db" -o md > "$d/table.md" 2> "$d/run.log"
      echo "bench rc=$?" >> "$d/run.log"
      $C/ecocompute export --db "$d/sweep.db" --format csv --configs --out "$d/configs.csv" 2>> "$d/run.log"
      { tail -3 "$d/run.log"; cat "$d/table.md"; echo
        $PY tools/gpu/config_times.py "$d/sweep.db"; } > "$d/summary.md" 2>&1 ;;
    run)
      start=$(date +%s)
      $C/ecocompute run --db "$d/study.db" --out "$d/report.md" > "$d/table.md" 2> "$d/run.log"
      echo "run rc=$? seconds=$(( $(date +%s) - start ))" >> "$d/run.log"
      { tail -3 "$d/run.log"; cat "$d/table.md"; echo
        $PY tools/gpu/config_times.py "$d/study.db"; } > "$d/summary.md" 2>&1 ;;
    tokenizer) tar -C /tmp -xzf $C/tokenizer.tgz
               $PY tools/gpu/tokenizer_check.py check /tmp/tokenizer-gpu "$d" > "$d/run.log" 2>&1
               echo "rc=$?" >> "$d/run.log"; tail -8 "$d/run.log" > "$d/summary.md" ;;
    train) $PY tools/gpu/train_small_model.py --out "$FINAL/trained" > "$d/run.log" 2>&1
           echo "train rc=$?" >> "$d/run.log"
           { tail -5 "$d/run.log"; cat "$FINAL/trained/README.md" 2>/dev/null; } > "$d/summary.md" ;;
    quality) OUT="$d" ECO_BIN=$C/ecocompute ECO_MODELS_DIR=$M bash tools/gpu/quality_gpu.sh > "$d/run.log" 2>&1 ;;
    tests) ECO_FIXTURES_DIR="$PWD/tests/fixtures" timeout 300 $C/test_cuda --gtest_brief=1 > "$d/run.log" 2>&1
           echo "test_cuda rc=$?" >> "$d/run.log"
           grep -E "^\[  (PASSED|FAILED) |FAILED  \]|test_cuda rc=" "$d/run.log" > "$d/summary.md" ;;
    overhead) timeout 120 $C/bench_aligned_windows --reps "${ECO_OVERHEAD_REPS:-30}" > "$d/run.log" 2>&1
              echo "rc=$?" >> "$d/run.log"; cp "$d/run.log" "$d/summary.md" ;;
    counter) $PY tools/gpu/counter_behaviour.py "${ECO_COUNTER_SECONDS:-10}" > "$d/run.log" 2>&1
             echo "rc=$?" >> "$d/run.log"; grep -v '^COUNTER_BEHAVIOUR' "$d/run.log" > "$d/summary.md" ;;
    steady)
      [[ -f $M/mistral-7b/config.json ]] ||
        $C/ecocompute synth --shape mistral-7b --outliers 16:20 --out $M/mistral-7b > "$d/synth.log" 2>&1
      # The long window: one run (gates not evaluated), no stabilisation, warm-up or idle baseline
      # (it starts warm, right after the protocol's runs of the same batch; gross J/token is what
      # is compared), its decode window sized to 62 s (65 s with the sizing headroom) from a
      # one-repetition probe, so that it stays >= 60 s if the run decodes a little faster.
      echo '{"protocol": {"runs": 1, "max_runs": 1, "warmup": 0, "stabilise_max_s": 0,
        "idle_seconds": 0, "max_reruns": 0, "decode_window_s": 62}}' > "$d/long.json"
      same=(--model $M/mistral-7b --format fp16 --prompt-len 32 --gen-len 128)
      batches="${ECO_STEADY_BATCHES:-1,64}"
      for b in ${batches//,/ }; do
        timeout 150 $C/ecocompute bench "${same[@]}" --batch "$b" --runs "${ECO_STEADY_RUNS:-10}" \
          --db "$d/protocol.db" -o md >> "$d/protocol.md" 2>> "$d/protocol.log"
        echo "protocol batch $b rc=$?" >> "$d/rc.log"
        timeout 120 $C/ecocompute bench --sweep "$d/long.json" "${same[@]}" --batch "$b" \
          --db "$d/long.db" -o md >> "$d/long.md" 2>> "$d/long.log"
        echo "long window batch $b rc=$?" >> "$d/rc.log"
      done
      { cat "$d/rc.log"; grep -E "stabilisation|gate round" "$d/protocol.log"; echo
        $PY tools/gpu/steady_compare.py "$d/protocol.db" "$d/long.db"; } > "$d/summary.md" 2>&1 ;;
    profile)
      [[ -f $M/mistral-7b/config.json ]] || $C/ecocompute synth --shape mistral-7b --out $M/mistral-7b > "$d/synth.log" 2>&1
      OUT="$d" bash tools/gpu/profile_decode.sh $M/mistral-7b > "$d/run.log" 2>&1 ;;
    *) echo "unknown part $p" > "$d/summary.md" ;;
  esac
  finish
done
echo
cat "$FINAL/summary.md"
