#!/usr/bin/env bash
# RoPE variants and Qwen3 on the GPU host, in one device call with carry ["gpu-carry"] (built
# and packed here by tools/gpu/pack.sh; nothing is compiled there):
#   1. the golden fixtures of the new variants (tools/fixtures/make_fixtures.py: CPU, fp32), packed
#      into $OUT/rope-fixtures.tgz; unpack here with `tar -xzf rope-fixtures.tgz -C tests/` and
#      commit tests/fixtures/<variant>/
#   2. test_cuda's engine and RoPE tests against the CPU engine, the new fixtures included
#   3. tools/gpu/rope_check.py: ecocompute (cpu fp32, cuda fp16) against transformers on ragged
#      batches, every model_type and RoPE type
# Writes $OUT/rope-fixtures.tgz, $OUT/rope-summary.md and $OUT/rope-logs.tgz.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/eco-out}"
C=gpu-carry
W=/tmp/eco-rope
rm -rf "$W" && mkdir -p "$W/fixtures" "$W/all-fixtures" "$OUT"
CUBLAS_DIR="$(python3 -c 'import nvidia.cu13, os; print(os.path.join(nvidia.cu13.__path__[0], "lib"))' 2>/dev/null || true)"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${CUBLAS_DIR}:${LD_LIBRARY_PATH:-}"
S="$OUT/rope-summary.md"
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; echo "commit $(cat $C/COMMIT 2>/dev/null)"; } > "$S" 2>&1

# ROPE_VARIANTS="phi3-longrope phi3-longrope-crossing" limits both the fixtures and the check.
ALL="llama-linear llama-dynamic llama-llama3 llama3-v4config qwen2-yarn phi3-longrope phi3-longrope-crossing qwen3"
VARIANTS="${ROPE_VARIANTS:-$ALL}"
CHECK_ARGS=()
[ -n "${ROPE_VARIANTS:-}" ] && CHECK_ARGS=(--variants $ROPE_VARIANTS)
python3 tools/fixtures/make_fixtures.py --out "$W/fixtures" --arch $VARIANTS > "$W/fixtures.log" 2>&1
echo "make_fixtures rc=$?" >> "$W/fixtures.log"
tar -C "$W" -czf "$OUT/rope-fixtures.tgz" fixtures
{ echo; echo "## fixtures"; tail -12 "$W/fixtures.log"; } >> "$S"

cp -r tests/fixtures/. "$W/all-fixtures/"
cp -r "$W/fixtures/." "$W/all-fixtures/"
ECO_FIXTURES_DIR="$W/all-fixtures" timeout 400 $C/test_cuda --gtest_brief=1 \
  --gtest_filter='CudaEngine.*:CudaQkNorm.*:CudaRope.*:CudaAttention.*' > "$W/test_cuda.log" 2>&1
echo "test_cuda rc=$?" >> "$W/test_cuda.log"
{ echo; echo "## test_cuda"; grep -E "^\[  (PASSED|FAILED) |FAILED  \]|Failure|test_cuda rc=" "$W/test_cuda.log"; } >> "$S"

timeout 600 python3 tools/gpu/rope_check.py --ecocompute $C/ecocompute --work "$W/models" \
  "${CHECK_ARGS[@]}" > "$W/rope_check.log" 2>&1
echo "rope_check rc=$?" >> "$W/rope_check.log"
{ echo; echo "## rope_check"; sed -n '/^transformers /,$p' "$W/rope_check.log"; tail -3 "$W/rope_check.log"; } >> "$S"
tar -C "$W" -czf "$OUT/rope-logs.tgz" fixtures.log test_cuda.log rope_check.log
cat "$S"
