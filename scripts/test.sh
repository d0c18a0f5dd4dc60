#!/usr/bin/env bash
# The test command (README Quick start #2; .ci/run calls exactly this):
# installs what the tests need — Python packages, and Debian's chromium + fonts-noto-cjk for the
# end-to-end browser tests — then runs ruff, mypy and the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  echo "installing chromium and fonts-noto-cjk (apt-get)…" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi

pip install -r requirements-dev.txt
ruff check .
mypy layers dashboard
# one worker per core (at most 4), a test file per worker: the browser modules wait on pages
# more than they compute, so two workers on two cores take ~11 min instead of ~18
WORKERS=$(python -c "import os; print(max(1, min(4, os.cpu_count() or 1)))")
python -m pytest -q -n "$WORKERS" --dist loadfile "$@"
