#!/usr/bin/env bash
# MTop benchmarks on loopback: the same chain (client-side proxy -> TLS -> server-side proxy ->
# target) built four ways, measured side by side:
#   mtop-tls   climber port-forward -> mtop-server, TLS transport
#   stunnel    stunnel4 client -> stunnel4 server, TLS 1.3, same certificate
#   trojan     trojan client (run_type forward) -> trojan server
#   mtop-quic  climber with "transport": "quic" -> mtop-server
#   direct     no proxy at all (the floor of the loopback, the load generator and the targets)
# Targets: iperf3 -s (throughput, CPU s/GB) and `loadgen echo` (tunnels/s, ping-pong, time to
# a usable tunnel, memory per idle tunnel). Prints a Markdown table and appends it, with the
# command, date and machine, to bench/RESULTS.md.
#
#   bench/run.sh [options]
#     --sets LIST        comma-separated subset of direct,mtop-tls,stunnel,trojan,mtop-quic
#                        (default: all)
#     --quic             QUIC report (issue 4): mtop-tls, mtop-quic and ngtcp2's gtlsserver /
#                        gtlsclient pair as the ceiling (same as bench/run_quic.sh)
#     --seconds N        iperf3 duration (default 10)
#     --rate-seconds N   tunnels/s duration (default 10)
#     --idle N           idle tunnels for the memory figure (default 5000)
#     --quic-idle N      the same over QUIC (default 250, the figure the first runs used; past
#                        256 streams per connection the climber opens more connections)
#     --rounds N         ping-pong round trips (default 20000)
#     --build-dir DIR    build folder (default build-bench)
#     --no-build         use the binaries already in the build folder
#     --no-append        print the table only; leave bench/RESULTS.md alone
#     --keep             keep the work folder (configs, logs) for inspection
#     --measure LIST     comma-separated subset of connlat,idle,pingpong,rate,throughput
#                        (default: all)
#   PERF_DIR=DIR         perf record -g -e cpu-clock both proxies during iperf3 (DIR/<set>-*.data)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
COMMAND="bench/run.sh $*"

SETS="direct,mtop-tls,stunnel,trojan,mtop-quic"
QUIC_MODE=0
SECS=10
RATE_SECS=10
IDLE=5000
QUIC_IDLE=250
ROUNDS=20000
CONNLAT=300
BUILD_DIR=build-bench
DO_BUILD=1
APPEND=1
KEEP=0
GTLS_FILE_MIB=512
MEASURE="connlat,idle,pingpong,rate,throughput"

while [ $# -gt 0 ]; do
  case "$1" in
    --sets) SETS=$2; shift ;;
    --quic) QUIC_MODE=1; SETS="direct,mtop-tls,mtop-quic" ;;
    --seconds) SECS=$2; shift ;;
    --rate-seconds) RATE_SECS=$2; shift ;;
    --idle) IDLE=$2; shift ;;
    --quic-idle) QUIC_IDLE=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --no-build) DO_BUILD=0 ;;
    --no-append) APPEND=0 ;;
    --keep) KEEP=1 ;;
    --measure) MEASURE=$2; shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for n in "$SECS" "$RATE_SECS" "$IDLE" "$QUIC_IDLE" "$ROUNDS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "not a positive whole number: $n" >&2; exit 2; }
done

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
WORK=
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)"  # 5,000 idle tunnels are 10,000+ descriptors per proxy
MACHINE=$(machine_line)

[ "$DO_BUILD" = 1 ] && build "$ROOT" "$ROOT/$BUILD_DIR"
SERVER_BIN=$ROOT/$BUILD_DIR/apps/server/mtop-server
CLIMBER_BIN=$ROOT/$BUILD_DIR/apps/climber/climber
LOADGEN=$ROOT/$BUILD_DIR/bench/loadgen
for b in "$SERVER_BIN" "$CLIMBER_BIN" "$LOADGEN"; do [ -x "$b" ] || die "missing $b (build first)"; done
need() { command -v "$1" >/dev/null || die "$1 is not installed (scripts/deps.sh --bench)"; }
need iperf3
[[ ",$SETS," == *,stunnel,* ]] && need stunnel4
[[ ",$SETS," == *,trojan,* ]] && need trojan
[ "$QUIC_MODE" = 1 ] && { need gtlsserver; need gtlsclient; }

WORK=$(mktemp -d /tmp/mtop-bench.XXXXXX)
log "work folder $WORK"
CERT=$WORK/cert.pem
KEY=$WORK/key.pem
"$SERVER_BIN" gen-cert --name localhost --ip 127.0.0.1 --cert "$CERT" --key "$KEY" >/dev/null
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
HASH=$(printf '%s\n' "$PASSWORD" | "$SERVER_BIN" passwd --scheme pbkdf2)
printf '{ "users": [ { "username": "bench", "password": "%s" } ] }\n' "$HASH" >"$WORK/users.json"

# The targets, shared by every chain.
IPERF_PORT=$(free_port)
start "$WORK/iperf3.log" iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT"
wait_port "$IPERF_PORT" "$LAST_PID" "$WORK/iperf3.log"
start "$WORK/echo.log" "$LOADGEN" echo --listen 127.0.0.1:0
wait_line "$WORK/echo.log" "echo listening=" "$LAST_PID" 10 || die "echo target did not start"
ECHO_PORT=$(sed -n 's/.*listening=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/echo.log")
SETUP_PIDS=()  # the targets stay up across chains

# ---- the four chains -------------------------------------------------------------------
# Each sets C_IPERF (local port towards iperf3), C_ECHO (towards the echo target), and the
# PIDs whose CPU and memory are measured: CPID_IPERF / CPID_ECHO (client side) and SPID.

setup_direct() {
  C_IPERF=$IPERF_PORT; C_ECHO=$ECHO_PORT
}

setup_mtop() {  # setup_mtop tls|quic
  local transport=$1 sport
  sport=$(free_port); C_IPERF=$(free_port); C_ECHO=$(free_port)
  cat >"$WORK/server-$transport.json" <<JSON
{ "listen": ["127.0.0.1:$sport"], "cert": "$CERT", "key": "$KEY", "quic": true,
  "users": { "type": "file", "path": "$WORK/users.json" },
  "allow_targets": ["127.0.0.1/32"], "log_level": "warn", "timeouts": { "drain": 1 } }
JSON
  cat >"$WORK/climber-$transport.json" <<JSON
{ "server": { "host": "127.0.0.1", "port": $sport, "username": "bench", "password": "$PASSWORD",
              "sni": "localhost", "ca": "$CERT", "transport": "$transport" },
  "forward": ["127.0.0.1:$C_IPERF:127.0.0.1:$IPERF_PORT", "127.0.0.1:$C_ECHO:127.0.0.1:$ECHO_PORT"],
  "log_level": "warn" }
JSON
  chmod 600 "$WORK/climber-$transport.json"
  start "$WORK/server-$transport.log" "$SERVER_BIN" --config "$WORK/server-$transport.json"
  SPID=$LAST_PID
  wait_port "$sport" "$SPID" "$WORK/server-$transport.log"
  start "$WORK/climber-$transport.log" "$CLIMBER_BIN" --config "$WORK/climber-$transport.json"
  CPID_IPERF=$LAST_PID; CPID_ECHO=$LAST_PID
  wait_port "$C_ECHO" "$CPID_ECHO" "$WORK/climber-$transport.log"
}

setup_stunnel() {
  local s_iperf s_echo
  s_iperf=$(free_port); s_echo=$(free_port); C_IPERF=$(free_port); C_ECHO=$(free_port)
  local common="sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1"
  cat >"$WORK/stunnel-server.conf" <<CONF
foreground = yes
pid =
debug = 4
$common
cert = $CERT
key = $KEY
[iperf]
accept = 127.0.0.1:$s_iperf
connect = 127.0.0.1:$IPERF_PORT
[echo]
accept = 127.0.0.1:$s_echo
connect = 127.0.0.1:$ECHO_PORT
CONF
  cat >"$WORK/stunnel-client.conf" <<CONF
foreground = yes
pid =
debug = 4
$common
client = yes
verifyPeer = yes
CAfile = $CERT
checkHost = localhost
sni = localhost
[iperf]
accept = 127.0.0.1:$C_IPERF
connect = 127.0.0.1:$s_iperf
[echo]
accept = 127.0.0.1:$C_ECHO
connect = 127.0.0.1:$s_echo
CONF
  start "$WORK/stunnel-server.log" stunnel4 "$WORK/stunnel-server.conf"
  SPID=$LAST_PID
  wait_port "$s_echo" "$SPID" "$WORK/stunnel-server.log"
  start "$WORK/stunnel-client.log" stunnel4 "$WORK/stunnel-client.conf"
  CPID_IPERF=$LAST_PID; CPID_ECHO=$LAST_PID
  wait_port "$C_ECHO" "$CPID_ECHO" "$WORK/stunnel-client.log"
}

# Trojan's forward mode has one target per client process, so there are two clients (one per
# target); the figures for a test come from the client that carried it.
setup_trojan() {
  local sport
  sport=$(free_port); C_IPERF=$(free_port); C_ECHO=$(free_port)
  local ssl_common='"cipher_tls13": "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384",
    "reuse_session": true, "session_ticket": false, "curves": ""'
  local tcp='"tcp": { "no_delay": true, "keep_alive": true, "reuse_port": false, "fast_open": false, "fast_open_qlen": 20 }'
  cat >"$WORK/trojan-server.json" <<JSON
{ "run_type": "server", "local_addr": "127.0.0.1", "local_port": $sport,
  "remote_addr": "127.0.0.1", "remote_port": $ECHO_PORT,
  "password": ["$PASSWORD"], "log_level": 2,
  "ssl": { "cert": "$CERT", "key": "$KEY", "key_password": "", "prefer_server_cipher": true,
    "alpn": ["http/1.1"], "session_timeout": 600, "plain_http_response": "", "dhparam": "",
    $ssl_common },
  $tcp }
JSON
  local target_port name
  for name in iperf echo; do
    if [ "$name" = iperf ]; then target_port=$IPERF_PORT; lport=$C_IPERF; else target_port=$ECHO_PORT; lport=$C_ECHO; fi
    cat >"$WORK/trojan-$name.json" <<JSON
{ "run_type": "forward", "local_addr": "127.0.0.1", "local_port": $lport,
  "remote_addr": "127.0.0.1", "remote_port": $sport,
  "target_addr": "127.0.0.1", "target_port": $target_port,
  "password": ["$PASSWORD"], "udp_timeout": 60, "log_level": 2,
  "ssl": { "verify": true, "verify_hostname": true, "cert": "$CERT", "sni": "localhost",
    "alpn": ["http/1.1"], $ssl_common },
  $tcp }
JSON
  done
  start "$WORK/trojan-server.log" trojan -c "$WORK/trojan-server.json"
  SPID=$LAST_PID
  wait_port "$sport" "$SPID" "$WORK/trojan-server.log"
  start "$WORK/trojan-iperf.log" trojan -c "$WORK/trojan-iperf.json"
  CPID_IPERF=$LAST_PID
  wait_port "$C_IPERF" "$CPID_IPERF" "$WORK/trojan-iperf.log"
  start "$WORK/trojan-echo.log" trojan -c "$WORK/trojan-echo.json"
  CPID_ECHO=$LAST_PID
  wait_port "$C_ECHO" "$CPID_ECHO" "$WORK/trojan-echo.log"
}

# ---- measurements ----------------------------------------------------------------------
declare -A R  # R[set,metric]

# Time to a usable tunnel, one at a time; also warms every chain up the same way.
measure_connlat() {
  local set=$1 line
  line=$(timeout 300 "$LOADGEN" connlat --to "127.0.0.1:$C_ECHO" --count "$CONNLAT") || true
  log "$set connlat: $line"
  R[$set,open_p50]=$(field "$line" p50_us)
  R[$set,open_p99]=$(field "$line" p99_us)
}

measure_idle() {
  local set=$1 out=$WORK/$1.idle.out c0 s0 c1 s1 n lpid count=$IDLE
  [ "$set" = mtop-quic ] && count=$QUIC_IDLE
  c0=$(rss_kib "$CPID_ECHO"); s0=$(rss_kib "$SPID")
  "$LOADGEN" idle --to "127.0.0.1:$C_ECHO" --count "$count" --hold-seconds 600 >"$out" 2>&1 &
  lpid=$!; PIDS+=("$lpid")
  if wait_line "$out" "idle ready" "$lpid" 300; then
    sleep 2  # let both proxies finish any work the last set-ups started
    n=$(field "$(grep 'idle ready' "$out")" established)
    c1=$(rss_kib "$CPID_ECHO"); s1=$(rss_kib "$SPID")
    if [ "${n:-0}" -gt 0 ]; then
      R[$set,idle_c]=$(calc "($c1 - $c0) / $n" 1)
      R[$set,idle_s]=$(calc "($s1 - $s0) / $n" 1)
    fi
    R[$set,idle_n]=$n
  fi
  log "$set idle: $(tr '\n' ' ' <"$out") rss client $c0 -> ${c1:-?} KiB, server $s0 -> ${s1:-?} KiB"
  kill -USR1 "$lpid" 2>/dev/null || true
  stop_pid "$lpid"
}

measure_pingpong() {
  local set=$1 line
  line=$(timeout 300 "$LOADGEN" pingpong --to "127.0.0.1:$C_ECHO" --rounds "$ROUNDS") || true
  log "$set pingpong: $line"
  R[$set,pp_p50]=$(field "$line" p50_us)
  R[$set,pp_p99]=$(field "$line" p99_us)
}

# Tunnels/s depends on what else runs on the machine; CPU µs per tunnel much less so.
measure_rate() {
  local set=$1 line c0=0 s0=0 c1 s1 ok
  if [ "$set" != direct ]; then c0=$(cpu_seconds "$CPID_ECHO"); s0=$(cpu_seconds "$SPID"); fi
  line=$(timeout $((RATE_SECS + 60)) "$LOADGEN" rate --to "127.0.0.1:$C_ECHO" --seconds "$RATE_SECS" \
           --concurrency 32) || true
  log "$set rate: $line"
  R[$set,rate]=$(field "$line" per_second)
  R[$set,rate_fail]=$(field "$line" failures)
  ok=$(field "$line" ok)
  if [ "$set" != direct ] && [ "${ok:-0}" -gt 0 ]; then
    c1=$(cpu_seconds "$CPID_ECHO"); s1=$(cpu_seconds "$SPID")
    R[$set,tun_c]=$(calc "($c1 - $c0) * 1e6 / $ok" 0)
    R[$set,tun_s]=$(calc "($s1 - $s0) * 1e6 / $ok" 0)
  fi
  sleep 2  # let the proxies close what the last tunnels left
}

wants() { [[ ",$MEASURE," == *,$1,* ]]; }

measure_throughput() {
  local set=$1 json=$WORK/$1.iperf.json c0=0 s0=0 c1=0 s1=0 bytes bps perf_pids=() ok=0
  if [ "$set" != direct ]; then c0=$(cpu_seconds "$CPID_IPERF"); s0=$(cpu_seconds "$SPID"); fi
  if [ -n "${PERF_DIR:-}" ] && [ "$set" != direct ]; then
    mkdir -p "$PERF_DIR"
    perf record -g -e cpu-clock -p "$CPID_IPERF" -o "$PERF_DIR/$set-client.data" >/dev/null 2>&1 &
    perf_pids+=("$!")
    perf record -g -e cpu-clock -p "$SPID" -o "$PERF_DIR/$set-server.data" >/dev/null 2>&1 &
    perf_pids+=("$!")
  fi
  timeout $((SECS + 60)) iperf3 -c 127.0.0.1 -p "$C_IPERF" -t "$SECS" -J >"$json" 2>&1 && ok=1
  for p in "${perf_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ "$ok" = 1 ]; then
    read -r bytes bps < <(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))["end"]["sum_received"]
print(s["bytes"], s["bits_per_second"])' "$json")
    R[$set,gbps]=$(calc "$bps / 1e9" 2)
    [ "$set" = direct ] && return 0  # no proxy processes to measure
    c1=$(cpu_seconds "$CPID_IPERF"); s1=$(cpu_seconds "$SPID")
    R[$set,cpu_c]=$(calc "($c1 - $c0) / ($bytes / 1e9)" 2)
    R[$set,cpu_s]=$(calc "($s1 - $s0) / ($bytes / 1e9)" 2)
    R[$set,cpu_sum]=$(calc "($c1 - $c0 + $s1 - $s0) / ($bytes / 1e9)" 2)
    log "$set throughput: ${R[$set,gbps]} Gbit/s, $bytes bytes; CPU client $c0 -> $c1 s, server $s0 -> $s1 s"
  else
    log "$set throughput: iperf3 failed: $(tail -n 3 "$json" | tr '\n' ' ')"
  fi
}

# ngtcp2's own HTTP/3 example pair on GnuTLS moving one large file: the stack's ceiling.
measure_gtls() {
  local port www=$WORK/www s0 s1 tfile=$WORK/gtls.time size=$((GTLS_FILE_MIB * 1024 * 1024)) dl
  mkdir -p "$www"
  # The download lands in memory (tmpfs) when it can, so the client's figure is not disk time.
  dl=$(mktemp -d /dev/shm/mtop-bench-dl.XXXXXX 2>/dev/null || mktemp -d "$WORK/dl.XXXXXX")
  CLEAN_PATHS+=("$dl")
  head -c "$size" /dev/urandom >"$www/big"
  port=$(free_port)
  start "$WORK/gtlsserver.log" gtlsserver -q -d "$www" 127.0.0.1 "$port" "$KEY" "$CERT"
  local spid=$LAST_PID
  sleep 0.5
  kill -0 "$spid" 2>/dev/null || { cat "$WORK/gtlsserver.log" >&2; die "gtlsserver exited"; }
  s0=$(cpu_seconds "$spid")
  if timeout 300 /usr/bin/time -f '%e %U %S' -o "$tfile" gtlsclient -q --exit-on-all-streams-close \
       --download "$dl" 127.0.0.1 "$port" "https://localhost:$port/big" >"$WORK/gtlsclient.log" 2>&1; then
    s1=$(cpu_seconds "$spid")
    local got elapsed cu cs
    got=$(stat -c %s "$dl/big" 2>/dev/null || echo 0)
    read -r elapsed cu cs <"$tfile"
    if [ "$got" = "$size" ]; then
      R[gtls,gbps]=$(calc "$size * 8 / $elapsed / 1e9" 2)
      R[gtls,cpu_c]=$(calc "($cu + $cs) / ($size / 1e9)" 2)
      R[gtls,cpu_s]=$(calc "($s1 - $s0) / ($size / 1e9)" 2)
      R[gtls,cpu_sum]=$(calc "($cu + $cs + $s1 - $s0) / ($size / 1e9)" 2)
    fi
    log "gtls: $got of $size bytes in $elapsed s; client CPU $cu + $cs s; server $s0 -> $s1 s"
  else
    log "gtls: gtlsclient failed: $(tail -n 3 "$WORK/gtlsclient.log" | tr '\n' ' ')"
  fi
  rm -rf "$dl" "$www"
  stop_setup
}

for set in ${SETS//,/ }; do
  log "chain $set"
  case "$set" in
    mtop-tls) setup_mtop tls ;;
    mtop-quic) setup_mtop quic ;;
    stunnel) setup_stunnel ;;
    trojan) setup_trojan ;;
    direct) setup_direct ;;
    *) die "unknown set: $set" ;;
  esac
  wants connlat && measure_connlat "$set"
  [ "$set" = direct ] || { wants idle && measure_idle "$set"; }
  wants pingpong && measure_pingpong "$set"
  wants rate && measure_rate "$set"
  wants throughput && measure_throughput "$set"
  stop_setup
done
[ "$QUIC_MODE" = 1 ] && measure_gtls

# ---- report ----------------------------------------------------------------------------
v() { local x=${R[$1]:-}; printf '%s' "${x:-—}"; }
table() {
  echo "| chain | Gbit/s | CPU s/GB client | CPU s/GB server | CPU s/GB sum | tunnels/s (failed) | CPU µs per tunnel client / server | ping-pong p50 / p99 µs | connect→echo p50 / p99 µs | KiB per idle tunnel client / server (of N) |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for set in ${SETS//,/ }; do
    echo "| $set | $(v "$set,gbps") | $(v "$set,cpu_c") | $(v "$set,cpu_s") | $(v "$set,cpu_sum") | $(v "$set,rate") ($(v "$set,rate_fail")) | $(v "$set,tun_c") / $(v "$set,tun_s") | $(v "$set,pp_p50") / $(v "$set,pp_p99") | $(v "$set,open_p50") / $(v "$set,open_p99") | $(v "$set,idle_c") / $(v "$set,idle_s") ($(v "$set,idle_n")) |"
  done
  if [ "$QUIC_MODE" = 1 ]; then
    echo "| gtlsclient→gtlsserver (${GTLS_FILE_MIB} MiB file, HTTP/3) | $(v gtls,gbps) | $(v gtls,cpu_c) | $(v gtls,cpu_s) | $(v gtls,cpu_sum) | | | | | |"
  fi
}
TABLE=$(table)
REPORT=$(cat <<TXT

### $(date -u '+%Y-%m-%d %H:%M UTC') — \`$COMMAND\`

Machine: $MACHINE. Build: Release, -O2 -g. $(stunnel4 -version 2>&1 | grep -m1 '^stunnel' || true); $(trojan -v 2>&1 | grep -m1 'trojan' || true); $(iperf3 --version | head -n 1).
Loads: iperf3 -t $SECS, one stream, client → server; tunnels/s: loadgen rate, 32 at once, 64 B echoed, ${RATE_SECS} s;
ping-pong: $ROUNDS × 64 B on one tunnel; connect→echo: $CONNLAT fresh tunnels one at a time; idle: $IDLE tunnels ($QUIC_IDLE over QUIC).
CPU s/GB = (utime + stime) of the process over the run / GB received by iperf3.

$TABLE
TXT
)
printf '%s\n' "$REPORT"
if [ "$APPEND" = 1 ]; then
  [ -f "$ROOT/bench/RESULTS.md" ] || printf '# Benchmark results\n\nAppended by bench/run.sh; analysis in the sections written by hand.\n' >"$ROOT/bench/RESULTS.md"
  # New runs go above the marker, so sections other benchmarks keep below it stay in one piece.
  REPORT="$REPORT" python3 - "$ROOT/bench/RESULTS.md" <<'PY'
import os, sys
path, report = sys.argv[1], os.environ["REPORT"] + "\n"
marker = "<!-- bench/run.sh inserts new runs above this line -->"
text = open(path, encoding="utf-8").read()
if marker in text:
    head, tail = text.split(marker, 1)
    text = head.rstrip("\n") + "\n" + report + "\n" + marker + tail
else:
    text += report
open(path, "w", encoding="utf-8").write(text)
PY
  log "appended to bench/RESULTS.md"
fi
