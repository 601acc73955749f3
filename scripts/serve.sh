#!/usr/bin/env bash
# Install everything, migrate the database, load the demo (printing the demo logins) and
# serve Kateder on http://127.0.0.1:5000/ (KATEDER_HOME selects the instance folder).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1
kateder migrate
kateder demo
exec kateder serve --host 127.0.0.1 --port "${PORT:-5000}"
