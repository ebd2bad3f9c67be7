#!/usr/bin/env bash
# Installs what the tests need, then runs every check CI runs: formatting, lints, all tests.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# A run from a clean clone gains nothing from incremental compilation, and its caches double
# the target directory on disk.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
# The benchmark harness's smoke test drives a real nats-server, as a peer.
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
# A test reads the listen backlog the kernel reports (ss, from iproute2).
command -v ss >/dev/null 2>&1 || need_apt+=(iproute2)
# The web console's browser test drives Debian's chromium (tests/browser/).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
    echo "installing: ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
command -v cargo >/dev/null 2>&1 || { echo "error: cargo (Rust stable) is required: https://rustup.rs" >&2; exit 1; }
# Every run, so node_modules always matches the committed lock file (seconds, from npm's cache).
(cd tests/browser && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check) # the fuzz targets are a workspace of their own
cargo clippy --workspace --all-targets --locked -- -D warnings
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# The web console in headless chromium against the debug binary the tests just built: login,
# a key, a real tail client, an order placed and filled, a fault, a scenario (under 2 minutes).
# Screenshots land in target/console-screenshots/.
node tests/browser/console.test.mjs "${CARGO_TARGET_DIR:-target}/debug/userstream"
# Fuzzing: every fuzz target (fuzz/) for 30 s on the committed seeds, one after the other; fails
# on any crash and prints the input and the command that reproduces it (docs/reliability.md).
# The build is cached outside the clone, so a machine that fuzzed before only rebuilds what changed.
scripts/fuzz.sh 30
# The 2-minute soak: 1,000 client streams under publishing and random faults, kill -9 of the
# server included, on the debug binary the tests just built; fails on an event lost without a
# gap, a duplicate, a gap no fault explains, or server memory or descriptors that keep growing
# (docs/reliability.md). About two and a half minutes; leaves docs/ alone.
scripts/soak.sh --check 2
# One closing line for the whole run (cargo prints one per test binary, doc-tests last).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
