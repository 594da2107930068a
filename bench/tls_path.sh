#!/usr/bin/env bash
# The TLS data path on its own: one iperf3 stream through climber (port forward) -> mtop-server
# (TLS) and through a stunnel4 pair, upload and download (-R): Gbit/s, and CPU seconds and
# minor page faults per GB for each proxy process. Made for issue 13 (heap churn on the TLS
# path); the figures are in bench/TLS_PATH_NOTES.md. Compare chains only within one run.
#
#   bench/tls_path.sh [options]
#     --sets LIST      comma-separated subset of direct,mtop-tls,stunnel (default: all three)
#     --seconds N      iperf3 duration per direction (default 5)
#     --bin [NAME=]DIR folder holding mtop-server and climber (default build-bench/apps/*);
#                      repeat it (before=DIR --bin after=DIR) to compare builds in one run
#     --perf DIR       also `perf record` each proxy process during the upload into DIR
#                      (options from $PERF_RECORD_ARGS, default "-e cpu-clock -g")
#     --keep           keep the work folder
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SETS="direct,mtop-tls,stunnel"
SECS=5
BINS=()
PERF_DIR=
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sets) SETS=$2; shift ;;
    --seconds) SECS=$2; shift ;;
    --bin) BINS+=("$2"); shift ;;
    --perf) PERF_DIR=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#BINS[@]} -gt 0 ] || BINS=("mtop=$ROOT/build-bench/apps")

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
WORK=
trap cleanup EXIT
trap 'exit 130' INT TERM
command -v iperf3 >/dev/null || die "iperf3 is not installed (scripts/deps.sh --bench)"

# bin_of SPEC NAME : the path of binary NAME for a --bin spec (NAME=DIR or DIR).
bin_of() {
  local dir=${1#*=} name=$2
  # -f too: in a build tree apps/climber is the folder and apps/climber/climber the program.
  if [ -f "$dir/$name" ] && [ -x "$dir/$name" ]; then echo "$dir/$name"; return; fi
  case "$name" in
    mtop-server) echo "$dir/server/mtop-server" ;;
    climber) echo "$dir/climber/climber" ;;
  esac
}
label_of() { case "$1" in *=*) echo "${1%%=*}" ;; *) echo mtop ;; esac; }

# wait_listen PORT PID LOGFILE : like wait_port, but looks at the listening sockets instead of
# connecting: a probe through a forward would reach iperf3 -s, which serves one client at a
# time and fails the next test when that client vanishes.
wait_listen() {
  local port=$1 pid=$2 logfile=$3
  for _ in $(seq 200); do
    ss -Hltn "sport = :$port" | grep -q . && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "process $pid exited before listening on $port"; }
    sleep 0.1
  done
  die "nothing listens on $port after 20 s"
}

minflt() { awk '{ sub(/^.*\) /, ""); print $8 }' "/proc/$1/stat"; }

WORK=$(mktemp -d /tmp/mtop-tlspath.XXXXXX)
FIRST_SERVER=$(bin_of "${BINS[0]}" mtop-server)
[ -x "$FIRST_SERVER" ] || die "missing $FIRST_SERVER (build mtop-server and climber first)"
CERT=$WORK/cert.pem
KEY=$WORK/key.pem
"$FIRST_SERVER" gen-cert --name localhost --ip 127.0.0.1 --cert "$CERT" --key "$KEY" >/dev/null
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
HASH=$(printf '%s\n' "$PASSWORD" | "$FIRST_SERVER" passwd --scheme pbkdf2)
printf '{ "users": [ { "username": "bench", "password": "%s" } ] }\n' "$HASH" >"$WORK/users.json"

IPERF_PORT=$(free_port)
start "$WORK/iperf3.log" iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT"
wait_listen "$IPERF_PORT" "$LAST_PID" "$WORK/iperf3.log"
SETUP_PIDS=()

setup_mtop() {  # setup_mtop SPEC
  local server climber sport
  server=$(bin_of "$1" mtop-server); climber=$(bin_of "$1" climber)
  sport=$(free_port); C_PORT=$(free_port)
  cat >"$WORK/server.json" <<JSON
{ "listen": ["127.0.0.1:$sport"], "cert": "$CERT", "key": "$KEY",
  "users": { "type": "file", "path": "$WORK/users.json" },
  "allow_targets": ["127.0.0.1/32"], "log_level": "warn", "timeouts": { "drain": 1 } }
JSON
  cat >"$WORK/climber.json" <<JSON
{ "server": { "host": "127.0.0.1", "port": $sport, "username": "bench", "password": "$PASSWORD",
              "sni": "localhost", "ca": "$CERT", "transport": "tls" },
  "forward": ["127.0.0.1:$C_PORT:127.0.0.1:$IPERF_PORT"], "log_level": "warn" }
JSON
  chmod 600 "$WORK/climber.json"
  start "$WORK/server.log" "$server" --config "$WORK/server.json"
  SPID=$LAST_PID
  wait_port "$sport" "$SPID" "$WORK/server.log"
  start "$WORK/climber.log" "$climber" --config "$WORK/climber.json"
  CPID=$LAST_PID
  wait_listen "$C_PORT" "$CPID" "$WORK/climber.log"
}

setup_stunnel() {
  local sport
  sport=$(free_port); C_PORT=$(free_port)
  local common="foreground = yes
pid =
debug = 4
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1"
  printf '%s\ncert = %s\nkey = %s\n[iperf]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' \
    "$common" "$CERT" "$KEY" "$sport" "$IPERF_PORT" >"$WORK/stunnel-server.conf"
  printf '%s\nclient = yes\nverifyPeer = yes\nCAfile = %s\ncheckHost = localhost\nsni = localhost\n[iperf]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' \
    "$common" "$CERT" "$C_PORT" "$sport" >"$WORK/stunnel-client.conf"
  start "$WORK/stunnel-server.log" stunnel4 "$WORK/stunnel-server.conf"
  SPID=$LAST_PID
  wait_port "$sport" "$SPID" "$WORK/stunnel-server.log"
  start "$WORK/stunnel-client.log" stunnel4 "$WORK/stunnel-client.conf"
  CPID=$LAST_PID
  wait_listen "$C_PORT" "$CPID" "$WORK/stunnel-client.log"
}

# measure NAME DIRECTION(up|down) : one iperf3 run, one table row.
measure() {
  local name=$1 dir=$2 json=$WORK/$1.$2.json flag='' c0 s0 f0 g0 c1 s1 f1 g1 bytes bps perfs=()
  [ "$dir" = down ] && flag=-R
  if [ "$name" != direct ]; then
    c0=$(cpu_seconds "$CPID"); s0=$(cpu_seconds "$SPID"); f0=$(minflt "$CPID"); g0=$(minflt "$SPID")
    if [ -n "$PERF_DIR" ] && [ "$dir" = up ]; then
      mkdir -p "$PERF_DIR"
      local p
      for p in client:$CPID server:$SPID; do
        # shellcheck disable=SC2086
        perf record ${PERF_RECORD_ARGS:--e cpu-clock -g} -o "$PERF_DIR/$name.${p%%:*}.data" -p "${p#*:}" \
          -- sleep "$SECS" >/dev/null 2>&1 &
        perfs+=($!)
      done
    fi
  fi
  iperf3 -c 127.0.0.1 -p "$C_PORT" -t "$SECS" $flag -J >"$json" 2>&1 || { log "$name $dir: iperf3 failed"; return; }
  local pp
  for pp in "${perfs[@]}"; do wait "$pp" || true; done
  read -r bytes bps < <(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))["end"]["sum_received"]
print(s["bytes"], s["bits_per_second"])' "$json")
  local gb gbit
  gb=$(calc "$bytes / 1e9" 3); gbit=$(calc "$bps / 1e9" 2)
  if [ "$name" = direct ]; then
    printf '| %s | %s | %s | — | — | — | — |\n' "$name" "$dir" "$gbit"
    return
  fi
  c1=$(cpu_seconds "$CPID"); s1=$(cpu_seconds "$SPID"); f1=$(minflt "$CPID"); g1=$(minflt "$SPID")
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$dir" "$gbit" \
    "$(calc "($c1 - $c0) / $gb" 2)" "$(calc "($s1 - $s0) / $gb" 2)" \
    "$(calc "($f1 - $f0) / $gb" 0)" "$(calc "($g1 - $g0) / $gb" 0)"
}

echo "| chain | direction | Gbit/s | CPU s/GB client | CPU s/GB server | page faults/GB client | page faults/GB server |"
echo "|---|---|---|---|---|---|---|"
for set in ${SETS//,/ }; do
  case "$set" in
    direct) C_PORT=$IPERF_PORT; measure direct up; measure direct down ;;
    stunnel)
      command -v stunnel4 >/dev/null || die "stunnel4 is not installed (scripts/deps.sh --bench)"
      setup_stunnel; measure stunnel up; measure stunnel down; stop_setup ;;
    mtop-tls)
      for spec in "${BINS[@]}"; do
        setup_mtop "$spec"
        measure "mtop-tls ($(label_of "$spec"))" up
        measure "mtop-tls ($(label_of "$spec"))" down
        stop_setup
      done ;;
    *) die "unknown set: $set" ;;
  esac
done
