#!/usr/bin/env bash
# The soak test (docs/reliability.md, "Soak"): thousands of userstream-client streams against the
# real server, publishing at half saturation, random faults including kill -9; fails on any event
# lost without a gap, any duplicate, any gap no fault explains, or server memory or descriptors
# that grow.
#
#   scripts/soak.sh [MINUTES]          # default 30: release build, 5,000 streams; then draws
#                                      # docs/soak.png and rewrites the Soak section of
#                                      # docs/reliability.md (also when the run fails)
#   scripts/soak.sh --check [MINUTES]  # CI: the debug binary `cargo test` builds, 1,000 streams;
#                                      # checks and fails the same way, leaves docs/ alone
#
# STREAMS, SEED (1) and OUT (target/soak) override the defaults. Every run is bounded in time
# and stops by itself; the server it starts listens on free loopback ports only.
set -euo pipefail
cd "$(dirname "$0")/.."

# The commit measured, taken before anything is built, so that the report names what ran rather
# than what is checked out when it is rendered.
SOAK_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  SOAK_COMMIT="$SOAK_COMMIT (with uncommitted changes)"
fi
export SOAK_COMMIT

check=0
if [ "${1:-}" = --check ]; then
  check=1
  shift
fi
MINUTES=${1:-30}
SEED=${SEED:-1}
OUT=${OUT:-target/soak}

if [ "$check" = 1 ]; then
  # A release build takes minutes on 2 cores; after `cargo test` this is a no-op, and the debug
  # binary is fast enough for the CI-sized run (the ramp measures what it can do).
  cargo test --workspace --locked --no-run --quiet
  BIN=target/debug/userstream
  # A thousand streams: every mass fault (kill -9, a drop of every connection) is still a
  # thundering herd of a thousand reconnects and subscribes, but the debug build recovers from
  # one in about 5 s and the load generator stays near 350 MB. 5,000 pass here too, but need
  # 1.6 GB and 12 s per recovery: little headroom when the CI machine is busy with other work.
  STREAMS=${STREAMS:-1000}
  # Shorter ramp steps, and tokens of 40 s (renewed every 30 s) so that two minutes see several
  # renewals per stream and the growth check's warm-up (1.5 renewal periods) leaves time to judge.
  RAMP_STEP=3
  VALIDITY_MS=40000
else
  cargo build --release --locked -p userstream
  BIN=target/release/userstream
  STREAMS=${STREAMS:-5000}
  RAMP_STEP=6
  VALIDITY_MS=80000
fi
[ -x "$BIN" ] || { echo "error: $BIN was not built" >&2; exit 1; }

# Every stream holds a WebSocket and a keep-alive connection for its tokens, two WebSockets
# during a handover: lift the descriptor limit to what the system allows.
ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT"
rm -f "$OUT/summary.json"
args=(bench soak --streams "$STREAMS" --minutes "$MINUTES" --seed "$SEED" --ramp-step-secs "$RAMP_STEP"
  --token-validity-ms "$VALIDITY_MS" --out "$OUT")
echo "+ $BIN ${args[*]}" >&2
status=0
# The main phase, plus setup, ramp and drain (each bounded inside the soak) with room to spare.
timeout "$(( ${MINUTES%.*} * 60 + 900 ))" "$BIN" "${args[@]}" > "$OUT/summary.line" || status=$?
if [ ! -s "$OUT/summary.json" ]; then
  echo "error: the soak did not finish (exit $status); see $OUT" >&2
  exit 1
fi

if [ "$check" = 1 ]; then
  python3 scripts/soak_report.py "$OUT"
else
  python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --quiet matplotlib
  reproduce="scripts/soak.sh $MINUTES"
  [ "$SEED" = 1 ] || reproduce="SEED=$SEED $reproduce"
  [ "$STREAMS" = 5000 ] || reproduce="STREAMS=$STREAMS $reproduce"
  python3 scripts/soak_report.py "$OUT" --docs "$reproduce"
fi
exit "$status"
