#!/usr/bin/env bash
# Create .venv (Python 3.11) and install Kateder into it. Idempotent; pip caches wheels,
# so a second run takes seconds (the first builds llama-cpp-python: 4-13 min on 2 cores).
# Usage: scripts/install.sh [extra]   e.g. scripts/install.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip wheel setuptools
# torch is pinned in pyproject to the CPU build that lies on disk (an unpinned torch pulls CUDA)
if [ -n "${1:-}" ]; then
  python -m pip install -q -e ".[$1]"
else
  python -m pip install -q -e .
fi
