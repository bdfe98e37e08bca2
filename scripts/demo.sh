#!/usr/bin/env bash
# Set up and start the app on SQLite with demo data: http://127.0.0.1:5000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Plain-HTTP local demo: cookies without the Secure flag. Never set this in production.
export VICTIMCARE_DEVELOPMENT=true
.venv/bin/flask --app victimcare db upgrade      # creates instance/keys.json on a new database
.venv/bin/flask --app victimcare demo            # idempotent; prints new demo passwords once
echo "Demo passwords: instance/demo-credentials.txt"
exec .venv/bin/flask --app victimcare run --host 127.0.0.1 --port 5000
