#!/usr/bin/env bash
# The test command (README Quick start #2; .ci/run calls exactly this):
# installs what the tests need — Python packages; Debian's chromium + fonts-noto-cjk for the
# end-to-end browser tests; Debian's PostgreSQL 15 + PostGIS 3 for the PostGIS backend (the tests
# start a throwaway cluster of their own: initdb in a temporary folder, pg_ctl on 127.0.0.1) —
# then runs ruff, mypy and the whole pytest suite on both backends.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=""
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  PACKAGES="chromium fonts-noto-cjk"
fi
if ! ls /usr/lib/postgresql/15/lib/postgis-3*.so >/dev/null 2>&1 \
    || [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  PACKAGES="$PACKAGES postgresql-15 postgresql-15-postgis-3"
fi
if [ -n "$PACKAGES" ]; then
  echo "installing $PACKAGES (apt-get)…" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086  # a list of package names
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PACKAGES >/dev/null
fi

pip install -r requirements-dev.txt
ruff check .
mypy layers dashboard
# one worker per core (at most 4), a test file per worker. WANGGE_TEST_WORKERS overrides it:
# on two cores three workers took 20–22 min where two take ~26 (the browser modules wait on
# pages part of the time), but each of the first two runs so had one browser test read a page
# before it was drawn (docs/benchmarks.md, "The test suite"); three stays opt-in until runs are
# clean
WORKERS=${WANGGE_TEST_WORKERS:-$(python -c "import os; print(max(1, min(4, os.cpu_count() or 1)))")}
python -m pytest -q -n "$WORKERS" --dist loadfile "$@"
