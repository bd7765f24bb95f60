#!/usr/bin/env bash
# The GPU check, for the day a device is lent: under 8 minutes on one GPU.
#   1. the test suite's device tests (marker `device`) on cuda;
#   2. CPU against CUDA: training and attacks on small seeded models agree (benchmarks/perf/gpu_agreement.py);
#   3. PGD, APGD-CE and AutoAttack throughput on a ResNet-18 at 32x32 against torchattacks
#      (benchmarks/perf/gpu_throughput.py; ratio > 1: robin-bench is faster).
# Each step prints its own table; the script stops at the first failing step (exit status 1).
#
# Usage: benchmarks/perf/gpu_check.sh            on a machine with a CUDA device
#        benchmarks/perf/gpu_check.sh --dry-run  everything on the CPU at toy sizes, to test this script
# PYTHON names the interpreter (default: python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py="${PYTHON:-python3}"

if [[ "${1:-}" == "--dry-run" ]]; then
    device=cpu
    tests=(tests/test_device.py -k "computes or training")
    agreement=(--n-train 60 --n-test 16 --epochs 1 --steps 2)
    throughput=(--arch mlp --batch 4 --steps 2 --queries 10 --repeats 1)
elif [[ $# -eq 0 ]]; then
    device=cuda
    tests=(tests)
    agreement=()
    throughput=()
    "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'torch sees no CUDA device')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
else
    echo "usage: $0 [--dry-run]" >&2
    exit 2
fi

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "device tests on $device"
"$py" -m pytest -q -p no:cacheprovider -m device --device "$device" "${tests[@]}"

step "CPU against $device: training and attacks"
"$py" benchmarks/perf/gpu_agreement.py --device "$device" "${agreement[@]}"

step "throughput on $device against torchattacks"
"$py" benchmarks/perf/gpu_throughput.py --device "$device" "${throughput[@]}"

step "done"
