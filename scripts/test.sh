#!/usr/bin/env bash
# Runs every check and test on the real services (starting them when needed):
# formatting, clippy with warnings denied, unit tests, integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh up
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets -- --test-threads=4
