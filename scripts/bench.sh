#!/usr/bin/env bash
# The standard benchmark matrix: userstream against the floor server, nats-server and Sockudo,
# in one run, on this host; then userstream as a cluster of nodes on NATS against one embedded
# node, the WebSocket crates (the floor on each), JSON against SBE, what stream positions and the
# resume history cost, and the publish intake's JSON parsers. Writes docs/benchmarks.md (and the
# raw JSON lines next to it).
#
#   scripts/bench.sh                   # the whole matrix, about 45 minutes on 2 cores
#   QUICK=1 scripts/bench.sh           # 1k connections only, shorter runs
#   CLUSTER_NODES=2 scripts/bench.sh   # a cluster of 2 nodes instead of 3
#
# Every run is bounded in time and count and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
ensure_nats_server

# Sockudo (a Rust Pusher-protocol server) is a peer when built; building it takes a while, so
# only when asked: SOCKUDO=1. It needs protoc (Debian's protobuf-compiler).
SOCKUDO_ROOT="${HOME}/.cache/userstream-bench/sockudo"
SOCKUDO_BIN="${USERSTREAM_BENCH_SOCKUDO:-$SOCKUDO_ROOT/bin/sockudo}"
if [ "${SOCKUDO:-}" = 1 ] && [ ! -x "$SOCKUDO_BIN" ]; then
  need protoc || as_root apt-get install -y protobuf-compiler >&2
  cargo install sockudo --version 5.2.0 --locked --root "$SOCKUDO_ROOT" >&2
fi

cargo build --release --locked -p userstream >&2
BIN=target/release/userstream
OUT=docs/benchmarks.jsonl
# The commit measured, first, so the report names what was run rather than what is checked out
# when it is rendered.
printf '{"scenario":"meta","commit":"%s","dirty":%s}\n' "$(git rev-parse --short HEAD)" \
  "$([ -n "$(git status --porcelain --untracked-files=no)" ] && echo true || echo false)" > "$OUT"

DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
# Latency windows span several of the servers' pings (userstream and nats-server ping every
# 5 s in these runs: --ping-secs), as every long-lived production connection does.
LATENCY_DURATION=${LATENCY_DURATION:-20}
BATCH=${BATCH:-500}
CONNECTIONS=${CONNECTIONS:-"1000 10000"}
STORM=${STORM:-10000}
if [ "${QUICK:-}" = 1 ]; then CONNECTIONS=1000; DURATION=4; WARMUP=1; LATENCY_DURATION=11; STORM=1000; LATENCY_WINDOWS=1; fi
PEERS="userstream floor nats"
if [ -x "$SOCKUDO_BIN" ]; then
  PEERS="$PEERS sockudo"
else
  echo "sockudo: skipped (not built; SOCKUDO=1 scripts/bench.sh builds it into $SOCKUDO_ROOT)" >&2
fi

run() {
  echo "+ userstream bench $*" >&2
  timeout 900 "$BIN" bench "$@" | tee -a "$OUT"
}

# Fan-out: at saturation, then paced at half of it, at 10,000 and at 1,000 events/s. Paced runs
# publish once a millisecond, so a batch's own dispatch time does not pass for latency.
saturated() {
  run fanout "$@" --duration-secs "$DURATION" --batch "$BATCH"
}
paced() {
  local rate=$1; shift
  run fanout "$@" --duration-secs "$LATENCY_DURATION" --rate "$rate" \
    --batch $(( rate / 1000 > 0 ? rate / 1000 : 1 )) >/dev/null
}
# The latency and throughput goals compare userstream with nats-server at 10,000 and 1,000
# events/s and at saturation: both run those windows LATENCY_WINDOWS times, and the report takes
# the median of each figure (one window's p99.9 and max are a single host hiccup away from
# doubling, and its throughput at saturation swings by a fifth or more).
LATENCY_WINDOWS=${LATENCY_WINDOWS:-3}
# userstream with write coalescing on (ws.write_coalesce_ms), the same runs.
COALESCE_MS=${COALESCE_MS:-100}
fanout_matrix() {
  local peer=$1 n=$2 windows=$3; shift 3
  local common=(--peer "$peer" --connections "$n" --warmup-secs "$WARMUP" "$@")
  local saturation half
  saturation=$(saturated "${common[@]}" \
    | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["delivered_per_sec"]))')
  # The throughput goals are judged on saturation windows too: repeated like the latency ones.
  for _ in $(seq 2 "$windows"); do
    saturated "${common[@]}" >/dev/null
  done
  half=$(( saturation / 2 ))
  paced "$half" "${common[@]}"
  for _ in $(seq "$windows"); do
    for rate in 10000 1000; do
      paced "$rate" "${common[@]}"
    done
  done
}
for n in $CONNECTIONS; do
  for peer in $PEERS; do
    case $peer in userstream | nats) windows=$LATENCY_WINDOWS ;; *) windows=1 ;; esac
    fanout_matrix "$peer" "$n" "$windows"
  done
  fanout_matrix userstream "$n" 1 --coalesce-ms "$COALESCE_MS"
done
# Cluster mode: CLUSTER_NODES userstream nodes on one nats-server with JetStream, connections
# spread over the nodes, published through one; the same saturation and 10,000 and 1,000
# events/s runs as the embedded node's above, so the report compares them.
CLUSTER_NODES=${CLUSTER_NODES:-3}
for n in $CONNECTIONS; do
  common=(--peer userstream --cluster-nodes "$CLUSTER_NODES" --connections "$n" --warmup-secs "$WARMUP")
  saturated "${common[@]}" >/dev/null
  for rate in 10000 1000; do
    paced "$rate" "${common[@]}"
  done
done
# The WebSocket crate: the floor on each candidate (its tungstenite run is in the matrix above).
for n in $CONNECTIONS; do
  for stack in fastwebsockets tokio-websockets; do
    run fanout --peer floor --floor-stack "$stack" --connections "$n" --duration-secs "$DURATION" \
      --warmup-secs "$WARMUP" --batch "$BATCH" >/dev/null
  done
done
# JSON against SBE sessions (schema 3:5), same events, same rates.
for n in $CONNECTIONS; do
  run fanout --peer userstream --sbe --connections "$n" --duration-secs "$DURATION" \
    --warmup-secs "$WARMUP" --batch "$BATCH" >/dev/null
done
# Positions and history: userstream with its resume history off (the baseline), on (the
# default), and on with every client asking for stream positions; saturated and at 10,000
# events/s, one configuration after the other. At 1k connections, and 10k when CONNECTIONS has
# it. The section lines around them keep these runs apart from the matrix's userstream runs.
section() {
  printf '{"scenario":"section","name":"%s"}\n' "$1" >> "$OUT"
}
POSITIONS_CONNECTIONS=1000
case " $CONNECTIONS " in *" 10000 "*) POSITIONS_CONNECTIONS="1000 10000" ;; esac
section positions
for n in $POSITIONS_CONNECTIONS; do
  for config in "--history off" "--history on" "--history on --positions"; do
    # shellcheck disable=SC2206 # the configuration's flags, split on purpose
    common=(--peer userstream --connections "$n" --warmup-secs "$WARMUP" $config)
    saturated "${common[@]}" >/dev/null
    paced 10000 "${common[@]}"
  done
done
section main
# The publish intake's JSON parser, in process.
run intake --items 500 --duration-ms 3000 >/dev/null
for peer in $PEERS; do
  run churn --peer "$peer" --concurrency 64 --duration-secs "$DURATION" >/dev/null
done
run tokens --peer userstream --requests 50000 --concurrency 32 >/dev/null
run tokens --peer floor --requests 50000 --concurrency 32 >/dev/null
# Reconnect storms: every client dropped by kill -9, the server restarted on the same ports.
for peer in userstream nats; do
  run storm --peer "$peer" --connections "$STORM" >/dev/null
done
run storm --peer userstream --connections 1000 >/dev/null
# Expiry storms: spread over one second, and all in the same millisecond.
run expiry --subscriptions "${EXPIRY:-10000}" --spread-ms 1000 >/dev/null
run expiry --subscriptions "${EXPIRY:-10000}" --spread-ms 0 >/dev/null

python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --quiet matplotlib >&2
python3 scripts/bench_report.py "$OUT" "$0 ${*:-}" docs/latency.png > docs/benchmarks.md
echo "wrote docs/benchmarks.md" >&2
