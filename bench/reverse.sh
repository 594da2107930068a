#!/usr/bin/env bash
# Reverse tunnels (issue 14): `climber -R` through mtop-server against `ssh -R` through an sshd
# of our own, side by side in one run on loopback. Each chain publishes two services that sit
# next to the client side (iperf3 -s and loadgen's echo target) on two public ports of the
# server side; the loads connect to those public ports as visitors:
#   visitor -> public port (mtop-server / sshd session) -> tunnel -> climber / ssh -> service
# Parts, each on freshly started chains (a heap that carried one load hides the next one's
# memory: bench/RESULTS.md, "Why the old benchmark missed the TLS regression"):
#   bulk     iperf3 at its defaults (-t 10, 128 KiB writes, visitor -> service), with -P 8, and
#            with -R (service -> visitor, as a published site mostly sends), ROUNDS rounds with the chains in turn; Gbit/s and CPU s per GB of each end
#            (server side: mtop-server / sshd listener, monitor and session; client side:
#            climber / ssh), from /proc/PID/stat deltas over the iperf3 run
#   idle     IDLE visitors held open (each echoed once, so carried end to end); KiB per idle
#            visitor = RSS delta of each side / visitors
#   latency  connect() -> first echoed byte of a fresh visitor, one at a time (loadgen connlat,
#            CONNECTS samples), p50 / p99, visitors 20 ms apart and back to back; the round
#            trip on an open visitor (loadgen pingpong) and the same with no tunnel, to count
#            the round trips a visitor's set-up adds
# Prints the tables and the ratios MTop / ssh with the issue-14 targets, and records them in
# bench/RESULTS.md (kind reverse-tls or reverse-quic, replacing the previous run of that kind).
#
# With --delay-ms D (or DELAY_MS=D in the environment) it measures set-up at a distance instead:
# bench/delay_relay.py holds every packet D ms each way between the climbers and mtop-server
# (TCP and UDP) and between ssh and sshd (this kernel has no netem). For D = 0 and then D, on
# fresh chains of MTop over TLS, MTop over QUIC and ssh -R (and "direct": the echo service
# behind a relay alone, the relay's own check), CONNECTS visitors one at a time (default 50,
# 20 + 10 x D ms apart so the TLS pool is refilled) time connect() -> first echoed byte; p50 and
# p90 as round trips to the climber, (time at D - time at 0) / (2 D). The data's own round trip
# is 1; the issue-14 target is a set-up of <= 1 round trip over QUIC. Records kind
# reverse-distance. About 3 min at D = 20.
#
#   bench/reverse.sh [options]
#     --transport tls|quic  the climber's transport (default tls). Over QUIC the script stops
#                           with a clear error when the server refuses reverse tunnels over
#                           QUIC, or when the climber carries them over TLS anyway (builds
#                           before QUIC reverse tunnels did so whatever "transport" said)
#     --rounds N            bulk rounds (default 3)
#     --seconds N           iperf3 -t (default 10, iperf3's own default)
#     --idle N              idle visitors (default 1000; over QUIC they are streams of the
#                           climber's one connection, so stay within the visitor streams a
#                           climber grants: 1,024 at most in the QUIC reverse design)
#     --connects N          connect -> first byte samples (default 500)
#     --parts LIST          comma-separated subset of bulk,idle,latency (default all)
#     --profile DIR         perf record -g of each end during round 1's bulk loads, reports and
#                           perf data in DIR (perf costs CPU too: take figures from a run
#                           without it, or from rounds 2 and later)
#     --build-dir DIR       build folder (default build-bench)
#     --no-build            use the binaries already in the build folder
#     --no-record           leave bench/RESULTS.md alone
#     --keep                keep the work folder (configs, logs)
#     --delay-ms D          the distance mode above (one-way delay D ms, D > 0); ignores
#                           --transport and --parts
#     -h, --help            this text
# Needs root (sshd), iperf3, OpenSSH client and server (scripts/deps.sh --bench); perf for
# --profile. About 2 min (set-ups, idle, latency: ssh -R takes 25-45 ms per fresh visitor) +
# ROUNDS x 6 x (SECONDS + 2) s, plus the build: ~5-6 min at the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
COMMAND="bench/reverse.sh${*:+ $*}"

TRANSPORT=tls
ROUNDS=3
SECS=10
IDLE=1000
CONNECTS=500
PARTS=bulk,idle,latency
PROFILE=
BUILD_DIR=build-bench
DO_BUILD=1
RECORD=1
KEEP=0
DELAY_MS=${DELAY_MS:-}
CONNECTS_SET=0

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --transport) TRANSPORT=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --seconds) SECS=$2; shift ;;
    --idle) IDLE=$2; shift ;;
    --connects) CONNECTS=$2; CONNECTS_SET=1; shift ;;
    --parts) PARTS=$2; shift ;;
    --profile) PROFILE=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --no-build) DO_BUILD=0 ;;
    --no-record) RECORD=0 ;;
    --keep) KEEP=1 ;;
    --delay-ms) DELAY_MS=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
bad() { echo "$*" >&2; exit 2; }
[[ "$TRANSPORT" =~ ^(tls|quic)$ ]] || bad "--transport is tls or quic, not $TRANSPORT"
for n in "$ROUNDS" "$SECS" "$IDLE" "$CONNECTS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || bad "not a positive whole number: $n"
done
for p in ${PARTS//,/ }; do
  [[ "$p" =~ ^(bulk|idle|latency)$ ]] || bad "--parts takes bulk, idle, latency, not $p"
done
if [ -n "$DELAY_MS" ]; then
  [[ "$DELAY_MS" =~ ^[1-9][0-9]*$ ]] || bad "--delay-ms is a positive whole number of ms, not $DELAY_MS"
  PARTS=distance
  [ "$CONNECTS_SET" = 1 ] || CONNECTS=50
fi
has_part() { [[ ",$PARTS," == *",$1,"* ]]; }

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/chains.sh
source "$ROOT/bench/chains.sh"
WORK=
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"  # IDLE visitors are 2-3 descriptors each in every relay

[ "$(id -u)" = 0 ] || die "the ssh -R chain starts sshd, which needs root"
for tool in iperf3 ssh /usr/sbin/sshd ss; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh --bench)"
done
[ -z "$PROFILE" ] || command -v perf >/dev/null || die "perf is not installed (scripts/deps.sh --bench)"
[ -z "$DELAY_MS" ] || command -v chrt >/dev/null || die "chrt is not installed (util-linux)"
[ "$DO_BUILD" = 1 ] && build "$ROOT" "$ROOT/$BUILD_DIR"
SERVER_BIN=$ROOT/$BUILD_DIR/apps/server/mtop-server
CLIMBER_BIN=$ROOT/$BUILD_DIR/apps/climber/climber
LOADGEN=$ROOT/$BUILD_DIR/bench/loadgen
for b in "$SERVER_BIN" "$CLIMBER_BIN" "$LOADGEN"; do [ -x "$b" ] || die "missing $b (build first)"; done

WORK=$(mktemp -d /tmp/mtop-reverse.XXXXXX)
if [ -n "$PROFILE" ]; then mkdir -p "$PROFILE"; PROFILE=$(cd "$PROFILE" && pwd); fi
MACHINE=$(machine_line)
COMMIT=$(git_line "$ROOT")
T0=$SECONDS
log "machine: $MACHINE"
log "commit: $COMMIT"

# Any loopback port above 1023 may be published: every set-up takes fresh free ports.
make_credentials "127.0.0.1:1024-65535"
start_targets
SETUP_PIDS=()  # the targets stay up across the parts; only the chains restart
MTOP=mtop-$TRANSPORT
CHAINS="$MTOP ssh"
# Per chain: the public ports (PUB_IPERF, PUB_ECHO) and the processes of each end
# (S_PIDS: mtop-server / sshd's; C_PIDS: climber / ssh).
declare -A PUB_IPERF PUB_ECHO S_PIDS C_PIDS R

# wait_listening PORT PID LOGFILE [TRANSPORT] : up to 30 s for a listening socket on
# 127.0.0.1:PORT, while PID lives (TRANSPORT: the climber's, for the error message). Looks with
# ss instead of connecting: a probe would be a visitor, carried to the service (iperf3 -s takes
# a connection that closes at once for a failed test).
wait_listening() {
  local port=$1 pid=$2 logfile=$3 transport=${4:-$TRANSPORT}
  for _ in $(seq 300); do
    [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "process $pid exited before port $port was published"; }
    # A refusal stops the run at once; other retries (a slow answer on a loaded machine) wait.
    local refused='(not permitted to publish|is in use on the server|cannot publish|authentication failed|closed without an answer).*retrying'
    if grep -Eq "$refused" "$logfile" 2>/dev/null; then
      local why
      why=$(grep -Em 1 "$refused" "$logfile")
      if [ "$transport" = quic ] && [[ "$why" == *"cannot publish"* ]]; then
        die "the server refused a reverse tunnel over QUIC (not offered by this build?): $why"
      fi
      die "the climber could not publish port $port: $why"
    fi
    sleep 0.1
  done
  cat "$logfile" >&2
  die "port $port not published after 30 s"
}

# start_relay NAME ARGS... : bench/delay_relay.py with ARGS (its --tcp / --udp relays), holding
# packets RELAY_DELAY ms each way. SCHED_FIFO (chrt): on a busy machine a relay thread that
# wakes late would add its wait to the distance measured.
RELAY_DELAY=
start_relay() {
  local name=$1; shift
  start "$WORK/relay-$name.log" chrt -f 10 python3 "$ROOT/bench/delay_relay.py" --delay-ms "$RELAY_DELAY" "$@"
  wait_line "$WORK/relay-$name.log" "relay ready" "$LAST_PID" 10 \
    || die "the delay relay for $name did not start: $(cat "$WORK/relay-$name.log")"
}

# setup_mtop_reverse [TRANSPORT] : climber -R TRANSPORT (default --transport's) to an
# mtop-server of its own, through a delay relay on both protocols when RELAY_DELAY is set. One
# worker, set in its config (absent, it would be one per core): the records name the same server
# on every machine.
setup_mtop_reverse() {
  local transport=${1:-$TRANSPORT}
  local name=mtop-$transport sport cport pi pe spid
  sport=$(free_port); pi=$(free_port); pe=$(free_port)
  # max_visitors above IDLE: the idle part holds IDLE visitors on one port. grace 0: a
  # restarted chain never finds its old port held.
  cat >"$WORK/server-$name.json" <<JSON
{ "listen": ["127.0.0.1:$sport"], "cert": "$CERT", "key": "$KEY", "quic": true,
  "users": { "type": "file", "path": "$WORK/users.json" },
  "reverse": { "max_visitors": $((IDLE + 100)), "grace": 0 }, "workers": 1,
  "log_level": "warn", "timeouts": { "drain": 1 } }
JSON
  cport=$sport  # the port the climber connects to: the server's, or its relay's
  start "$WORK/server-$name.log" "$SERVER_BIN" --config "$WORK/server-$name.json"
  spid=$LAST_PID
  wait_port "$sport" "$spid" "$WORK/server-$name.log"
  if [ -n "$RELAY_DELAY" ]; then
    cport=$(free_port)
    start_relay "$name" --tcp "$cport:127.0.0.1:$sport" --udp "$cport:127.0.0.1:$sport"
  fi
  climber_config "$name" "$transport" "$cport" "\"reverse\": [\"127.0.0.1:$pi:127.0.0.1:$IPERF_PORT\",
              \"127.0.0.1:$pe:127.0.0.1:$ECHO_PORT\"]"
  start "$WORK/climber-$name.log" "$CLIMBER_BIN" --config "$WORK/climber-$name.json"
  wait_listening "$pi" "$LAST_PID" "$WORK/climber-$name.log" "$transport"
  wait_listening "$pe" "$LAST_PID" "$WORK/climber-$name.log" "$transport"
  if [ "$transport" = quic ]; then
    # A climber without QUIC reverse tunnels carries them over TLS whatever its transport says;
    # its TCP connections to the server's port give it away (QUIC would be UDP only).
    local tcp
    tcp=$(ss -Htnp state established "dport = :$cport" 2>/dev/null | grep -c "pid=$LAST_PID," || true)
    [ "$tcp" = 0 ] || die "--transport quic: the climber carries its reverse tunnels over TLS" \
      "($tcp TCP connections to the server's port $cport): this build has no QUIC reverse tunnels"
    # (The climber's QUIC socket is a connected one, so ss shows its peer; a note, not a stop.)
    [ "$(ss -Hunp "dport = :$cport" 2>/dev/null | grep -c "pid=$LAST_PID," || true)" != 0 ] \
      || log "--transport quic: no connected UDP socket of the climber towards port $cport seen"
  fi
  PUB_IPERF[$name]=$pi; PUB_ECHO[$name]=$pe; S_PIDS[$name]=$spid; C_PIDS[$name]=$LAST_PID
}

# ssh -R to a private sshd (start_sshd: aes128-gcm@openssh.com, no compression).
setup_ssh_reverse() {
  local pi pe
  pi=$(free_port); pe=$(free_port)
  start_sshd "AllowTcpForwarding remote
GatewayPorts no
PermitListen 127.0.0.1:$pi 127.0.0.1:$pe"
  # ssh_client logs in to SSHD_PORT: with RELAY_DELAY, the relay's port for this one call.
  local sshd_port=$SSHD_PORT
  if [ -n "$RELAY_DELAY" ]; then
    SSHD_PORT=$(free_port)
    start_relay ssh --tcp "$SSHD_PORT:127.0.0.1:$sshd_port"
  fi
  ssh_client -R "127.0.0.1:$pi:127.0.0.1:$IPERF_PORT" -R "127.0.0.1:$pe:127.0.0.1:$ECHO_PORT"
  SSHD_PORT=$sshd_port
  wait_listening "$pi" "$LAST_PID" "$SSH_DIR/ssh.log"
  wait_listening "$pe" "$LAST_PID" "$SSH_DIR/ssh.log"
  C_PIDS[ssh]=$LAST_PID
  # The public ports are the session process's: it exists once they listen.
  find_sshd_pids
  S_PIDS[ssh]=$SSHD_PIDS
  PUB_IPERF[ssh]=$pi; PUB_ECHO[ssh]=$pe
  log "sshd processes measured as the server side: $SSHD_PIDS"
}

setup_chains() {
  setup_mtop_reverse
  setup_ssh_reverse
  # Warm-up, untimed: the first visitors log in (password hash), fill the ticket cache and the
  # data connection pool.
  local ch
  for ch in $CHAINS; do
    timeout 120 "$LOADGEN" connlat --to "127.0.0.1:${PUB_ECHO[$ch]}" --count 20 >/dev/null \
      || die "$ch: no visitor got through to the echo service"
  done
}

# ---- bulk ---------------------------------------------------------------------------------

# iperf3 loads: its defaults (1 stream, visitor -> service), -P 8, and -R (1 stream, service ->
# visitor: a published web site's usual direction).
LOADS=("1" "8" "R1")
# label LOAD : how a load is written in the tables
label() { case $1 in R1) echo "-R" ;; *) echo "-P $1" ;; esac; }
# bulk CHAIN STREAMS ROUND : one iperf3 run as a visitor of CHAIN; R[chain,streams,round,*].
bulk() {
  local ch=$1 p=$2 r=$3 json=$WORK/iperf-$1-$2-$3.json c0 s0 c1 s1 _f args=() recs=()
  # shellcheck disable=SC2206  # PID lists are space-separated numbers
  local cp=(${C_PIDS[$ch]}) sp=(${S_PIDS[$ch]})
  case $p in 1) ;; R1) args=(-R) ;; *) args=(-P "$p") ;; esac
  if [ -n "$PROFILE" ] && [ "$r" = 1 ]; then
    local side pids
    for side in server client; do
      pids=${S_PIDS[$ch]}; [ "$side" = client ] && pids=${C_PIDS[$ch]}
      start "$WORK/$ch-P$p-$side.record.log" perf record -g -e "$PERF_EVENT" -F 999 \
        -p "${pids// /,}" -o "$PROFILE/$ch-P$p-$side.perf.data" -- sleep $((SECS + 1))
      recs+=("$LAST_PID")
    done
    sleep 0.3
  fi
  read -r c0 _f < <(proc_stat "${cp[@]}"); read -r s0 _f < <(proc_stat "${sp[@]}")
  timeout $((SECS + 60)) iperf3 -c 127.0.0.1 -p "${PUB_IPERF[$ch]}" -t "$SECS" "${args[@]}" -J >"$json" \
    || die "$ch: iperf3 $(label "$p") failed: $(grep -m1 '"error"' "$json" || tail -n 3 "$json")"
  read -r c1 _f < <(proc_stat "${cp[@]}"); read -r s1 _f < <(proc_stat "${sp[@]}")
  local rec
  for rec in "${recs[@]}"; do
    for _ in $(seq 100); do kill -0 "$rec" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$rec"
  done
  local bytes bps gb
  read -r bytes bps < <(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))["end"]["sum_received"]
print(int(s["bytes"]), s["bits_per_second"])' "$json")
  gb=$(calc "$bytes / 1e9" 6)
  R[$ch,$p,$r,gbps]=$(calc "$bps / 1e9" 3)
  R[$ch,$p,$r,cs]=$(calc "($c1 - $c0) / $gb" 3)
  R[$ch,$p,$r,ss]=$(calc "($s1 - $s0) / $gb" 3)
  R[$ch,$p,$r,sum]=$(calc "($c1 - $c0 + $s1 - $s0) / $gb" 3)
  log "$ch iperf3 $(label "$p") round $r: ${R[$ch,$p,$r,gbps]} Gbit/s, CPU s/GB server ${R[$ch,$p,$r,ss]} client ${R[$ch,$p,$r,cs]}"
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
# med CHAIN STREAMS KEY : the median over the rounds
med() { local r; for r in $(seq "$ROUNDS"); do echo "${R[$1,$2,$r,$3]}"; done | median; }
# rmed STREAMS KEY : the median of the per-round ratios MTop / ssh
rmed() {
  local r
  for r in $(seq "$ROUNDS"); do calc "${R[$MTOP,$1,$r,$2]} / ${R[ssh,$1,$r,$2]}" 3; echo; done | median
}

if has_part bulk; then
  PERF_EVENT=cycles
  if [ -n "$PROFILE" ] && perf stat -e cycles -- true 2>&1 | grep -q 'not supported\|not counted'; then
    PERF_EVENT=cpu-clock
  fi
  log "bulk: setting up"
  setup_chains
  for r in $(seq "$ROUNDS"); do
    # Each round starts with the other chain, so neither always runs right after the same load.
    order=$CHAINS; [ $((r % 2)) = 0 ] && order="ssh $MTOP"
    for p in "${LOADS[@]}"; do
      for ch in $order; do bulk "$ch" "$p" "$r"; sleep 0.5; done
    done
  done
  stop_setup
fi

# ---- idle visitors ------------------------------------------------------------------------

# idle CHAIN : RSS per idle visitor of each end; R[chain,idle_s|idle_c|idle_n].
idle() {
  local ch=$1 out=$WORK/$1.idle.out lpid n s0 c0 s1 c1
  # shellcheck disable=SC2206
  local cp=(${C_PIDS[$ch]}) sp=(${S_PIDS[$ch]})
  sleep 1
  s0=$(rss_sum "${sp[@]}"); c0=$(rss_sum "${cp[@]}")
  "$LOADGEN" idle --to "127.0.0.1:${PUB_ECHO[$ch]}" --count "$IDLE" --hold-seconds 900 >"$out" 2>&1 &
  lpid=$!; PIDS+=("$lpid")
  wait_line "$out" "idle ready" "$lpid" 600 || die "$ch: $IDLE idle visitors not set up in 600 s: $(cat "$out")"
  sleep 2  # let both ends finish what the last set-ups started
  n=$(field "$(grep 'idle ready' "$out")" established)
  # (no new sshd process is expected, but the session process is the one that must be counted)
  if [ "$ch" = ssh ]; then find_sshd_pids; read -r -a sp <<<"$SSHD_PIDS"; fi
  s1=$(rss_sum "${sp[@]}"); c1=$(rss_sum "${cp[@]}")
  log "$ch idle: $(grep 'idle ready' "$out"); RSS server $s0 -> $s1 KiB, client $c0 -> $c1 KiB"
  [ "${n:-0}" -gt 0 ] || die "$ch: no idle visitor established"
  R[$ch,idle_n]=$n
  R[$ch,idle_s]=$(calc "($s1 - $s0) / $n" 2)
  R[$ch,idle_c]=$(calc "($c1 - $c0) / $n" 2)
  kill -USR1 "$lpid" 2>/dev/null || true
  stop_pid "$lpid"
  sleep 2
}

# ---- latency ------------------------------------------------------------------------------

# latency CHAIN : connect -> first echoed byte of fresh visitors, spaced PAUSE_MS apart (R[*,open_*])
# and back to back (R[*,burst_*]), and the round trip on an open visitor (R[*,pp_*]). Spaced is
# the usual case a pool of ready data connections is for; back to back, each visitor waits for
# the one set up after the last (mtop over TLS: a TLS handshake climber -> server per visitor).
PAUSE_MS=20
latency() {
  local ch=$1 port line pause key
  port=${PUB_ECHO[$ch]:-$ECHO_PORT}
  for pause in "$PAUSE_MS" 0; do
    key=open; [ "$pause" = 0 ] && key=burst
    line=$(timeout 900 "$LOADGEN" connlat --to "127.0.0.1:$port" --count "$CONNECTS" --pause-ms "$pause") \
      || die "$ch: loadgen connlat failed: $line"
    log "$ch connlat --pause-ms $pause: $line"
    [ "$(field "$line" failures)" = 0 ] || log "$ch: some visitors failed: $line"
    R[$ch,${key}_p50]=$(field "$line" p50_us); R[$ch,${key}_p99]=$(field "$line" p99_us)
  done
  line=$(timeout 600 "$LOADGEN" pingpong --to "127.0.0.1:$port" --rounds 5000) \
    || die "$ch: loadgen pingpong failed: $line"
  log "$ch pingpong: $line"
  R[$ch,pp_p50]=$(field "$line" p50_us); R[$ch,pp_p99]=$(field "$line" p99_us)
}

if has_part idle || has_part latency; then
  log "idle visitors and latency: setting up fresh chains"
  setup_chains
  if has_part idle; then for ch in $CHAINS; do idle "$ch"; done; fi
  if has_part latency; then
    latency direct
    for ch in $CHAINS; do latency "$ch"; done
  fi
  stop_setup
fi

# ---- distance (--delay-ms) ----------------------------------------------------------------

# distance_round D : fresh chains with a relay of D ms each way between the climbers (ssh) and
# the server (sshd), and one in front of the echo service alone ("direct"); for each chain
# R[chain,D,p50|p90] (connect -> first byte of CONNECTS fresh visitors) and R[chain,D,pp] (p50
# round trip on an open visitor).
DISTANCE_CHAINS="mtop-tls mtop-quic ssh"
distance_round() {
  local d=$1 pause=$((20 + 10 * DELAY_MS)) ch line
  RELAY_DELAY=$d
  log "distance: fresh chains through relays of $d ms each way"
  PUB_ECHO[direct]=$(free_port)
  start_relay direct --tcp "${PUB_ECHO[direct]}:127.0.0.1:$ECHO_PORT"
  setup_mtop_reverse tls
  setup_mtop_reverse quic
  setup_ssh_reverse
  for ch in direct $DISTANCE_CHAINS; do
    # Untimed: the first visitors log in, fill the ticket cache and the TLS pool.
    timeout 300 "$LOADGEN" connlat --to "127.0.0.1:${PUB_ECHO[$ch]}" --count 10 --pause-ms "$pause" >/dev/null \
      || die "$ch: no visitor got through to the echo service"
    line=$(timeout 900 "$LOADGEN" connlat --to "127.0.0.1:${PUB_ECHO[$ch]}" --count "$CONNECTS" --pause-ms "$pause") \
      || die "$ch: loadgen connlat failed: $line"
    log "$ch at $d ms, connlat --pause-ms $pause: $line"
    [ "$(field "$line" failures)" = 0 ] || log "$ch: some visitors failed: $line"
    R[$ch,$d,p50]=$(field "$line" p50_us); R[$ch,$d,p90]=$(field "$line" p90_us)
    line=$(timeout 300 "$LOADGEN" pingpong --to "127.0.0.1:${PUB_ECHO[$ch]}" --rounds 50) \
      || die "$ch: loadgen pingpong failed: $line"
    log "$ch at $d ms, pingpong: $line"
    R[$ch,$d,pp]=$(field "$line" p50_us)
  done
  stop_setup
  RELAY_DELAY=
}

if has_part distance; then
  distance_round 0
  distance_round "$DELAY_MS"
fi
ELAPSED=$((SECONDS - T0))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

verdict() { awk -v v="$1" -v lim="$2" -v dir="$3" 'BEGIN { ok = dir == "le" ? v <= lim : v >= lim; print ok ? "PASS" : "MISS" }'; }
if has_part distance; then
  # round_trips CHAIN KEY : (KEY at DELAY_MS - KEY at 0) / 2 DELAY_MS, in round trips
  round_trips() { calc "(${R[$1,$DELAY_MS,$2]} - ${R[$1,0,$2]}) / (2000 * $DELAY_MS)" 2; }
  SECTION="### bench/reverse.sh --delay-ms $DELAY_MS — visitor set-up at a distance (kind: reverse-distance)

- **When:** $(date -u '+%Y-%m-%d %H:%M UTC'), $((ELAPSED / 60)) min $((ELAPSED % 60)) s. **Command:** \`$COMMAND\`
- **Commit:** $COMMIT. Build: $([ "$DO_BUILD" = 1 ] && echo "Release, -O2 -g" || echo "the binaries in $BUILD_DIR (--no-build)").
- **Machine:** $MACHINE; load average at the end $LOAD_END.
- **Distance:** bench/delay_relay.py (SCHED_FIFO) holds every TCP chunk and UDP datagram
  $DELAY_MS ms each way between climber and mtop-server and between ssh and sshd; the same
  chains are measured through relays of 0 ms (the baseline) and of $DELAY_MS ms, each time
  freshly set up. \"direct\" = the echo service behind a relay alone, a check of the relay:
  about 1 round trip (its connect → first byte includes the relay's start of a new
  connection, 1-3 ms of Python threads at 0 ms that a small delay partly hides; the ping-pong
  column checks established connections, as the chains' are).
- **Load:** $CONNECTS fresh visitors one at a time, $((20 + 10 * DELAY_MS)) ms apart (the TLS pool
  refills in between), connect() → first echoed byte (loadgen connlat); ping-pong: 50 × 64 B
  on one open visitor. Round trips to the climber = (time at $DELAY_MS ms − time at 0) / (2 × $DELAY_MS ms):
  the visitor's data needs 1; the issue-14 target is ≤ 1 over QUIC.

| chain | connect → first byte p50 / p90 µs at 0 ms | … at $DELAY_MS ms | round trips to the climber p50 / p90 | ping-pong p50 µs at 0 / $DELAY_MS ms (round trips) |
|---|---|---|---|---|"
  for ch in direct $DISTANCE_CHAINS; do
    SECTION+="
| $ch | ${R[$ch,0,p50]} / ${R[$ch,0,p90]} | ${R[$ch,$DELAY_MS,p50]} / ${R[$ch,$DELAY_MS,p90]} | **$(round_trips "$ch" p50)** / $(round_trips "$ch" p90) | ${R[$ch,0,pp]} / ${R[$ch,$DELAY_MS,pp]} ($(round_trips "$ch" pp)) |"
  done
  # The relay alone, on an established connection, must read 1 round trip: anything else is a
  # machine too busy for the figures above (processes waiting for a core, not for distance).
  relay_check=$(round_trips direct pp)
  relay_ok=$(awk -v v="$relay_check" 'BEGIN { print (v >= 0.95 && v <= 1.05) ? 1 : 0 }')
  SECTION+="

Relay check (ping-pong through a relay alone): $relay_check round trips, $([ "$relay_ok" = 1 ] \
    && echo "within 5 % of 1: the figures hold" \
    || echo "NOT within 5 % of 1: the machine was too busy, rerun on a quiet one").

Verdicts (p50, \"≤ 1\" read with 0.1 round trip for noise):

| transport | set-up in round trips to the climber (p50) | target | verdict |
|---|---|---|---|"
  for ch in mtop-quic mtop-tls; do
    rt=$(round_trips "$ch" p50)
    SECTION+="
| ${ch#mtop-} | $rt | ≤ 1 round trip$([ "$ch" = mtop-tls ] && echo " (QUIC's target, for comparison)") | $(verdict "$rt" 1.1 le) |"
  done
  echo "$SECTION"
  if [ "$RECORD" = 1 ]; then record_results "$ROOT/bench/RESULTS.md" reverse-distance "$SECTION"; fi
  exit 0
fi

# ---- report -------------------------------------------------------------------------------

SSH_VERSION=$(ssh -V 2>&1)
SECTION="### bench/reverse.sh — climber -R over $TRANSPORT against ssh -R (kind: reverse-$TRANSPORT)

- **When:** $(date -u '+%Y-%m-%d %H:%M UTC'), $((ELAPSED / 60)) min $((ELAPSED % 60)) s. **Command:** \`$COMMAND\`
- **Commit:** $COMMIT. Build: Release, -O2 -g.
- **Machine:** $MACHINE; load average at the end $LOAD_END.
- **Chains:** visitor → public port on 127.0.0.1 → tunnel → service, both up at once:
  $MTOP = mtop-server (\`\"workers\": 1\`, reverse defaults but \`max_visitors\` $((IDLE + 100)) and
  \`grace\` 0) ← climber \`-R\` over $TRANSPORT; ssh = sshd of the script's own
  (aes128-gcm@openssh.com, no compression) ← \`ssh -N -R\` ($SSH_VERSION). Server side =
  mtop-server / sshd listener, monitor and session processes; client side = climber / ssh.
- **Loads:** $PARTS. Bulk: iperf3 -t $SECS, 1 and 8 streams (-P 8) visitor → service, and
  1 stream service → visitor (-R),
  $ROUNDS rounds with the chains in turn, CPU s/GB = utime + stime (/proc/PID/stat) / GB iperf3
  received. Idle: $IDLE visitors held (each echoed once), RSS delta / visitors. Latency:
  $CONNECTS fresh visitors one at a time, ${PAUSE_MS} ms apart and back to back, connect() → first
  echoed byte (loadgen connlat);
  ping-pong 5000 × 64 B on one visitor; \"direct\" = the echo service with no tunnel."
if has_part bulk; then
  SECTION+="

| load | chain | Gbit/s (median) | CPU s/GB server / client / **sum** (medians) |
|---|---|---|---|"
  for p in "${LOADS[@]}"; do
    for ch in $CHAINS; do
      SECTION+="
| $(label "$p") | $ch | $(med "$ch" "$p" gbps) | $(med "$ch" "$p" ss) / $(med "$ch" "$p" cs) / **$(med "$ch" "$p" sum)** |"
    done
  done
  SECTION+="

Per round (Gbit/s; CPU s/GB summed):

| round | load | $MTOP Gbit/s | ssh Gbit/s | $MTOP CPU s/GB | ssh CPU s/GB |
|---|---|---|---|---|---|"
  for r in $(seq "$ROUNDS"); do
    for p in "${LOADS[@]}"; do
      SECTION+="
| $r | $(label "$p") | ${R[$MTOP,$p,$r,gbps]} | ${R[ssh,$p,$r,gbps]} | ${R[$MTOP,$p,$r,sum]} | ${R[ssh,$p,$r,sum]} |"
    done
  done
fi
if has_part idle; then
  SECTION+="

| chain | KiB per idle visitor, server / client (of N) |
|---|---|
| $MTOP | ${R[$MTOP,idle_s]} / ${R[$MTOP,idle_c]} (${R[$MTOP,idle_n]}) |
| ssh | ${R[ssh,idle_s]} / ${R[ssh,idle_c]} (${R[ssh,idle_n]}) |"
fi
if has_part latency; then
  extra() { calc "(${R[$1,open_p50]} - ${R[$1,pp_p50]}) / ${R[$1,pp_p50]}" 2; }
  SECTION+="

| chain | connect → first byte p50 / p99 µs, ${PAUSE_MS} ms apart | … back to back | ping-pong on an open visitor p50 / p99 µs | set-up beyond one ping-pong, in ping-pongs (p50, ${PAUSE_MS} ms apart) |
|---|---|---|---|---|
| direct | ${R[direct,open_p50]} / ${R[direct,open_p99]} | ${R[direct,burst_p50]} / ${R[direct,burst_p99]} | ${R[direct,pp_p50]} / ${R[direct,pp_p99]} | |
| $MTOP | ${R[$MTOP,open_p50]} / ${R[$MTOP,open_p99]} | ${R[$MTOP,burst_p50]} / ${R[$MTOP,burst_p99]} | ${R[$MTOP,pp_p50]} / ${R[$MTOP,pp_p99]} | $(extra "$MTOP") |
| ssh | ${R[ssh,open_p50]} / ${R[ssh,open_p99]} | ${R[ssh,burst_p50]} / ${R[ssh,burst_p99]} | ${R[ssh,pp_p50]} / ${R[ssh,pp_p99]} | $(extra ssh) |"
fi
SECTION+="

Ratios $MTOP / ssh and the issue-14 targets (bulk: median of the per-round ratios):

| measure | $MTOP / ssh | target | verdict |
|---|---|---|---|"
if has_part bulk; then
  for p in "${LOADS[@]}"; do
    g=$(rmed "$p" gbps); c=$(rmed "$p" sum)
    SECTION+="
| Gbit/s, $(label "$p") | $g | ≥ 1 | $(verdict "$g" 1 ge) |
| CPU s/GB both ends, $(label "$p") | $c | ≤ 1 | $(verdict "$c" 1 le) |
| CPU s/GB server side, $(label "$p") | $(rmed "$p" ss) | | |
| CPU s/GB client side, $(label "$p") | $(rmed "$p" cs) | | |"
  done
fi
if has_part idle; then
  SECTION+="
| KiB per idle visitor, server | $(calc "${R[$MTOP,idle_s]} / ${R[ssh,idle_s]}" 2) | ≤ 16 KiB: ${R[$MTOP,idle_s]} | $(verdict "${R[$MTOP,idle_s]}" 16 le) |
| KiB per idle visitor, client | $(calc "${R[$MTOP,idle_c]} / ${R[ssh,idle_c]}" 2) | | |"
fi
if has_part latency; then
  rt=$(extra "$MTOP")
  # On loopback a "round trip" is a ping-pong's CPU, not distance: what a set-up costs beyond
  # it is processing. The issue-14 target (<= 1 extra round trip over QUIC) is judged where
  # round trips are distance: --delay-ms (kind reverse-distance).
  target="(judged at a distance: --delay-ms)"; v=
  SECTION+="
| connect → first byte p50 / p99, ${PAUSE_MS} ms apart | $(calc "${R[$MTOP,open_p50]} / ${R[ssh,open_p50]}" 2) / $(calc "${R[$MTOP,open_p99]} / ${R[ssh,open_p99]}" 2) | | |
| connect → first byte p50 / p99, back to back | $(calc "${R[$MTOP,burst_p50]} / ${R[ssh,burst_p50]}" 2) / $(calc "${R[$MTOP,burst_p99]} / ${R[ssh,burst_p99]}" 2) | | |
| set-up beyond one loopback ping-pong (p50) | $rt ping-pongs | $target | $v |"
fi
echo "$SECTION"
if [ -n "$PROFILE" ] && has_part bulk; then
  {
    for ch in $CHAINS; do
      for p in "${LOADS[@]}"; do
        for side in server client; do perf_top_report "$ch-P$p-$side" "$PROFILE" "$WORK" 20; done
      done
    done
  } | tee "$PROFILE/profile.md"
fi
if [ "$RECORD" = 1 ]; then record_results "$ROOT/bench/RESULTS.md" "reverse-$TRANSPORT" "$SECTION"; fi
