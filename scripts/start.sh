#!/usr/bin/env bash
# Set up (virtualenv, requirements) and start Scriptreel locally on http://127.0.0.1:${PORT:-5000}.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
exec .venv/bin/python scripts/run_local.py
