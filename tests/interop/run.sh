#!/usr/bin/env bash
# Run the ryre <-> Pyre interop tests.
#
#   tests/interop/run.sh [extra pytest args...]
#
# Creates <repo>/target/interop-venv on first use (python3 -m venv + pip
# install -r requirements.txt), re-installs when requirements.txt changed,
# then runs pytest with a per-test timeout. Needs root (network namespaces).
# The ryre binary is $RYRE_BIN, default <repo>/target/debug/ryre; ryre tests
# are skipped when it does not exist.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/target/interop-venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

want_hash="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want_hash" ]; then
    echo "interop: setting up $venv" >&2
    mkdir -p "$repo/target"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want_hash" > "$stamp"
fi

export RYRE_BIN="${RYRE_BIN:-$repo/target/debug/ryre}"
cd "$repo"
# -p no:cacheprovider: don't leave .pytest_cache in the work tree
exec "$venv/bin/python" -m pytest "$here" -v -rs -p no:cacheprovider \
    --timeout "${INTEROP_TEST_TIMEOUT:-120}" -o timeout_func_only=false "$@"
