#!/usr/bin/env bash
# Prometheus metrics checked by Prometheus's own parser: installs Debian's `prometheus` package
# (for promtool) if missing, then runs the metrics tests with promtool required
# (crates/ryre-cli/tests/metrics.rs: `ryre node --metrics`, the bridge's GET /metrics, the timer
# and pipeline services; each scrape through `promtool check metrics`, and broken copies refused).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "metrics: installing prometheus (promtool)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
echo "== metrics scraped and checked by $(promtool --version 2>&1 | head -1)"
RYRE_REQUIRE_PROMTOOL=1 cargo test -q -p ryre-cli --test metrics
