#!/usr/bin/env bash
# Install everything, migrate the database, load the demo (printing the demo logins) and
# serve Kateder with gunicorn on http://127.0.0.1:5000/ as production does (gunicorn.conf.py:
# WEB_CONCURRENCY workers x KATEDER_THREADS threads). KATEDER_HOME selects the instance folder;
# `kateder serve --dev` is Flask's development server instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1
exec kateder serve --demo --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
