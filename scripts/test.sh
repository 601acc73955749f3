#!/usr/bin/env bash
# Install everything (including Debian's Chromium for the browser tests) and run the whole
# test suite. Arguments are passed to pytest. pytest's "no tests ran" (exit 5) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test || exit 1
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null \
      || echo "warning: could not install chromium; browser tests will fail in CI" >&2
  else
    echo "warning: chromium is not installed (sudo apt-get install chromium chromium-driver)" >&2
  fi
fi
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ruff check . || exit 1
lint-imports || exit 1
# Size limits (issue 14): functions <= 80 lines, modules <= 600 lines. The allow-list names
# each known offender that its own piece of work is still splitting; anything else over a
# limit fails the run (and an entry that no longer matches is reported, to be removed):
#   guard/training/datasets.py       the guard's training data assembly (to be split by source family)
#   guard/training/train.py:train    the training loop (to be split into setup, step and checkpoint)
#   app/reranker_training.py         the reranker's data and training (to be split, data apart from training)
python scripts/check_size.py app guard ingest core \
  --allow guard/training/datasets.py \
  --allow guard/training/train.py:train \
  --allow app/reranker_training.py || exit 1
# Static types of guard/ and app/services/ ([tool.mypy] in pyproject.toml)
mypy || exit 1
python -m pytest -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
