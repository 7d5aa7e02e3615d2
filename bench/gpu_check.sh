#!/usr/bin/env bash
# GPU check: install what the check needs, then train the seed recipe and the transfer model on
# ~5,000 drawn photos, each with and without --mixed-precision, and print epoch seconds and images/s.
#
#   bench/gpu_check.sh                 # on the GPU machine: 4,766 train photos, 3 epochs per run
#   bench/gpu_check.sh --small         # anywhere, quickly (CPU): 200 photos, 2 epochs, 1 fine-tuning epoch
#   bench/gpu_check.sh --no-install    # skip pip (offline machines)
#   other options go to `python -m bench.gpu_check` (--photos, --epochs, --fine-tune-epochs, --models, --batch-size)
set -euo pipefail
cd "$(dirname "$0")/.."

install=1
options=()
while [ $# -gt 0 ]; do
  case "$1" in
    --small) options+=(--photos 200 --epochs 2 --fine-tune-epochs 1) ;;
    --no-install) install=0 ;;
    *) options+=("$1") ;;
  esac
  shift
done

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

if [ "$install" = 1 ]; then
  # A machine without internet keeps what it has: the check then runs with the installed packages.
  python -m pip install -q -r requirements.txt || echo "pip could not install requirements.txt; using what is installed"
  if has_gpu; then
    python -m pip install -q "tensorflow[and-cuda]==2.21.*" || echo "pip could not install tensorflow[and-cuda]"
  fi
fi

if has_gpu; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
  echo "no NVIDIA GPU found: running on CPU"
fi
python -c "import tensorflow as tf; print('TensorFlow', tf.__version__, 'GPUs:', tf.config.list_physical_devices('GPU'))" 2>/dev/null
exec python -m bench.gpu_check ${options[@]+"${options[@]}"}
