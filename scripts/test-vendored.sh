#!/usr/bin/env bash
# ryre without a system libzmq: builds the node crate (ryre) with its `vendored` feature (libzmq
# 4.3.2 from the zmq crate's zeromq-src, built by cmake and a C++ compiler, linked statically,
# CURVE with its bundled tweetnacl) and runs its tests, once. tests/vendored.rs checks the
# libzmq version, that no shared libzmq is mapped, and a real CURVE handshake.
# Installs cmake (Debian's 3.25; zeromq-src's CMakeLists predates cmake 4) and g++ if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "vendored: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
major="$(cmake --version | sed -n 's/^cmake version \([0-9]*\).*/\1/p')"
if [ "${major:-0}" -ge 4 ]; then
  echo "vendored: cmake $major found; zeromq-src needs cmake < 4 (pip install 'cmake<4')" >&2
  exit 1
fi
echo "== cargo test -p ryre --features vendored (libzmq built from source)"
cargo test -p ryre --features vendored -q
