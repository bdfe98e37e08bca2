#!/usr/bin/env bash
# Set up and run the whole test suite: on SQLite, then on a throwaway PostgreSQL server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
status=0
echo "== test suite on SQLite =="
.venv/bin/pytest -p no:cacheprovider "$@" || status=$?
echo "== test suite on PostgreSQL =="
.venv/bin/pytest -p no:cacheprovider --db=postgresql "$@" || status=$?
exit $status
