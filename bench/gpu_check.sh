#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU, in under 8 minutes,
#   1. a Python whose torch sees CUDA: the machine's own (a CUDA image: reused through a venv with
#      --system-site-packages) or, where the machine has none, torch==2.13.0's CUDA wheel
#      (TORCH_INDEX, default the cu128 index) installed into the venv first;
#   2. libtrad and its pinned dependencies beside it (torch itself never re-resolved);
#   3. the tests marked `gpu` (skipped on machines without CUDA) and the device-policy tests;
#   4. bench/bench_gpu.py: ECHO-Small throughput (fp32/bf16, batch 1/8/32/128, 10-s clips) in-process
#      and through `libtrad embed` (one actor per GPU), GPU-vs-CPU parity, AE/probe training speed;
#      it writes its section of bench/RESULTS.md with the GPU's name.
# Every step's output goes to stdout and, when $OUT is set (the device tool), to $OUT/gpu_check.log.
#
#   bash bench/gpu_check.sh            # on the GPU machine, from a checkout
#   GPU_VENV=/tmp/v TORCH_INDEX=https://download.pytorch.org/whl/cu126 bash bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${GPU_VENV:-.venv-gpu}
LOG=${OUT:+$OUT/gpu_check.log}
exec > >(tee ${LOG:+"$LOG"}) 2>&1
started=$(date +%s)
step() { echo "== $(( $(date +%s) - started )) s: $*"; }

SYSTEM_PY=${PYTHON:-python3}
if "$SYSTEM_PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    step "reusing the machine's CUDA torch: $("$SYSTEM_PY" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))')"
    [ -x "$VENV/bin/python" ] || "$SYSTEM_PY" -m venv --system-site-packages "$VENV"
else
    step "no CUDA torch here: installing torch==2.13.0 from ${TORCH_INDEX:-https://download.pytorch.org/whl/cu128}"
    [ -x "$VENV/bin/python" ] || "$SYSTEM_PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q torch==2.13.0 --index-url "${TORCH_INDEX:-https://download.pytorch.org/whl/cu128}"
fi
PY="$VENV/bin/python"
"$PY" -c "import sys, torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda); sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "error: torch in $VENV does not see a CUDA GPU; nothing to check here"; exit 2; }

step "libtrad and its pinned dependencies (torch kept as it is)"
grep -v '^torch==' constraints.txt > "$VENV/constraints-no-torch.txt"
"$PY" -m pip install -q -c "$VENV/constraints-no-torch.txt" -e ".[test]"

step "tests: the device policy, and every test marked gpu"
HF_HUB_OFFLINE=1 "$PY" -m pytest -q -p no:cacheprovider tests/test_devices.py
HF_HUB_OFFLINE=1 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests || [ $? -eq 5 ]  # 5: none collected

step "benchmarks (bench/bench_gpu.py)"
HF_HUB_OFFLINE=1 "$PY" bench/bench_gpu.py ${BENCH_ARGS:-}
[ -n "${OUT:-}" ] && cp bench/RESULTS.md "$OUT/RESULTS.md"
step "done"
