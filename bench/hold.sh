#!/usr/bin/env bash
# Many live tunnels through one mtop-server and one climber (issue 13): ping-pong latency on an
# extra tunnel while 10 tunnels are held, then while N are held, per transport. Loopback only;
# every process is started and stopped by PID (bench/lib.sh). Prints one line per transport:
#   transport=quic held=9000 failures=0 setup_s=.. p50_10_us=.. p50_n_us=.. ratio=..
#             rss_kib_client=.. rss_kib_server=.. fds_client=.. fds_server=.. climber_udp_sockets=..
#
#   bench/hold.sh [--transports tls,quic] [--tunnels N] [--rounds N] [--build-dir DIR] [--keep]
#     --tunnels N      tunnels to hold (default 9000; each costs ~2 descriptors per process)
#     --rounds N       timed ping-pong round trips (default 5000)
#     --build-dir DIR  where mtop-server, climber and loadgen are (default build)
#   PERF_DIR=DIR: perf record -g both proxies during the ping-pong with N tunnels held.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

TRANSPORTS=tls,quic
TUNNELS=9000
ROUNDS=5000
BUILD_DIR=build
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --transports) TRANSPORTS=$2; shift ;;
    --tunnels) TUNNELS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
WORK=
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"

SERVER_BIN=$ROOT/$BUILD_DIR/apps/server/mtop-server
CLIMBER_BIN=$ROOT/$BUILD_DIR/apps/climber/climber
LOADGEN=$ROOT/$BUILD_DIR/bench/loadgen
for b in "$SERVER_BIN" "$CLIMBER_BIN" "$LOADGEN"; do [ -x "$b" ] || die "missing $b (build first)"; done

WORK=$(mktemp -d /tmp/mtop-hold.XXXXXX)
CERT=$WORK/cert.pem
KEY=$WORK/key.pem
"$SERVER_BIN" gen-cert --name localhost --ip 127.0.0.1 --cert "$CERT" --key "$KEY" >/dev/null
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
HASH=$(printf '%s\n' "$PASSWORD" | "$SERVER_BIN" passwd --scheme pbkdf2)
printf '{ "users": [ { "username": "bench", "password": "%s" } ] }\n' "$HASH" >"$WORK/users.json"

start "$WORK/echo.log" "$LOADGEN" echo --listen 127.0.0.1:0
ECHO_PID=$LAST_PID
wait_line "$WORK/echo.log" "echo listening=" "$ECHO_PID" 10 || die "echo target did not start"
ECHO_PORT=$(sed -n 's/.*listening=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/echo.log")
SETUP_PIDS=()

fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# hold COUNT OUT : loadgen idle with COUNT tunnels until "idle ready"; sets HOLD_PID.
hold() {
  local count=$1 out=$2
  "$LOADGEN" idle --to "127.0.0.1:$FWD" --count "$count" --concurrency 256 --hold-seconds 900 \
    >"$out" 2>&1 &
  HOLD_PID=$!
  PIDS+=("$HOLD_PID")
  wait_line "$out" "idle ready" "$HOLD_PID" 600 || die "idle $count: $(cat "$out")"
}

pingpong_p50() {
  local line
  line=$(timeout 300 "$LOADGEN" pingpong --to "127.0.0.1:$FWD" --rounds "$ROUNDS") || true
  log "pingpong: $line"
  field "$line" p50_us
}

run_transport() {
  local t=$1 sport
  sport=$(free_port); FWD=$(free_port)
  cat >"$WORK/server-$t.json" <<JSON
{ "listen": ["127.0.0.1:$sport"], "cert": "$CERT", "key": "$KEY", "quic": true,
  "users": { "type": "file", "path": "$WORK/users.json" },
  "allow_targets": ["127.0.0.1/32"], "log_level": "warn", "timeouts": { "drain": 1 } }
JSON
  cat >"$WORK/climber-$t.json" <<JSON
{ "server": { "host": "127.0.0.1", "port": $sport, "username": "bench", "password": "$PASSWORD",
              "sni": "localhost", "ca": "$CERT", "transport": "$t" },
  "forward": ["127.0.0.1:$FWD:127.0.0.1:$ECHO_PORT"], "log_level": "warn" }
JSON
  chmod 600 "$WORK/climber-$t.json"
  start "$WORK/server-$t.log" "$SERVER_BIN" --config "$WORK/server-$t.json"
  local spid=$LAST_PID
  wait_port "$sport" "$spid" "$WORK/server-$t.log"
  start "$WORK/climber-$t.log" "$CLIMBER_BIN" --config "$WORK/climber-$t.json"
  local cpid=$LAST_PID
  wait_port "$FWD" "$cpid" "$WORK/climber-$t.log"

  hold 10 "$WORK/$t.hold10.out"
  local p10
  p10=$(pingpong_p50)
  stop_pid "$HOLD_PID"

  hold "$TUNNELS" "$WORK/$t.holdn.out"
  sleep 2  # let both proxies finish what the last set-ups started
  local ready pn rc rs fc fs conns
  ready=$(grep 'idle ready' "$WORK/$t.holdn.out")
  local perf_pids=()
  if [ -n "${PERF_DIR:-}" ]; then  # profile both proxies during the loaded ping-pong
    mkdir -p "$PERF_DIR"
    for p in "climber:$cpid" "server:$spid"; do
      perf record -g -e cpu-clock -p "${p#*:}" -o "$PERF_DIR/$t-${p%%:*}.data" \
        >/dev/null 2>&1 &
      perf_pids+=("$!")
    done
    sleep 1
  fi
  pn=$(pingpong_p50)
  for p in "${perf_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rc=$(rss_kib "$cpid"); rs=$(rss_kib "$spid"); fc=$(fds "$cpid"); fs=$(fds "$spid")
  # QUIC connections: the climber's UDP sockets (one per pooled connection).
  conns=$(ss -uanp 2>/dev/null | grep -c "pid=$cpid," || true)
  stop_pid "$HOLD_PID"
  echo "transport=$t held=$(field "$ready" established) failures=$(field "$ready" failures)" \
    "setup_s=$(field "$ready" setup_seconds) p50_10_us=$p10 p50_n_us=$pn" \
    "ratio=$(calc "$pn / $p10" 2) rss_kib_client=$rc rss_kib_server=$rs fds_client=$fc" \
    "fds_server=$fs climber_udp_sockets=$conns errors=$(field "$ready" errors)"
  grep -v '^$' "$WORK/climber-$t.log" | tail -n 3 >&2 || true
  stop_setup
}

IFS=, read -r -a LIST <<<"$TRANSPORTS"
for t in "${LIST[@]}"; do run_transport "$t"; done
