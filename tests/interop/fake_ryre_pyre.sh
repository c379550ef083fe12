#!/bin/sh
# Stand-in for the ryre binary, for validating the harness itself:
#   RYRE_BIN=tests/interop/fake_ryre_pyre.sh tests/interop/run.sh
# Runs pyre_peer.py, which accepts (and ignores) ryre's `node --json
# --interface/--evasive/--expired`. Expected to FAIL the Pyre-bug tests
# (status churn, invalid UTF-8 name) and the short-expiry test, because
# Pyre has those bugs / fixed timeouts.
here=$(cd "$(dirname "$0")" && pwd)
py="$here/../../target/interop-venv/bin/python"
[ -x "$py" ] || py=python3
exec "$py" -u "$here/pyre_peer.py" "$@"
