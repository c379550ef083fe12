#!/usr/bin/env bash
# Installs the Python package `ryre` (crates/ryre-py, with pyzmq for ryre.pyre) into a venv on a
# fresh Debian machine: g++ for the vendored libzmq if it is missing, then pip (maturin and cmake
# come from PyPI as the package's build backend). The wheel needs no system libzmq at run time.
#
#   bash scripts/install-python.sh [VENV]     # default VENV: target/venv
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-target/venv}"
if ! command -v c++ >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "install-python: installing g++"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq g++ >/dev/null
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check './crates/ryre-py[pyre]'
"$venv/bin/python" -c 'import ryre; print("installed ryre", ryre.__version__, "into '"$venv"'")'
