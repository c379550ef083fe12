#!/usr/bin/env bash
# The bridge's browser test on a fresh machine: installs Debian's chromium (apt, only when
# missing) and playwright-core (npm, into target/browser-node, only when missing), builds the
# ryre binary and runs tests/browser/run.sh. The bridge's API tests run with `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-bridge: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
PW_DIR="$PWD/target/browser-node"
if [ ! -f "$PW_DIR/node_modules/playwright-core/package.json" ]; then
  echo "test-bridge: installing playwright-core into $PW_DIR"
  mkdir -p "$PW_DIR"
  [ -f "$PW_DIR/package.json" ] || echo '{"name":"ryre-browser-test","private":true}' > "$PW_DIR/package.json"
  # playwright-core brings no browser of its own; we drive Debian's chromium.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$PW_DIR" --no-audit --no-fund \
    --silent playwright-core@1
fi
cargo build -q -p ryre-cli
PLAYWRIGHT_DIR="$PW_DIR" bash tests/browser/run.sh
