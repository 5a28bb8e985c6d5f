#!/usr/bin/env bash
# One device call of the EcoCompute study (studies/eco-2026.toml) on a lent GPU machine: it runs
# `ecocompute study run` with a time budget, resuming the database an earlier call brought back,
# and archives the database, its analysis, findings, dashboard and log into $OUT/study.tgz.
# Builds nothing: here, build the CUDA release binary and run tools/gpu/pack.sh; then, per call
# (device carry ["gpu-carry"]):
#   bash tools/gpu/study.sh
# After each call copy eco-2026.db (and eco-2026.db-wal, if any) from the returned study.tgz
# into gpu-carry/ (a warm machine resumes its own copy in /tmp/eco-study anyway),
# so the next call resumes it (without one there, the committed docs/data/eco-2026.db is
# resumed); repeat until the log says "study: complete", then commit the database to docs/data/
# (after `sqlite3 eco-2026.db "PRAGMA journal_mode=DELETE"`) and regenerate docs/FINDINGS.md's
# tables with `ecocompute study findings --db docs/data/eco-2026.db`.
# ECO_STUDY_BUDGET (default 8m): the budget of `study run` (calls are limited to 10 minutes;
#   a step under way may run past the budget by one configuration, up to a minute on 7B);
# ECO_STUDY_TIMEOUT (default 570 s): a last resort that kills the call (the database loses
#   nothing finished; the next call redoes the configuration cut off);
# ECO_STUDY_FILE (default studies/eco-2026.toml).
set -uo pipefail
cd "$(dirname "$0")/../.."
C=gpu-carry
FINAL="${OUT:-/tmp/eco-out}"
W=/tmp/eco-study
mkdir -p "$FINAL" "$W"
CUBLAS_DIR="$(python3 -c 'import nvidia.cu13, os; print(os.path.join(nvidia.cu13.__path__[0], "lib"))' 2>/dev/null || true)"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${CUBLAS_DIR}:${LD_LIBRARY_PATH:-}"
# Synthetic models outside the repository copy; --evict-synthetic keeps one at a time on disk
# (the study's models together are about 60 GB).
export ECO_CACHE_DIR="${ECO_CACHE_DIR:-/tmp/eco-cache}"
for f in eco-2026.db eco-2026.db-wal; do
  [[ -f "$C/$f" && ! -f "$W/$f" ]] && cp "$C/$f" "$W/$f"
done
# Without a database from an earlier call, the committed run (docs/data/) is the one resumed.
[[ ! -f "$W/eco-2026.db" && -z "${ECO_STUDY_FILE:-}" && -f docs/data/eco-2026.db ]] &&
  cp docs/data/eco-2026.db "$W/eco-2026.db"
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,power.limit --format=csv,noheader;
  echo "commit $(cat $C/COMMIT 2>/dev/null)"; df -h /tmp | tail -1; } > "$W/card.txt" 2>&1
start=$(date +%s)
timeout "${ECO_STUDY_TIMEOUT:-570}" $C/ecocompute study run "${ECO_STUDY_FILE:-studies/eco-2026.toml}" \
  --db "$W/eco-2026.db" --budget "${ECO_STUDY_BUDGET:-8m}" --evict-synthetic \
  > "$W/status.md" 2> "$W/run.log"
echo "study rc=$? seconds=$(( $(date +%s) - start ))" >> "$W/run.log"
# One archive (the device tool brings back at most 8 files): the database with its WAL, the
# analysis, findings, dashboard, status, log and card; the status and log also on their own.
tar -C "$W" -czf "$FINAL/study.tgz" $(cd "$W" && ls eco-2026.db* eco-2026-*.md eco-2026-report.html \
  status.md run.log card.txt 2>/dev/null)
cp "$W/status.md" "$W/run.log" "$FINAL/" 2>/dev/null
cat "$W/card.txt" "$W/status.md"
grep -E "^study:|ecocompute: error" "$W/run.log"
