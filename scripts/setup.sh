#!/usr/bin/env bash
# Installs the system packages ryre builds and tests with (Debian): libzmq with CURVE and
# pkg-config to find it; iproute2, nftables and libczmq4 for the network-namespace interop tests.
# Idempotent.
set -euo pipefail
missing=()
pkg-config --exists libzmq 2>/dev/null || missing+=(libzmq3-dev pkg-config)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# nft: the NAT (port forward) in the gossip interop test.
command -v nft >/dev/null 2>&1 || missing+=(nftables)
# libczmq: CZMQ's own zbeacon over IPv6 in the IPv6 interop test.
python3 -c 'import ctypes; ctypes.CDLL("libczmq.so.4")' 2>/dev/null || missing+=(libczmq4)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
