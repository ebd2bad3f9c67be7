#!/usr/bin/env bash
# A local cluster in one command: three nats-server processes routed into one JetStream cluster
# (the gateways' key-value bucket replicated on all three), and three userstream gateways on
# them, all on free loopback ports. Prints how to use them; Ctrl-C stops everything it started.
#
#   scripts/cluster.sh                 # builds the release binary first
#   BIN=target/debug/userstream scripts/cluster.sh
#
# docs/operations.md, "Cluster", explains the topology and what each failure does. To see one:
# kill -9 a nats-server or a gateway from the pids printed below.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
ensure_nats_server
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -p userstream >&2
  BIN=target/release/userstream
fi

WORK="$(mktemp -d -t userstream-cluster.XXXXXX)"
PIDS=()
stop() {
  trap - INT TERM EXIT
  echo >&2
  echo "stopping the cluster" >&2
  # Gateways first, so that their clients get serverShutdown while NATS is still there.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap stop INT TERM EXIT

# A loopback port nothing listens on (nor was handed out here before).
TAKEN=" "
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    [[ "$TAKEN" == *" $port "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      TAKEN+="$port "
      echo "$port"
      return
    fi
  done
}

# Waits (a minute at most) until `GET /healthz` on the port answers 200: nats-server's once
# JetStream is ready, a gateway's once it serves.
wait_healthy() {
  local port=$1 what=$2 status
  for _ in $(seq 1 600); do
    status=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && head -n1 <&3) 2>/dev/null || true)
    if [[ "$status" == *" 200 "* ]]; then return; fi
    sleep 0.1
  done
  echo "error: $what did not become healthy; the logs: $WORK" >&2
  exit 1
}

NATS_PORTS=() ROUTE_PORTS=() MONITOR_PORTS=()
for i in 1 2 3; do
  NATS_PORTS+=("$(free_port)") ROUTE_PORTS+=("$(free_port)") MONITOR_PORTS+=("$(free_port)")
done
ROUTES=""
for port in "${ROUTE_PORTS[@]}"; do ROUTES+="${ROUTES:+,}nats://127.0.0.1:$port"; done
NATS_URLS=""
for port in "${NATS_PORTS[@]}"; do NATS_URLS+="${NATS_URLS:+,}nats://127.0.0.1:$port"; done

for i in 0 1 2; do
  mkdir -p "$WORK/nats$((i + 1))"
  nats-server -a 127.0.0.1 -p "${NATS_PORTS[$i]}" -m "${MONITOR_PORTS[$i]}" \
    -js -sd "$WORK/nats$((i + 1))" \
    --server_name "n$((i + 1))" --cluster_name userstream \
    --cluster "nats://127.0.0.1:${ROUTE_PORTS[$i]}" --routes "$ROUTES" \
    >"$WORK/nats$((i + 1)).log" 2>&1 &
  PIDS+=($!)
done
for i in 0 1 2; do wait_healthy "${MONITOR_PORTS[$i]}" "nats-server n$((i + 1))"; done

PUBLIC=() ADMIN=()
for i in 0 1 2; do
  PUBLIC+=("$(free_port)")
  ADMIN+=("$(free_port)")
  # Every gateway knows every NATS server; the bucket is kept on all three. A gateway told to
  # stop (SIGTERM) drains for up to 5 s, so that its clients move to another one first.
  USERSTREAM_NATS__KV_REPLICAS=3 USERSTREAM_SHUTDOWN_DRAIN_MS=5000 \
    "$BIN" serve --nats "$NATS_URLS" \
    --listen "127.0.0.1:${PUBLIC[$i]}" --admin-listen "127.0.0.1:${ADMIN[$i]}" \
    --data-dir "$WORK/gateway$((i + 1))" >"$WORK/gateway$((i + 1)).log" 2>&1 &
  PIDS+=($!)
done
for i in 0 1 2; do wait_healthy "${ADMIN[$i]}" "gateway $((i + 1))"; done

URLS=""
for port in "${PUBLIC[@]}"; do URLS+="${URLS:+,}http://127.0.0.1:$port"; done
cat <<EOF
userstream cluster: 3 NATS servers (JetStream, replicated bucket) and 3 gateways on loopback

  NATS        $NATS_URLS  (pids ${PIDS[0]} ${PIDS[1]} ${PIDS[2]})
  gateway 1   public http://127.0.0.1:${PUBLIC[0]}  admin http://127.0.0.1:${ADMIN[0]}  (pid ${PIDS[3]})
  gateway 2   public http://127.0.0.1:${PUBLIC[1]}  admin http://127.0.0.1:${ADMIN[1]}  (pid ${PIDS[4]})
  gateway 3   public http://127.0.0.1:${PUBLIC[2]}  admin http://127.0.0.1:${ADMIN[2]}  (pid ${PIDS[5]})
  logs        $WORK

Try it. In another terminal, make a key through gateway 1 (it works on all of them), and
export what it prints (a new cluster starts its uids afresh):

  export USERSTREAM_ADMIN_URL=http://127.0.0.1:${ADMIN[0]}
  userstream keys create --label cluster
  export API_KEY=<its apiKey> UID_=<its uid>

In a third terminal, with API_KEY exported there too, follow the account through whichever
gateway answers:

  userstream tail --api-key "\$API_KEY" --cross --url $URLS

and publish through gateway 3, back in the second terminal:

  USERSTREAM_ADMIN_URL=http://127.0.0.1:${ADMIN[2]} userstream publish --uid "\$UID_" \\
    '{"e":"balanceUpdate","a":"BTC","d":"1.00000000","T":1573200697068}'
  # {"delivery":"persisted","published":1}: stored in the cluster's event stream

Then stop the gateway tail is on (kill -TERM: it drains, and tail moves without a gap), or
kill -9 it (tail moves to another gateway and resumes where it was: "resumed N events"), or
kill -9 a NATS server (tail carries on; events published meanwhile still arrive, once).
Ctrl-C here stops everything.
EOF
wait
