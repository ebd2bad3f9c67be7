# Shared by the scripts that start nats-server: sourced, not run.

need() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# nats-server from Debian's packages, when it is missing.
ensure_nats_server() {
  if ! need nats-server; then
    echo "installing nats-server (Debian package)" >&2
    as_root apt-get install -y nats-server >&2
  fi
}
