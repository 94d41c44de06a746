#!/usr/bin/env bash
# Run before `npm test`: Debian packages some tests need, installed with apt when missing and we may (root, or
# passwordless sudo); otherwise says how, and those tests fail with the same advice.
# - chromium: the playground's browser test drives it through playwright-core (MIMO_SKIP_BROWSER=1 skips that test
#   knowingly);
# - python3-numpy: the GGUF tests convert the golden fixtures with ../shared/tools/llamacpp-anchor/hf_to_gguf.py.
set -u
missing=()
if ! command -v chromium >/dev/null 2>&1 && [ -z "${MIMO_SKIP_BROWSER:-}" ]; then missing+=(chromium); fi
if ! /usr/bin/python3 -c 'import numpy' >/dev/null 2>&1; then missing+=(python3-numpy); fi
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "mimo-ts tests: ${missing[*]} not found and no apt-get here; install them (see README, Set-up)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "mimo-ts tests: ${missing[*]} not found; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 0
  fi
fi
echo "mimo-ts tests: installing Debian's ${missing[*]} (apt-get install -y ${missing[*]})" >&2
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null || echo "mimo-ts tests: apt-get install ${missing[*]} failed" >&2
exit 0
