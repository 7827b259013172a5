#!/usr/bin/env bash
# Builds Sluice's Debian package with cargo-deb (installed from crates.io when missing).
#
#   bash scripts/package.sh              # release build (LTO, stripped): target/debian/sluice_<version>-1_<arch>.deb
#   bash scripts/package.sh --dev [DIR]  # packages the debug binary already built (`cargo build`;
#                                        # or the binary $SLUICE_BIN),
#                                        # stripped, fast compression, into DIR (default target/debian):
#                                        # what the `package` integration test installs, in seconds
#                                        # rather than a release build's minutes
#
# Prints the path of the .deb on its last line. What goes in the package: Cargo.toml,
# [package.metadata.deb]; maintainer scripts: packaging/debian/.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION="^3.8"

log() { printf '[package] %s\n' "$*" >&2; }

mode=release
out=target/debian
case "${1:-}" in
  --dev) mode=dev; out="${2:-$out}" ;;
  "") ;;
  *) echo "usage: $0 [--dev [DIR]]" >&2; exit 2 ;;
esac

if ! cargo deb --version >/dev/null 2>&1; then
  log "installing cargo-deb $CARGO_DEB_VERSION (cargo install --locked; once per machine)"
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" >&2
fi

mkdir -p "$out"
case "$mode" in
  release)
    log "cargo build --release and package (minutes: LTO)"
    cargo deb --locked --output "$out" >&2
    ;;
  dev)
    bin="$(realpath -m "${SLUICE_BIN:-${CARGO_TARGET_DIR:-target}/debug/sluice}")"
    [[ -x "$bin" ]] || { echo "no $bin: run cargo build first" >&2; exit 1; }
    # cargo-deb packages target/<profile>/sluice and refuses the dev profile: stage the
    # debug binary as the release one of a private target dir (cargo metadata only; no build).
    stage="$out/.stage"
    mkdir -p "$stage/release"
    cp "$bin" "$stage/release/sluice"
    log "packaging the debug binary $bin"
    CARGO_TARGET_DIR="$stage" cargo deb --no-build --strip --no-dbgsym --fast --output "$out" >&2
    rm -rf "$stage"
    ;;
esac

deb=$(ls -t "$out"/sluice_*.deb | head -n 1)
log "built $deb"
echo "$deb"
