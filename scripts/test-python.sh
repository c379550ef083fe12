#!/usr/bin/env bash
# ryre for Python (crates/ryre-py, not in the main cargo workspace): cargo fmt and clippy
# -D warnings of the crate, the README's install command (pip install ./crates/ryre-py) into a
# venv under target/, the examples, mypy --strict over the package and its stubs, then the
# pytest suite with per-test timeouts (the interop tests with a real Pyre need root for network namespaces; they are skipped, and counted, without it).
# Idempotent; the last line is "python: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
venv="$repo/target/python-venv"
export CARGO_TARGET_DIR="$repo/target/ryre-py"

# the vendored libzmq is C++ (Debian's gcc package has no g++)
if ! command -v c++ >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "python: installing g++"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq g++ >/dev/null
fi

req="crates/ryre-py/tests/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "python: setting up $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"  # cmake for the vendored libzmq

echo "== ryre-py: cargo fmt --check"
cargo fmt --manifest-path crates/ryre-py/Cargo.toml -- --check
echo "== ryre-py: cargo clippy -D warnings"
cargo clippy --manifest-path crates/ryre-py/Cargo.toml --release --all-targets -q -- -D warnings
echo "== ryre-py: bash scripts/install-python.sh (the README's command)"
bash scripts/install-python.sh "$venv"

echo "== ryre-py: examples/pair.py, examples/services.py"
timeout 60 "$venv/bin/python" crates/ryre-py/examples/pair.py >/dev/null
timeout 60 "$venv/bin/python" crates/ryre-py/examples/services.py >/dev/null

echo "== ryre-py: mypy --strict (the package with its stubs, and the services example)"
(cd crates/ryre-py && export MYPYPATH=python &&
  "$venv/bin/python" -m mypy --strict --ignore-missing-imports --no-incremental -p ryre &&
  "$venv/bin/python" -m mypy --strict --ignore-missing-imports --no-incremental examples/services.py)

echo "== ryre-py: pytest"
xml="$repo/target/python-tests.xml"
rm -f "$xml"
set +e
(cd "$repo/target" && "$venv/bin/python" -m pytest "$repo/crates/ryre-py/tests" -v -rs -p no:cacheprovider \
  --timeout "${PY_TEST_TIMEOUT:-120}" -o timeout_func_only=false --junitxml "$xml")
rc=$?
set -e
"$venv/bin/python" - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    print("python: no test report (%s)" % e)
    sys.exit(0)
suites = [root] if root.tag == "testsuite" else list(root)
n = lambda k: sum(int(s.get(k, 0)) for s in suites)
failed = n("failures") + n("errors")
print("python: %d passed, %d failed, %d skipped" % (n("tests") - failed - n("skipped"), failed, n("skipped")))
PY
exit $rc
