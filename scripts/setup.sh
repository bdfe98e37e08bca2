#!/usr/bin/env bash
# Shared set-up: Debian packages, a virtualenv in .venv, the package, compiled translations.
# Usage: scripts/setup.sh [extra]   (extra: "test" adds the test dependencies and PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA="${1:-}"

PACKAGES=(python3-venv libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk)
if [ "$EXTRA" = "test" ]; then
  PACKAGES+=(postgresql)
  # Browser tests (tests/e2e) drive Debian's Chromium through Playwright; never Playwright's own browsers.
  PACKAGES+=(chromium)
  # axe-core for the accessibility checks comes from the npm registry (tests/e2e/package-lock.json).
  # Only when npm is missing: NodeSource's nodejs bundles npm and conflicts with Debian's npm package.
  command -v npm >/dev/null || PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "Installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "Python 3.11 or newer is needed" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
if [ "$EXTRA" = "test" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,postgres]"
  # Exactly the pinned axe-core, into tests/e2e/node_modules (git-ignored).
  npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[postgres]"
fi
if ls victimcare/translations/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then
  .venv/bin/pybabel compile -d victimcare/translations
fi
