#!/usr/bin/env bash
# Are the crates publishable? (1) crates.io metadata of every publishable crate (description,
# license, repository, readme that exists, keywords, categories, rust-version, versions on path
# dependencies), by scripts/check-crate-metadata.py after its self-test on a broken copy;
# (2) `cargo package --workspace`: each crate packed and built from its .crate file against the
# others' (a local registry overlay; anything else must exist on crates.io), with the test-only
# ryre-testkit (publish = false) left out; (3) the docs as docs.rs builds them: --all-features
# (libzmq vendored: cmake < 4 and g++, installed if missing), --cfg docsrs, warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "package: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "== crate metadata"
python3 scripts/check-crate-metadata.py --self-test
echo "== cargo package --workspace (each crate built from its .crate)"
cargo package --workspace --exclude ryre-testkit --allow-dirty -q
echo "== cargo doc --all-features, as docs.rs (warnings are errors)"
RUSTDOCFLAGS="-D warnings --cfg docsrs" cargo doc --workspace --exclude ryre-testkit --all-features --no-deps -q
echo "package: $(ls target/package/*.crate | grep -vc testkit) crates packaged, docs built"
