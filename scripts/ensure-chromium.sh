#!/usr/bin/env bash
# Run before `npm test`: the playground's browser test drives Debian's chromium through playwright-core. Installs it
# with apt when it is missing and we may (root, or passwordless sudo); otherwise says how, and the browser test will
# fail with the same advice (set MIMO_SKIP_BROWSER=1 to skip it knowingly).
set -u
if command -v chromium >/dev/null 2>&1 || [ -n "${MIMO_SKIP_BROWSER:-}" ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "mimo-ts tests: chromium not found and no apt-get here; install chromium (the browser test needs it)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "mimo-ts tests: chromium not found; run: sudo apt-get install -y chromium" >&2
    exit 0
  fi
fi
echo "mimo-ts tests: installing Debian's chromium for the browser test (apt-get install -y chromium)" >&2
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null || echo "mimo-ts tests: apt-get install chromium failed" >&2
exit 0
