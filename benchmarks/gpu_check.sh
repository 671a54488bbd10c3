#!/usr/bin/env bash
# One short GPU check (< 6 minutes on one H200 with 16 cores): install, the cuda-marked
# tests, then `pixelfiq bench` on CUDA at batch 32 and 128, JSON and logs into $OUT.
#
#   OUT=/some/folder bash benchmarks/gpu_check.sh      # from the repository root
#
# Assumes a fresh Python 3.12 where `python3 -m pip install -e .` works (wheels carried
# locally); prints everything, never stops at the first failure, and reports each step's
# exit status at the end. Without a GPU it still runs: the cuda tests are skipped with
# their reason and the bench reports CUDA as unavailable.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
declare -A STATUS
step() {  # step NAME TIMEOUT_S COMMAND...: run, time and record one step
    local name=$1 limit=$2; shift 2
    echo; echo "=== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@"
    STATUS[$name]=$?
    echo "=== $name: exit ${STATUS[$name]} in $((SECONDS - t0)) s"
}

echo "gpu_check: $(date -u) on $(hostname); code $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi || echo "nvidia-smi: not available"
"$PY" -V
nproc; uptime

step install 150 "$PY" -m pip install -e '.[test]'
if [ "${STATUS[install]}" -ne 0 ]; then
    step install_plain 120 "$PY" -m pip install -e . pytest
fi
step versions 60 "$PY" -c "
import torch, pixelfiq_lib
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0).total_memory // 2**20, 'MiB')
"
step models 60 "$PY" -m pixelfiq_lib.cli models

# The tests that parametrise over devices, cuda cases only (-rs prints any skip reason).
step cuda_tests 120 env PIXELFIQ_FAST=1 "$PY" -m pytest -q -p no:cacheprovider -m cuda -rs \
    tests/test_devices.py

# Kernel and whole-command rates, PLQ / floor, peak CUDA memory; batch 32 and 128.
step bench_cuda 240 "$PY" -m pixelfiq_lib.cli bench --device cuda --models sface \
    --batches 32 128 --repeats 5 --out "$OUT/bench_cuda.json" \
    --methods forward forward_backward quality plq cli_quality cli_explain cli_explain_nofig

echo; echo "=== summary"
for name in install install_plain versions models cuda_tests bench_cuda; do
    [ -n "${STATUS[$name]+x}" ] && echo "$name: exit ${STATUS[$name]}"
done
[ -f "$OUT/bench_cuda.json" ] && cat "$OUT/bench_cuda.json"
echo "gpu_check: done $(date -u)"
