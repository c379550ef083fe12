#!/usr/bin/env bash
# Runs the dashboard's browser test: headless Debian chromium driven by playwright-core.
# Expects chromium at /usr/bin/chromium and playwright-core under $PLAYWRIGHT_DIR (default
# target/browser-node); scripts/test-bridge.sh installs both. Saves target/dashboard.png,
# target/dashboard-logs.png, target/dashboard-timer.png, target/dashboard-pipeline-running.png,
# target/dashboard-pipeline.png, target/dashboard-gone.png and target/dashboard-https.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
export RYRE_BIN="${RYRE_BIN:-$PWD/target/debug/ryre}"
export PLAYWRIGHT_DIR="${PLAYWRIGHT_DIR:-$PWD/target/browser-node}"
export SCREENSHOT_DIR="${SCREENSHOT_DIR:-$PWD/target}"
mkdir -p "$SCREENSHOT_DIR"
# Bounded even if node itself hangs.
exec timeout --kill-after=10 260 node tests/browser/dashboard.cjs
