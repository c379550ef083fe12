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
# A previous run's .crate files (target/package) and their unpacked copies (cargo unpacks the
# local registry overlay into $CARGO_HOME/registry/src/-<hash>/) are reused when the version is
# unchanged: the verify would build old sources. Drop them (only ryre's, only there).
rm -rf target/package
# The verify builds in target/debug, and cargo takes registry crates to be immutable: what it
# compiled from an older .crate of the same version would be reused. Drop those artifacts (their
# dep-info names the overlay's unpacked sources).
for dep in target/debug/deps/*.d; do
  [ -f "$dep" ] && grep -q "registry/src/-[^/]*/ryre-" "$dep" || continue
  stem="$(basename "$dep" .d)"
  rm -rf target/debug/deps/"$stem".* target/debug/deps/lib"$stem".* target/debug/.fingerprint/"$stem"
done
home="${CARGO_HOME:-$HOME/.cargo}"
for d in "$home"/registry/src/-*/; do
  [ -d "$d" ] || continue
  for c in "$d"ryre-*; do [ -d "$c" ] && rm -rf "$c"; done
done
cargo package --workspace --exclude ryre-testkit --allow-dirty -q
echo "== cargo doc --all-features, as docs.rs (warnings are errors)"
RUSTDOCFLAGS="-D warnings --cfg docsrs" cargo doc --workspace --exclude ryre-testkit --all-features --no-deps -q
echo "package: $(ls target/package/*.crate | grep -vc testkit) crates packaged, docs built"
