#!/bin/sh
# The "done when" trial of issue 11, as a new user runs it: a fresh directory outside the
# repository, a virtualenv, msgworker installed from this checkout with the testing extra
# (as the README's Install section says), the sample project of scripts/trial/ (a FIFO
# consumer with @idempotent/@circuit_breaker/@retry, an SNS → SQS and an EventBridge →
# Lambda consumer, their pytest tests on the plugin's fixtures), then pytest and mypy --strict.
#
#     sh scripts/trial.sh            # prints each step; exit 0 when every test passed
#
# tests/test_testing_kit.py runs the same project with the repository's own .venv in `make test`.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$(command -v python3.11 || command -v python3)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "trial in $work"
cp -r "$repo/scripts/trial" "$work/shop"
cd "$work/shop"
"$python" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q "$repo[testing]" mypy
# Nothing of the developer's AWS set-up may leak into the trial.
env -u AWS_ENDPOINT_URL -u MSGWORKER_IDEMPOTENCY_TABLE -u MSGWORKER_BREAKER_TABLE .venv/bin/pytest -q
.venv/bin/mypy --strict --ignore-missing-imports app tests
echo "trial passed"
