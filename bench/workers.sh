#!/usr/bin/env bash
# One worker against two (config "workers", issue 11), side by side in one run: two chains
# loadgen/iperf3 -> climbers -> mtop-server -> target over TLS, the same but for the server's
# workers (mtop-tls-w1: 1, mtop-tls-w2: 2), both up at once. ROUNDS rounds take the chains in
# turn with the same loads, so each ratio comes from the same minutes of a shared machine:
#   bulk     iperf3 -P 8 -t SECS through the chain (client -> server), split over the chain's
#            CLIMBERS climbers (one iperf3 -P 8/CLIMBERS each, each to its own iperf3 -s, run
#            at once): Gbit/s summed, CPU s per GB of the server, and how busy each process
#            and the machine were (% of one core; machine: % of all cores)
#   tunnels  loadgen rate, 32 at once split over the climbers, 64 B echoed, SECS: tunnels/s
# Prints each round and the median of the per-round ratios w2/w1, and records them in
# bench/RESULTS.md (kind "workers", replacing the previous run) with the machine, the commit
# and the load average. TLS only: a climber carries its QUIC tunnels as streams of one
# connection, which one worker owns, so QUIC gains from workers only with many climbers.
#
# Why two climbers (the default): a climber is one event loop, and over TLS it spent more CPU
# per GB than the server in every run so far (1.4-1.5 against 1.1-1.2 s/GB up; it also runs the
# client side of every handshake). With one climber the chain saturates that one loop before a one-worker
# server does, and a second worker cannot show (bench/RESULTS.md, "Issue 11: what limits
# the two-worker bulk run"). Two climbers give the server two loops' worth of load to spread.
# On a 2-core machine the loads, climbers and server together need more than the two cores
# anyway: then the machine is the limit (the "machine busy" column near 100 %), and the bulk
# ratio says only that a second worker costs nothing, not how far it scales; compare the
# server's CPU s/GB there, and run the scaling figure on 4 cores or more.
#
#   bench/workers.sh [ROUNDS [SECS]]     (defaults 6 and 5)
#   Environment: CLIMBERS (1, 2, 4 or 8 climbers per chain; default 2), BUILD_DIR (default
#   build-bench; built here unless NO_BUILD=1), NO_RECORD=1 to leave bench/RESULTS.md alone,
#   PROFILE=DIR to record `perf record -g` of each chain's server and climbers during round 1's
#   bulk load into DIR and print their top symbols.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${1:-6}
SECS=${2:-5}
CLIMBERS=${CLIMBERS:-2}
BUILD_DIR=${BUILD_DIR:-build-bench}
PROFILE=${PROFILE:-}
[[ "$CLIMBERS" =~ ^(1|2|4|8)$ ]] || { echo "CLIMBERS is 1, 2, 4 or 8 (iperf3 -P 8 is split over them), not $CLIMBERS" >&2; exit 2; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/chains.sh
source "$ROOT/bench/chains.sh"
WORK=
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"
command -v iperf3 >/dev/null || die "iperf3 is not installed (scripts/deps.sh --bench)"
[ -z "$PROFILE" ] || command -v perf >/dev/null || die "perf is not installed (scripts/deps.sh --bench)"
[ "${NO_BUILD:-0}" = 1 ] || build "$ROOT" "$ROOT/$BUILD_DIR"
LOADGEN=$ROOT/$BUILD_DIR/bench/loadgen
SERVER_BIN=$ROOT/$BUILD_DIR/apps/server/mtop-server
CLIMBER_BIN=$ROOT/$BUILD_DIR/apps/climber/climber
for b in "$LOADGEN" "$SERVER_BIN" "$CLIMBER_BIN"; do [ -x "$b" ] || die "missing $b"; done
WORK=$(mktemp -d /tmp/mtop-workers.XXXXXX)
if [ -n "$PROFILE" ]; then mkdir -p "$PROFILE"; PROFILE=$(cd "$PROFILE" && pwd); fi
MACHINE=$(machine_line)
COMMIT=$(git_line "$ROOT")
make_credentials
start_targets
# One iperf3 -s per climber: an iperf3 server runs one test at a time.
IPERF_PORTS=("$IPERF_PORT")
for _ in $(seq 2 "$CLIMBERS"); do
  port=$(free_port)
  start "$WORK/iperf3-$port.log" iperf3 -s -B 127.0.0.1 -p "$port" --idle-timeout 30
  wait_port "$port" "$LAST_PID" "$WORK/iperf3-$port.log"
  IPERF_PORTS+=("$port")
done
CHAINS="mtop-tls-w1 mtop-tls-w2"
# Per chain: the climbers' iperf3 and echo ports and their PIDs, in the order of IPERF_PORTS.
declare -A BULK_PORTS ECHO_PORTS CLIMBER_PIDS
for w in 1 2; do
  ch=mtop-tls-w$w
  setup_mtop tls "$w"
  BULK_PORTS[$ch]=${CH_IPERF[$ch]}; ECHO_PORTS[$ch]=${CH_ECHO[$ch]}; CLIMBER_PIDS[$ch]=${CH_CIPERF[$ch]}
  for k in $(seq 2 "$CLIMBERS"); do
    start_climber "$ch-c$k" tls "${CH_SPORT[$ch]}" "${IPERF_PORTS[$((k - 1))]}"
    BULK_PORTS[$ch]+=" $CLIMBER_IPERF"; ECHO_PORTS[$ch]+=" $CLIMBER_ECHO"; CLIMBER_PIDS[$ch]+=" $LAST_PID"
  done
done
log "machine: $MACHINE"
log "commit: $COMMIT"
log "$CLIMBERS climber(s) per chain"

# rate CHAIN SECS : tunnels/s through all the chain's climbers at once (32 at once in all).
rate() {
  local ch=$1 secs=$2 port i=0 total=0 line ok
  local pids=()
  for port in ${ECHO_PORTS[$ch]}; do
    "$LOADGEN" rate --to "127.0.0.1:$port" --seconds "$secs" --concurrency $((32 / CLIMBERS)) \
      >"$WORK/rate-$ch-$i.out" 2>&1 &
    pids+=("$!"); PIDS+=("$!"); i=$((i + 1))
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || true
    line=$(cat "$WORK/rate-$ch-$i.out")
    ok=$(field "$line" ok)
    [ "${ok:-0}" -gt 0 ] || { echo "$ch: no tunnel completed: $line" >&2; return 1; }
    total=$(calc "$total + $(field "$line" per_second)" 1)
  done
  echo "$total"
}

for ch in $CHAINS; do  # warm-up: the first tunnels fill the credential and ticket caches
  # (the first password check alone can take seconds on a loaded machine: none may finish)
  rate "$ch" 3 >/dev/null || true
done

# machine_busy : "BUSY TOTAL" jiffies of all CPUs so far, from /proc/stat's cpu line: busy =
# user + nice + system + irq + softirq; total adds idle, iowait and steal (time the hypervisor
# gave to other guests). guest and guest_nice are inside user and nice already.
machine_busy() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, t; exit }' /proc/stat; }

# bulk CHAIN ROUND : iperf3 -P 8 split over the chain's climbers, all at once. Sets GBPS, SCPU
# (server CPU s/GB) and BUSY (per-process and machine % of the wall time).
declare -A GBPS SCPU BUSY
bulk() {
  local ch=$1 r=$2 port k=0 pids=() recs=() t0 t1 m0 m1 mt0 mt1 s0 s1 _f bytes=0 bps=0 b p
  local spid=${CH_SPIDS[$ch]} clist
  read -r -a clist <<<"${CLIMBER_PIDS[$ch]}"
  if [ -n "$PROFILE" ] && [ "$r" = 1 ]; then
    local side pid
    for side in server "${clist[@]}"; do
      pid=$side; [ "$side" = server ] && pid=$spid
      [ "$side" = server ] || side=climber-$pid
      start "$WORK/$ch-$side.record.log" perf record -g -e "$PERF_EVENT" -F 999 -p "$pid" \
        -o "$PROFILE/$ch-$side.perf.data" -- sleep $((SECS + 1))
      recs+=("$LAST_PID")
    done
    sleep 0.3
  fi
  declare -A c0
  for p in "${clist[@]}"; do c0[$p]=$(cpu_seconds "$p"); done
  read -r s0 _f < <(proc_stat "$spid")
  read -r m0 mt0 < <(machine_busy)
  t0=$(date +%s.%N)
  for port in ${BULK_PORTS[$ch]}; do
    timeout $((SECS + 30)) iperf3 -c 127.0.0.1 -p "$port" -t "$SECS" -P $((8 / CLIMBERS)) -J \
      >"$WORK/iperf-$ch-$r-$k.json" 2>&1 &
    pids+=("$!"); PIDS+=("$!"); k=$((k + 1))
  done
  for k in "${!pids[@]}"; do
    wait "${pids[$k]}" || die "$ch: iperf3 failed: $(tail -n 3 "$WORK/iperf-$ch-$r-$k.json" | tr '\n' ' ')"
  done
  t1=$(date +%s.%N)
  read -r m1 mt1 < <(machine_busy)
  read -r s1 _f < <(proc_stat "$spid")
  local busy_c=
  for p in "${clist[@]}"; do
    busy_c+="${busy_c:+ / }$(calc "100 * ($(cpu_seconds "$p") - ${c0[$p]}) / ($t1 - $t0)" 0)"
  done
  for rec in "${recs[@]}"; do
    for _ in $(seq 100); do kill -0 "$rec" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$rec"
  done
  for k in "${!pids[@]}"; do
    read -r b p < <(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))["end"]["sum_received"]
print(int(s["bytes"]), s["bits_per_second"])' "$WORK/iperf-$ch-$r-$k.json")
    bytes=$((bytes + b)); bps=$(calc "$bps + $p" 0)
  done
  GBPS[$ch,$r]=$(calc "$bps / 1e9" 3)
  SCPU[$ch,$r]=$(calc "($s1 - $s0) / ($bytes / 1e9)" 3)
  BUSY[$ch,$r]="$busy_c | $(calc "100 * ($s1 - $s0) / ($t1 - $t0)" 0) | $(calc "100 * ($m1 - $m0) / ($mt1 - $mt0)" 0)"
}

PERF_EVENT=cycles
if [ -n "$PROFILE" ] && perf stat -e cycles -- true 2>&1 | grep -q 'not supported\|not counted'; then
  PERF_EVENT=cpu-clock
fi
declare -A RATE
ROWS=
BUSY_ROWS=
for r in $(seq "$ROUNDS"); do
  for ch in $CHAINS; do
    bulk "$ch" "$r"
    sleep 0.5
    RATE[$ch,$r]=$(rate "$ch" "$SECS") || die "tunnels failed"
    sleep 0.5
    BUSY_ROWS+="| $r | $ch | ${BUSY[$ch,$r]} |"$'\n'
  done
  row="| $r | ${GBPS[mtop-tls-w1,$r]} | ${GBPS[mtop-tls-w2,$r]} | $(calc "${GBPS[mtop-tls-w2,$r]} / ${GBPS[mtop-tls-w1,$r]}" 2) | ${SCPU[mtop-tls-w1,$r]} | ${SCPU[mtop-tls-w2,$r]} | $(calc "${SCPU[mtop-tls-w2,$r]} / ${SCPU[mtop-tls-w1,$r]}" 2) | ${RATE[mtop-tls-w1,$r]} | ${RATE[mtop-tls-w2,$r]} | $(calc "${RATE[mtop-tls-w2,$r]} / ${RATE[mtop-tls-w1,$r]}" 2) |"
  echo "$row"
  ROWS+="$row"$'\n'
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
ratios() {  # ratios ARRAY : the per-round w2/w1 ratios of GBPS, SCPU or RATE, one a line
  local -n v=$1
  for r in $(seq "$ROUNDS"); do calc "${v[mtop-tls-w2,$r]} / ${v[mtop-tls-w1,$r]}" 3; echo; done
}
BULK=$(ratios GBPS | median)
CPUGB=$(ratios SCPU | median)
TUNNELS=$(ratios RATE | median)
echo "median w2/w1: bulk (iperf3 -P 8) $BULK, server CPU s/GB $CPUGB, tunnels/s $TUNNELS"
printf '| round | chain | climbers, %% of one core each | server, %% of one core | machine busy, %% of all %s cores |\n|---|---|---|---|---|\n%s' \
  "$(nproc)" "$BUSY_ROWS"

SECTION="### bench/workers.sh — 1 worker against 2 (kind: workers)

$(date -u '+%Y-%m-%d %H:%M UTC') — \`CLIMBERS=$CLIMBERS bench/workers.sh $ROUNDS $SECS\`

- **Machine:** $MACHINE; load average at the end $LOAD_END.
- **Commit:** $COMMIT.
- **Chains:** iperf3 / loadgen → $CLIMBERS climber(s) → TLS 1.3 → mtop-server → target on
  loopback, both up at once; mtop-tls-w1 runs \`\"workers\": 1\`, mtop-tls-w2 \`\"workers\": 2\`.
  Loads per round, chains in turn: iperf3 -P 8 -t $SECS (up) split over the climbers (one
  iperf3 -P $((8 / CLIMBERS)) each, at once, each to its own iperf3 -s), then \`loadgen rate\`
  32 at once in all, 64 B echoed, $SECS s. Server CPU s/GB = utime + stime of mtop-server
  (/proc/PID/stat) / GB received.

| round | bulk w1 Gbit/s | bulk w2 Gbit/s | w2/w1 | server CPU s/GB w1 | w2 | w2/w1 | tunnels/s w1 | tunnels/s w2 | w2/w1 |
|---|---|---|---|---|---|---|---|---|---|
${ROWS%$'\n'}

Median of the per-round ratios w2/w1: **bulk $BULK, server CPU s/GB $CPUGB, tunnels/s $TUNNELS**.

How busy each process was during the bulk loads (CPU time / wall time; 100 % = one core busy):

| round | chain | climbers, % of one core each | server, % of one core | machine busy, % of all $(nproc) cores |
|---|---|---|---|---|
${BUSY_ROWS%$'\n'}"
if [ -n "$PROFILE" ]; then
  {
    for ch in $CHAINS; do
      perf_top_report "$ch-server" "$PROFILE" "$WORK" 20
      for p in ${CLIMBER_PIDS[$ch]}; do perf_top_report "$ch-climber-$p" "$PROFILE" "$WORK" 20; done
    done
  } | tee "$PROFILE/profile.md"
fi
if [ "${NO_RECORD:-0}" != 1 ]; then
  record_results "$ROOT/bench/RESULTS.md" workers "$SECTION"
fi
