#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: install startune with the transformer extra, run the transformer tests on
# CUDA, then print minilm-l6's training and inference examples/s and its accuracy against the linear default
# on the same files. Meant to finish well under 10 minutes on one data-centre GPU.
#   bash benchmarks/gpu_check.sh            (from the repository root; ../shared/data beside it)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-gpu
. .venv-gpu/bin/activate
pip install -q --upgrade pip
pip install -q -e '.[test]'
python - <<'PY'
import torch
assert torch.cuda.is_available(), "torch sees no CUDA device: this check is for a machine with an NVIDIA GPU"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}, "
      f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
export STARTUNE_DEVICE=cuda
# the transformer trainer's own tests and the jobs through the API, on the GPU
pytest -q -p no:cacheprovider tests/core/backend/test_transformer.py tests/core/backend/test_transformer_jobs.py
# several GPUs (torch DDP over nccl): the same job on 1 GPU and on all of them, compared and timed
if [ "$(python -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  python benchmarks/ddp_check.py --examples 4000
else
  echo "one GPU: the several-device check (benchmarks/ddp_check.py) needs two or more"
fi
# speed (one epoch of 4,000 examples, then 5,000 predictions) and quality at defaults on 20,000 reviews
python benchmarks/transformer.py --train 20000 --test 5000 --val 2000 --speed-examples 4000
