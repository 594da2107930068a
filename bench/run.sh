#!/usr/bin/env bash
# MTop benchmarks on loopback. The same path (load generator -> client-side proxy -> encrypted
# link -> server-side proxy -> target) is built six ways, all up at once, and measured in one
# run (freshly started proxies for the bulk part and again for the tunnel part):
#   direct     no proxy: the floor set by loopback, the load generators and the targets
#   mtop-tls   climber port-forward -> mtop-server, TLS 1.3 over TCP
#   mtop-quic  the same with "transport": "quic"
#   stunnel    stunnel4 client -> stunnel4 server, TLS 1.3, same certificate
#   trojan     trojan forward client -> trojan server
#   ssh        ssh -L -> an sshd of the script's own (aes128-gcm@openssh.com, no compression)
# Bulk: iperf3 at its default length and at -l 16K and -l 1M, client -> server (up) and -R
# (down), 1 and 8 streams (-P 8); the loads are interleaved across chains so the ratios come
# from the same minutes. Per load and chain: Gbit/s; CPU s per GB and minor page faults per
# GB of the client-side and of the server-side proxy (/proc/PID/stat deltas / bytes received).
# Tunnels: tunnels/s with CPU µs per tunnel per side and summed, ping-pong, time to a usable
# tunnel, memory per idle tunnel (loadgen against its echo target).
# Prints the issue-13 targets as PASS/MISS (mtop against stunnel4, ssh -L, trojan and no proxy
# in the same run) and the tables, and records them in bench/RESULTS.md, replacing the previous
# run of the same kind (full, quick, quic or custom).
#
#   bench/run.sh [options]
#     --quick            a subset: -l default only, both directions, 1 stream; tunnels/s for
#                        3 s, 1000 idle tunnels, 5000 ping-pong rounds, 100 connects (~3 min)
#     --quic             the QUIC report (issue 4): direct, mtop-tls, mtop-quic, and ngtcp2's
#                        gtlsserver / gtlsclient pair as the ceiling (same as bench/run_quic.sh)
#     --sets LIST        comma-separated chains (default: direct,mtop-tls,mtop-quic,stunnel,
#                        trojan,ssh); the ssh chain needs root
#     --lengths LIST     iperf3 -l values: default (iperf3's own, 128 KiB), or a size such as
#                        16K, 1M (default: default,16K,1M)
#     --directions LIST  up (client -> server) and/or down (iperf3 -R) (default: up,down)
#     --streams LIST     iperf3 -P values (default: 1,8)
#     --parts LIST       bulk and/or tunnels (default: bulk,tunnels)
#     --seconds N        iperf3 -t per run (default 5)
#     --rate-seconds N   tunnels/s duration (default 5)
#     --idle N           idle tunnels for the memory figure (default 5000)
#     --quic-idle N      the same over QUIC (default 250, the figure the first runs used)
#     --rounds N         ping-pong round trips (default 20000)
#     --connects N       fresh tunnels timed one at a time for connect->echo (default 300)
#     --build-dir DIR    build folder (default build-bench)
#     --no-build         use the binaries already in the build folder
#     --no-record        print only; leave bench/RESULTS.md alone (--no-append: the same)
#     --keep             keep the work folder (configs, logs, iperf3 JSON) for inspection
#     -h, --help         this text
# A full run takes 12-15 minutes on 2 shared cores (72 iperf3 runs of 5 s), --quick about 3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
COMMAND="bench/run.sh${*:+ $*}"

ALL_SETS="direct,mtop-tls,mtop-quic,stunnel,trojan,ssh"
SETS=$ALL_SETS
LENGTHS="default,16K,1M"
DIRECTIONS="up,down"
STREAMS="1,8"
PARTS="bulk,tunnels"
QUIC_MODE=0
QUICK=0
CUSTOM=0
SECS=5
RATE_SECS=5
IDLE=5000
QUIC_IDLE=250
ROUNDS=20000
CONNLAT=300
BUILD_DIR=build-bench
DO_BUILD=1
RECORD=1
KEEP=0
GTLS_FILE_MIB=512

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; LENGTHS=default; STREAMS=1; RATE_SECS=3; IDLE=1000; ROUNDS=5000; CONNLAT=100 ;;
    --quic) QUIC_MODE=1; SETS="direct,mtop-tls,mtop-quic" ;;
    --sets) SETS=$2; CUSTOM=1; shift ;;
    --lengths) LENGTHS=$2; CUSTOM=1; shift ;;
    --directions) DIRECTIONS=$2; CUSTOM=1; shift ;;
    --streams) STREAMS=$2; CUSTOM=1; shift ;;
    --parts) PARTS=$2; CUSTOM=1; shift ;;
    --seconds) SECS=$2; shift ;;
    --rate-seconds) RATE_SECS=$2; shift ;;
    --idle) IDLE=$2; shift ;;
    --quic-idle) QUIC_IDLE=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --connects) CONNLAT=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --no-build) DO_BUILD=0 ;;
    --no-record|--no-append) RECORD=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
bad() { echo "$*" >&2; exit 2; }
for n in "$SECS" "$RATE_SECS" "$IDLE" "$QUIC_IDLE" "$ROUNDS" "$CONNLAT"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || bad "not a positive whole number: $n"
done
for s in ${SETS//,/ }; do [[ ",$ALL_SETS," == *",$s,"* ]] || bad "unknown chain in --sets: $s"; done
for l in ${LENGTHS//,/ }; do [[ "$l" =~ ^(default|[1-9][0-9]*[KM]?)$ ]] || bad "not an iperf3 length: $l"; done
for d in ${DIRECTIONS//,/ }; do [[ "$d" =~ ^(up|down)$ ]] || bad "not a direction (up, down): $d"; done
for p in ${STREAMS//,/ }; do [[ "$p" =~ ^[1-9][0-9]?$ ]] || bad "not a stream count (1-99): $p"; done
for p in ${PARTS//,/ }; do [[ "$p" =~ ^(bulk|tunnels)$ ]] || bad "not a part (bulk, tunnels): $p"; done
has() { [[ ",$1," == *",$2,"* ]]; }  # has LIST ITEM

# The kind of run decides which earlier section of bench/RESULTS.md this one replaces.
if [ "$CUSTOM" = 1 ]; then KIND=custom
elif [ "$QUIC_MODE" = 1 ]; then KIND=quic
elif [ "$QUICK" = 1 ]; then KIND=quick
else KIND=full; fi

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/chains.sh
source "$ROOT/bench/chains.sh"
WORK=
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)"  # 5,000 idle tunnels are 10,000+ descriptors per proxy
MACHINE=$(machine_line)
GIT=$(git_line "$ROOT")
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
T0=$SECONDS

[ "$DO_BUILD" = 1 ] && build "$ROOT" "$ROOT/$BUILD_DIR"
SERVER_BIN=$ROOT/$BUILD_DIR/apps/server/mtop-server
CLIMBER_BIN=$ROOT/$BUILD_DIR/apps/climber/climber
LOADGEN=$ROOT/$BUILD_DIR/bench/loadgen
for b in "$SERVER_BIN" "$CLIMBER_BIN" "$LOADGEN"; do [ -x "$b" ] || die "missing $b (build first)"; done
need() { command -v "$1" >/dev/null || die "$1 is not installed (scripts/deps.sh --bench)"; }
need iperf3
has "$SETS" stunnel && need stunnel4
has "$SETS" trojan && need trojan
has "$SETS" ssh && { need ssh; need ssh-keygen; [ -x /usr/sbin/sshd ] || die "sshd is not installed (scripts/deps.sh --bench)"; }
[ "$QUIC_MODE" = 1 ] && { need gtlsserver; need gtlsclient; }

WORK=$(mktemp -d /tmp/mtop-bench.XXXXXX)
log "work folder $WORK"
make_credentials
start_targets
SETUP_PIDS=()  # the targets stay up until exit; the chains are stopped after each part
setup_chains() {
  local set
  for set in ${SETS//,/ }; do log "setting up $set"; setup_chain "$set"; done
}

declare -A R  # R[chain,load,metric] (bulk) and R[chain,metric] (tunnels)

# ---- tunnels (loadgen against the echo target) -----------------------------------------

# Time to a usable tunnel, one at a time; also warms every chain up the same way.
measure_connlat() {
  local set=$1 line
  line=$(timeout 300 "$LOADGEN" connlat --to "127.0.0.1:${CH_ECHO[$set]}" --count "$CONNLAT") || true
  log "$set connlat: $line"
  R[$set,open_p50]=$(field "$line" p50_us)
  R[$set,open_p99]=$(field "$line" p99_us)
}

measure_idle() {
  local set=$1 out=$WORK/$1.idle.out c0 s0 c1 s1 n lpid count=$IDLE
  # shellcheck disable=SC2206  # PID lists are space-separated numbers
  local cp=(${CH_CECHO[$set]}) sp=(${CH_SPIDS[$set]})
  [ "$set" = mtop-quic ] && count=$QUIC_IDLE
  c0=$(rss_sum "${cp[@]}"); s0=$(rss_sum "${sp[@]}")
  "$LOADGEN" idle --to "127.0.0.1:${CH_ECHO[$set]}" --count "$count" --hold-seconds 600 >"$out" 2>&1 &
  lpid=$!; PIDS+=("$lpid")
  if wait_line "$out" "idle ready" "$lpid" 300; then
    sleep 2  # let both proxies finish any work the last set-ups started
    n=$(field "$(grep 'idle ready' "$out")" established)
    c1=$(rss_sum "${cp[@]}"); s1=$(rss_sum "${sp[@]}")
    if [ "${n:-0}" -gt 0 ]; then
      R[$set,idle_c]=$(calc "($c1 - $c0) / $n" 1)
      R[$set,idle_s]=$(calc "($s1 - $s0) / $n" 1)
    fi
    R[$set,idle_n]=$n
  fi
  log "$set idle: $(tr '\n' ' ' <"$out") rss client $c0 -> ${c1:-?} KiB, server $s0 -> ${s1:-?} KiB"
  kill -USR1 "$lpid" 2>/dev/null || true
  stop_pid "$lpid"
  sleep 2  # let the proxies close what the idle tunnels left
}

measure_pingpong() {
  local set=$1 line
  line=$(timeout 300 "$LOADGEN" pingpong --to "127.0.0.1:${CH_ECHO[$set]}" --rounds "$ROUNDS") || true
  log "$set pingpong: $line"
  R[$set,pp_p50]=$(field "$line" p50_us)
  R[$set,pp_p99]=$(field "$line" p99_us)
}

# Tunnels/s depends on what else runs on the machine; CPU µs per tunnel much less so.
measure_rate() {
  local set=$1 line c0=0 s0=0 c1 s1 ok _f
  # shellcheck disable=SC2206
  local cp=(${CH_CECHO[$set]}) sp=(${CH_SPIDS[$set]})
  read -r c0 _f < <(proc_stat "${cp[@]}"); read -r s0 _f < <(proc_stat "${sp[@]}")
  line=$(timeout $((RATE_SECS + 60)) "$LOADGEN" rate --to "127.0.0.1:${CH_ECHO[$set]}" \
           --seconds "$RATE_SECS" --concurrency 32) || true
  read -r c1 _f < <(proc_stat "${cp[@]}"); read -r s1 _f < <(proc_stat "${sp[@]}")
  log "$set rate: $line; CPU client $c0 -> $c1 s, server $s0 -> $s1 s"
  R[$set,rate]=$(field "$line" per_second)
  R[$set,rate_fail]=$(field "$line" failures)
  ok=$(field "$line" ok)
  if [ "$set" != direct ] && [ "${ok:-0}" -gt 0 ]; then
    R[$set,tun_c]=$(calc "($c1 - $c0) * 1e6 / $ok" 1)
    R[$set,tun_s]=$(calc "($s1 - $s0) * 1e6 / $ok" 1)
    R[$set,tun_sum]=$(calc "($c1 - $c0 + $s1 - $s0) * 1e6 / $ok" 1)
  fi
  sleep 2  # let the proxies close what the last tunnels left
}

# ---- bulk (iperf3) ---------------------------------------------------------------------
LOADS=()  # "length:direction:streams"
for p in ${STREAMS//,/ }; do
  for d in ${DIRECTIONS//,/ }; do
    for l in ${LENGTHS//,/ }; do LOADS+=("$l:$d:$p"); done
  done
done
load_label() {  # "default:down:8" -> "down 8× -l default"
  local l d p
  IFS=: read -r l d p <<<"$1"
  printf '%s %s× -l %s' "$d" "$p" "$l"
}

measure_bulk() {
  local set=$1 load=$2 l d p args=() json c0 f0 s0 g0 c1 f1 s1 g1 bytes bps gb
  IFS=: read -r l d p <<<"$load"
  [ "$l" != default ] && args+=(-l "$l")
  [ "$d" = down ] && args+=(-R)
  [ "$p" != 1 ] && args+=(-P "$p")
  json=$WORK/iperf.$set.$l.$d.$p.json
  # shellcheck disable=SC2206
  local cp=(${CH_CIPERF[$set]}) sp=(${CH_SPIDS[$set]})
  read -r c0 f0 < <(proc_stat "${cp[@]}"); read -r s0 g0 < <(proc_stat "${sp[@]}")
  if ! timeout $((SECS + 30)) iperf3 -c 127.0.0.1 -p "${CH_IPERF[$set]}" -t "$SECS" -J "${args[@]}" \
         >"$json" 2>&1; then
    log "$set $(load_label "$load"): iperf3 failed: $(grep -m1 '"error"' "$json" || tail -n 2 "$json" | tr '\n' ' ')"
    sleep 1
    return 0
  fi
  read -r c1 f1 < <(proc_stat "${cp[@]}"); read -r s1 g1 < <(proc_stat "${sp[@]}")
  read -r bytes bps < <(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))["end"]["sum_received"]
print(int(s["bytes"]), s["bits_per_second"])' "$json")
  local k="$set,$load"
  R[$k,gbps]=$(calc "$bps / 1e9" 4)
  if [ "$set" != direct ] && [ "$bytes" -gt 0 ]; then
    gb=$(calc "$bytes / 1e9" 6)
    R[$k,cpu_c]=$(calc "($c1 - $c0) / $gb" 4)
    R[$k,cpu_s]=$(calc "($s1 - $s0) / $gb" 4)
    R[$k,cpu_sum]=$(calc "($c1 - $c0 + $s1 - $s0) / $gb" 4)
    R[$k,flt_c]=$(calc "($f1 - $f0) / $gb" 0)
    R[$k,flt_s]=$(calc "($g1 - $g0) / $gb" 0)
  fi
  log "$set $(load_label "$load"): $(calc "$bps / 1e9" 2) Gbit/s, $bytes bytes; CPU client $c0 -> $c1 s, server $s0 -> $s1 s; faults client $f0 -> $f1, server $g0 -> $g1"
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
      R[gtls,gbps]=$(calc "$size * 8 / $elapsed / 1e9" 4)
      R[gtls,cpu_c]=$(calc "($cu + $cs) / ($size / 1e9)" 4)
      R[gtls,cpu_s]=$(calc "($s1 - $s0) / ($size / 1e9)" 4)
      R[gtls,cpu_sum]=$(calc "($cu + $cs + $s1 - $s0) / ($size / 1e9)" 4)
    fi
    log "gtls: $got of $size bytes in $elapsed s; client CPU $cu + $cs s; server $s0 -> $s1 s"
  else
    log "gtls: gtlsclient failed: $(tail -n 3 "$WORK/gtlsclient.log" | tr '\n' ' ')"
  fi
  rm -rf "$dl" "$www"
  stop_setup
}

# Each part gets freshly started proxies. A proxy's heap remembers what it carried before:
# after thousands of idle tunnels, later buffers fit into the holes they left, which hides
# per-write heap churn (the regression of issue 13 did not show when throughput was measured
# after the tunnel tests); after bulk transfers, idle tunnels fit into the heap the buffers
# left, which hides memory per idle tunnel.
if has "$PARTS" bulk; then
  setup_chains
  for load in "${LOADS[@]}"; do
    for set in ${SETS//,/ }; do measure_bulk "$set" "$load"; sleep 0.5; done
  done
  stop_setup
  if [ "$QUIC_MODE" = 1 ]; then measure_gtls; fi
fi
if has "$PARTS" tunnels; then
  setup_chains
  for set in ${SETS//,/ }; do
    log "tunnels: $set"
    measure_connlat "$set"
    [ "$set" = direct ] || measure_idle "$set"
    measure_pingpong "$set"
    measure_rate "$set"
  done
  stop_setup
fi
ELAPSED=$((SECONDS - T0))

# ---- report ----------------------------------------------------------------------------
v() { local x=${R[$1]:-}; printf '%s' "${x:-—}"; }                      # as stored
f() { local x=${R[$1]:-}; if [ -n "$x" ]; then calc "$x" "${2:-2}"; else printf '—'; fi; }  # rounded
# ratio A_KEY B_KEY : A / B as "0.45×", or "—" when either is missing or B is zero.
ratio() {
  local a=${R[$1]:-} b=${R[$2]:-}
  if [ -n "$a" ] && [ -n "$b" ] && awk "BEGIN { exit !($b > 0) }"; then printf '%s×' "$(calc "$a / $b" 2)"
  else printf '—'; fi
}
# target A_KEY B_KEY le|ge LIMIT : "0.45× PASS" / "2.10× MISS" for A/B against LIMIT, or "—".
target() {
  local a=${R[$1]:-} b=${R[$2]:-} op=$3 limit=$4 r ok
  if [ -z "$a" ] || [ -z "$b" ] || ! awk "BEGIN { exit !($b > 0) }"; then printf '—'; return 0; fi
  r=$(calc "$a / $b" 4)
  if [ "$op" = le ]; then ok=$(awk "BEGIN { print ($r <= $limit) }"); else ok=$(awk "BEGIN { print ($r >= $limit) }"); fi
  local shown
  shown=$(calc "$r" 2)
  # A ratio that rounds onto the limit is shown with more digits, so 0.4995× reads as a miss.
  if awk "BEGIN { exit !($shown == $limit) }"; then shown=$(calc "$r" 4); fi
  printf '%s× %s' "$shown" "$([ "$ok" = 1 ] && echo PASS || echo MISS)"
}
# faults KEY_PREFIX : "c / s PASS" when both sides are under 100 per GB.
faults() {
  local c=${R[$1,flt_c]:-} s=${R[$1,flt_s]:-}
  if [ -z "$c" ] || [ -z "$s" ]; then printf '—'; return 0; fi
  printf '%s / %s %s' "$c" "$s" "$(awk "BEGIN { print ($c < 100 && $s < 100) ? \"PASS\" : \"MISS\" }")"
}

targets_table() {
  if has "$PARTS" bulk; then
    echo "| load | TLS CPU s/GB ≤ 0.5× stunnel4 | TLS CPU s/GB ≤ 0.7× ssh -L | TLS Gbit/s ≥ 1.3× stunnel4 | TLS Gbit/s ≥ 1.0× ssh -L | QUIC CPU s/GB ≤ 1.3× TLS | TLS faults/GB < 100 (client / server) | QUIC faults/GB < 100 (client / server) |"
    echo "|---|---|---|---|---|---|---|---|"
    local load l d p t1 t2
    for load in "${LOADS[@]}"; do
      IFS=: read -r l d p <<<"$load"
      if [ "$p" = 1 ]; then  # the throughput targets are for one stream
        t1=$(target "mtop-tls,$load,gbps" "stunnel,$load,gbps" ge 1.3)
        t2=$(target "mtop-tls,$load,gbps" "ssh,$load,gbps" ge 1.0)
      else t1="n/a"; t2="n/a"; fi
      echo "| $(load_label "$load") | $(target "mtop-tls,$load,cpu_sum" "stunnel,$load,cpu_sum" le 0.5) | $(target "mtop-tls,$load,cpu_sum" "ssh,$load,cpu_sum" le 0.7) | $t1 | $t2 | $(target "mtop-quic,$load,cpu_sum" "mtop-tls,$load,cpu_sum" le 1.3) | $(faults "mtop-tls,$load") | $(faults "mtop-quic,$load") |"
    done
    echo
  fi
  if has "$PARTS" tunnels; then
    echo "| tunnels | TLS CPU µs per tunnel (both sides) ≤ 0.65× trojan | QUIC tunnels/s ≥ 0.5× no proxy |"
    echo "|---|---|---|"
    echo "| 32 at once, 64 B echoed | $(target mtop-tls,tun_sum trojan,tun_sum le 0.65) | $(target mtop-quic,rate direct,rate ge 0.5) |"
  fi
}

bulk_table() {
  echo "| load | chain | Gbit/s | CPU s/GB client / server / sum | faults/GB client / server | CPU/GB × stunnel4 / × ssh -L | Gbit/s × stunnel4 / × ssh -L |"
  echo "|---|---|---|---|---|---|---|"
  local load set k cr gr
  for load in "${LOADS[@]}"; do
    for set in ${SETS//,/ }; do
      k="$set,$load"
      cr=""; gr=""
      if [[ "$set" == mtop-* ]]; then
        cr="$(ratio "$k,cpu_sum" "stunnel,$load,cpu_sum") / $(ratio "$k,cpu_sum" "ssh,$load,cpu_sum")"
        gr="$(ratio "$k,gbps" "stunnel,$load,gbps") / $(ratio "$k,gbps" "ssh,$load,gbps")"
      fi
      if [ "$set" = direct ]; then
        echo "| $(load_label "$load") | $set | $(f "$k,gbps") | | | | |"
      else
        echo "| $(load_label "$load") | $set | $(f "$k,gbps") | $(f "$k,cpu_c") / $(f "$k,cpu_s") / **$(f "$k,cpu_sum")** | $(v "$k,flt_c") / $(v "$k,flt_s") | $cr | $gr |"
      fi
    done
  done
  if [ "$QUIC_MODE" = 1 ]; then
    echo "| ${GTLS_FILE_MIB} MiB file over HTTP/3 | gtlsclient→gtlsserver | $(f gtls,gbps) | $(f gtls,cpu_c) / $(f gtls,cpu_s) / **$(f gtls,cpu_sum)** | | | |"
  fi
}

tunnel_table() {
  echo "| chain | tunnels/s (failed) | CPU µs per tunnel client / server / sum | CPU/tunnel × trojan | tunnels/s × no proxy | ping-pong p50 / p99 µs | connect→echo p50 / p99 µs | KiB per idle tunnel client / server (of N) |"
  echo "|---|---|---|---|---|---|---|---|"
  local set
  for set in ${SETS//,/ }; do
    local tr="" nr=""
    if [ "$set" != direct ]; then tr=$(ratio "$set,tun_sum" trojan,tun_sum); nr=$(ratio "$set,rate" direct,rate); fi
    [ "$set" = trojan ] && tr=""
    echo "| $set | $(v "$set,rate") ($(v "$set,rate_fail")) | $(f "$set,tun_c" 0) / $(f "$set,tun_s" 0) / **$(f "$set,tun_sum" 0)** | $tr | $nr | $(v "$set,pp_p50") / $(v "$set,pp_p99") | $(v "$set,open_p50") / $(v "$set,open_p99") | $(v "$set,idle_c") / $(v "$set,idle_s") ($(v "$set,idle_n")) |"
  done
}

TARGETS=$(targets_table)
# (awk, not grep | wc: grep finding nothing would stop the script under pipefail)
NPASS=$(awk '{ n += gsub(/PASS/, "") } END { print n + 0 }' <<<"$TARGETS")
NMISS=$(awk '{ n += gsub(/MISS/, "") } END { print n + 0 }' <<<"$TARGETS")
versions() {
  local parts=()
  has "$SETS" stunnel && parts+=("$(stunnel4 -version 2>&1 | grep -m1 '^stunnel' | cut -d' ' -f1-2)")
  has "$SETS" trojan && parts+=("$(trojan -v 2>&1 | grep -m1 -o 'trojan [0-9.]*')")
  has "$SETS" ssh && parts+=("$(ssh -V 2>&1 | cut -d, -f1)")
  parts+=("$(iperf3 --version | head -n 1 | cut -d' ' -f1-2)")
  local IFS=';'; printf '%s' "${parts[*]}" | sed 's/;/, /g'
}
case "$KIND" in
  full) TITLE="all chains, all loads" ;;
  quick) TITLE="quick subset" ;;
  quic) TITLE="QUIC report" ;;
  custom) TITLE="custom subset" ;;
esac
SECTION=$(cat <<TXT
### bench/run.sh — $TITLE (kind: $KIND)

- **When:** $STARTED, $((ELAPSED / 60)) min $((ELAPSED % 60)) s.
- **Command:** \`$COMMAND\`
- **Commit:** $GIT. Build: Release, -O2 -g.
- **Machine:** $MACHINE.
- **Peers:** $(versions).
- **Loads:** iperf3 -t $SECS, each load run once per chain, loads interleaved across chains ("up" = client → server, "down" = -R; N× = -P N; -l default = iperf3's 128 KiB).
  Tunnels: loadgen rate, 32 at once, 64 B echoed, ${RATE_SECS} s; ping-pong $ROUNDS × 64 B on one tunnel; connect→echo: $CONNLAT fresh tunnels one at a time; idle: $IDLE tunnels ($QUIC_IDLE over QUIC).
- **Measures:** CPU s/GB = utime + stime of the proxy's processes over the run (/proc/PID/stat; sshd: listener, monitor and session) / GB received by iperf3; faults/GB = minor page faults (field 10) / GB. "client" = climber, stunnel4 client, trojan forward client, ssh; "server" = mtop-server, stunnel4 server, trojan server, sshd. Ratios use unrounded values.

Targets (issue 13; TLS = mtop-tls, QUIC = mtop-quic; CPU = client + server; throughput targets for 1 stream): **$NPASS PASS, $NMISS MISS**.

$TARGETS
TXT
)
if has "$PARTS" bulk; then SECTION+=$'\n\nBulk (iperf3):\n\n'"$(bulk_table)"; fi
if has "$PARTS" tunnels; then SECTION+=$'\n\nTunnels (loadgen):\n\n'"$(tunnel_table)"; fi
printf '\n%s\n' "$SECTION"

if [ "$RECORD" = 1 ]; then
  record_results "$ROOT/bench/RESULTS.md" "$KIND" "$SECTION"
fi
