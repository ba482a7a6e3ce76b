#!/usr/bin/env bash
# Local development servers for distributed mode: nats-server (JetStream, plus
# WebSocket for edge frontends) and a single-node etcd, on loopback only.
#
#   scripts/dev_servers.sh start    # install if missing, start, wait until ready, print env
#   scripts/dev_servers.sh status   # ready or not, per server
#   scripts/dev_servers.sh stop     # stop what `start` started (by its pid files)
#
# Settings (env): NATS_PORT (4222), NATS_WS_PORT (4223), NATS_HTTP_PORT (8222, monitoring),
# ETCD_PORT (2379), ETCD_PEER_PORT (2380), SLUICE_DEV_DIR (data, logs, pids;
# default $TMPDIR/sluice-dev-servers).
# Installs the Debian packages nats-server and etcd-server with apt-get when missing
# (as root, or through sudo).
set -euo pipefail

NATS_PORT=${NATS_PORT:-4222}
NATS_WS_PORT=${NATS_WS_PORT:-4223}
NATS_HTTP_PORT=${NATS_HTTP_PORT:-8222}
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
DIR=${SLUICE_DEV_DIR:-${TMPDIR:-/tmp}/sluice-dev-servers}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-20}

log() { printf '%s\n' "$*" >&2; }
die() { log "dev_servers: $*"; exit 1; }

find_bin() { # name → path (Debian puts nats-server in /usr/sbin)
  command -v "$1" 2>/dev/null && return 0
  for d in /usr/sbin /usr/bin /usr/local/bin; do [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }; done
  return 1
}

install_missing() {
  local need=()
  find_bin nats-server >/dev/null || need+=(nats-server)
  find_bin etcd >/dev/null || need+=(etcd-server)
  [ ${#need[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get: install them yourself"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "missing ${need[*]}: run as root or install them yourself"
    sudo=(sudo)
  fi
  log "installing Debian packages: ${need[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# http_ok PORT PATH PATTERN: GET over bash's /dev/tcp (no curl needed); true when the body matches.
http_ok() {
  local reply
  reply=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    timeout 2 cat <&3
  ) || return 1
  grep -q "$3" <<<"$reply"
}
nats_ready() { http_ok "$NATS_HTTP_PORT" "/healthz?js-enabled-only=true" '"status":"ok"'; }
etcd_ready() { http_ok "$ETCD_PORT" /health '"health":"true"'; }

alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

wait_ready() { # name check
  local deadline=$((SECONDS + READY_TIMEOUT_S))
  until "$2"; do
    alive "$1" || { tail -n 20 "$DIR/$1.log" >&2; die "$1 exited; log: $DIR/$1.log"; }
    [ $SECONDS -lt $deadline ] || die "$1 not ready after ${READY_TIMEOUT_S}s; log: $DIR/$1.log"
    sleep 0.1
  done
}

start() {
  install_missing
  mkdir -p "$DIR"
  if alive nats; then log "nats-server already running (pid $(cat "$DIR/nats.pid"))"; else
    cat >"$DIR/nats.conf" <<CONF
listen: "127.0.0.1:$NATS_PORT"
http: "127.0.0.1:$NATS_HTTP_PORT"
jetstream { store_dir: "$DIR/nats-js" }
websocket { listen: "127.0.0.1:$NATS_WS_PORT", no_tls: true }
CONF
    nohup "$(find_bin nats-server)" -c "$DIR/nats.conf" >"$DIR/nats.log" 2>&1 &
    echo $! >"$DIR/nats.pid"
  fi
  if alive etcd; then log "etcd already running (pid $(cat "$DIR/etcd.pid"))"; else
    local client="http://127.0.0.1:$ETCD_PORT" peer="http://127.0.0.1:$ETCD_PEER_PORT"
    nohup "$(find_bin etcd)" --name=sluice-dev --data-dir="$DIR/etcd-data" \
      --listen-client-urls="$client" --advertise-client-urls="$client" \
      --listen-peer-urls="$peer" --initial-advertise-peer-urls="$peer" \
      --initial-cluster="sluice-dev=$peer" --heartbeat-interval=20 --election-timeout=100 \
      --logger=zap --log-level=warn >"$DIR/etcd.log" 2>&1 &
    echo $! >"$DIR/etcd.pid"
  fi
  wait_ready nats nats_ready
  wait_ready etcd etcd_ready
  log "ready: nats-server (JetStream, WebSocket) and etcd; logs and data in $DIR"
  cat <<ENV
export NATS_SERVER=nats://127.0.0.1:$NATS_PORT
# WebSocket (edge frontends): NATS_SERVER=ws://127.0.0.1:$NATS_WS_PORT
export ETCD_ENDPOINTS=http://127.0.0.1:$ETCD_PORT
ENV
}

stop_one() {
  alive "$1" || { rm -f "$DIR/$1.pid"; return 0; }
  local pid
  pid=$(cat "$DIR/$1.pid")
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$DIR/$1.pid"
  log "stopped $1"
}

status() {
  local rc=0
  if nats_ready; then log "nats-server: ready on 127.0.0.1:$NATS_PORT (ws $NATS_WS_PORT)"; else log "nats-server: not ready"; rc=1; fi
  if etcd_ready; then log "etcd: ready on 127.0.0.1:$ETCD_PORT"; else log "etcd: not ready"; rc=1; fi
  return $rc
}

case ${1:-} in
  start) start ;;
  stop) stop_one nats; stop_one etcd ;;
  status) status ;;
  *) log "usage: $0 start|status|stop"; exit 2 ;;
esac
