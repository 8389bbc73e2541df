#!/usr/bin/env bash
# The first run on a machine with a GPU, in one command and about 10 minutes:
#
#   1. the tests marked gpu, with --gpu: they fail (never skip) when CUDA does
#      not work; TF32 is off in them, so their fp32 is fp32;
#   2. the estimator's GPU benchmark (bench_estimator_gpu.py) at a reduced
#      size: fp32 configurations once with PyTorch's default (cuDNN in TF32,
#      labelled tf32) and once with --no-tf32 (labelled fp32), then bf16,
#      channels-last, compile and "auto".
#
# Usage: bash benchmarks/run_gpu_checks.sh [OUT_DIR]
#   OUT_DIR defaults to $OUT (the device machine's result folder) or
#   benchmarks/results/gpu_checks. PYTHON picks the interpreter (default:
#   .venv/bin/python when present, else python3). The reference checkpoints
#   of tests/test_optimize.py are read from $MNE_NEUROSKETCH_REFERENCE, or
#   shared/reference when the checkout has one.
# Exit status: that of the tests, or of the benchmark when the tests passed.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x .venv/bin/python ] && PYTHON=.venv/bin/python
fi
OUT_DIR=${1:-${OUT:-benchmarks/results/gpu_checks}}
mkdir -p "$OUT_DIR"
if [ -z "${MNE_NEUROSKETCH_REFERENCE:-}" ] && [ -d shared/reference ]; then
    export MNE_NEUROSKETCH_REFERENCE=$PWD/shared/reference
fi

{ nvidia-smi || echo "nvidia-smi failed"; } > "$OUT_DIR/nvidia-smi.txt" 2>&1
"$PYTHON" -c "import torch; print(torch.__version__, torch.version.cuda, \
torch.cuda.is_available())" > "$OUT_DIR/torch.txt" 2>&1

echo "== 1/3 gpu tests (pytest -m gpu --gpu)"
timeout 330 "$PYTHON" -m pytest -m gpu --gpu -p no:cacheprovider -ra -q tests \
    --durations=20 --junitxml="$OUT_DIR/gpu_tests.xml" 2>&1 | tee "$OUT_DIR/gpu_tests.log"
tests_status=${PIPESTATUS[0]}

BENCH=(benchmarks/bench_estimator_gpu.py --device cuda --n-train 2048 --epochs 3)
echo "== 2/3 GPU benchmark, PyTorch's default precision (fp32 rows run in TF32)"
timeout 180 "$PYTHON" "${BENCH[@]}" "$OUT_DIR/estimator_gpu_default.json" \
    --batch-sizes 256 --configs fp32 fp32+cl bf16 bf16+cl bf16+cl+compile auto 2>&1 \
    | tee "$OUT_DIR/estimator_gpu_default.log"
bench_status=${PIPESTATUS[0]}
echo "== 3/3 GPU benchmark, TF32 off (fp32 rows run in fp32)"
timeout 90 "$PYTHON" "${BENCH[@]}" "$OUT_DIR/estimator_gpu_no_tf32.json" \
    --batch-sizes 256 --configs fp32 fp32+cl --no-tf32 2>&1 | tee "$OUT_DIR/estimator_gpu_no_tf32.log"
[ "${PIPESTATUS[0]}" -ne 0 ] && bench_status=1

echo "gpu tests: exit $tests_status; benchmark: exit $bench_status; results in $OUT_DIR"
[ "$tests_status" -ne 0 ] && exit "$tests_status"
exit "$bench_status"
