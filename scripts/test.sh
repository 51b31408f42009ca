#!/usr/bin/env bash
# Run the whole test suite on SQLite, then (when TEST_DATABASE_URL is set) again on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
install_requirements requirements-dev.txt
.venv/bin/python -m pytest "$@"
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "--- again on PostgreSQL (${TEST_DATABASE_URL%%@*}@…) ---"
  SCRIPTREEL_TEST_DB=postgresql .venv/bin/python -m pytest -m "not sqlite_only" "$@"
fi
