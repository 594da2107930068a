#!/usr/bin/env bash
# Where the CPU of an mtop bulk transfer goes, in one command: starts the chain iperf3 ->
# climber -> mtop-server -> iperf3 -s on loopback (TLS over TCP or QUIC), runs an iperf3 bulk
# load through it, and meanwhile records `perf record -g` of the climber and of mtop-server
# (`-e cycles`, or `-e cpu-clock` where the VM has no hardware counters) and
# `perf stat -e page-faults` of each. Prints throughput, CPU s/GB and page faults per GB of each
# side (/proc/PID/stat deltas), the shared objects and the top symbols of each side
# (perf report --stdio --no-children, self time).
#
#   bench/profile.sh [options]
#     --transport tls|quic  the climber's transport (default tls)
#     --seconds N           length of the profiled iperf3 run (default 10; 1 s warm-up first)
#     --reverse             iperf3 -R: data flows server -> client
#     --parallel N          iperf3 -P N (default 1)
#     --length L            iperf3 -l L, e.g. 16K or 1M (default: iperf3's own, 128 KiB)
#     --top N               symbols listed per side (default 25)
#     --freq HZ             perf sampling frequency (default 999)
#     --dwarf               call graphs from DWARF unwinding (--call-graph dwarf) instead of
#                           frame pointers (-g): deeper stacks through code built without frame
#                           pointers, much larger perf data
#     --out DIR             keep climber.perf.data, server.perf.data and the reports in DIR
#     --build-dir DIR       build folder (default build-bench)
#     --no-build            use the binaries already in the build folder
#     --keep                keep the work folder (configs, logs, perf data)
#     -h, --help            this text
# Needs perf (linux-perf) and iperf3 (scripts/deps.sh --bench); run as root or with
# kernel.perf_event_paranoid <= 1 to profile other processes. About 20 s plus the build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
COMMAND="bench/profile.sh${*:+ $*}"

TRANSPORT=tls
SECS=10
REVERSE=0
PARALLEL=1
LENGTH=default
TOP=25
FREQ=999
CALLGRAPH=(-g)
OUT=
BUILD_DIR=build-bench
DO_BUILD=1
KEEP=0

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --transport) TRANSPORT=$2; shift ;;
    --seconds) SECS=$2; shift ;;
    --reverse) REVERSE=1 ;;
    --parallel) PARALLEL=$2; shift ;;
    --length) LENGTH=$2; shift ;;
    --top) TOP=$2; shift ;;
    --freq) FREQ=$2; shift ;;
    --dwarf) CALLGRAPH=(--call-graph "dwarf,16384") ;;
    --out) OUT=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --no-build) DO_BUILD=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
bad() { echo "$*" >&2; exit 2; }
[[ "$TRANSPORT" =~ ^(tls|quic)$ ]] || bad "--transport is tls or quic, not $TRANSPORT"
for n in "$SECS" "$PARALLEL" "$TOP" "$FREQ"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || bad "not a positive whole number: $n"
done
[[ "$LENGTH" =~ ^(default|[1-9][0-9]*[KM]?)$ ]] || bad "not an iperf3 length: $LENGTH"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/chains.sh
source "$ROOT/bench/chains.sh"
WORK=
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v perf >/dev/null || die "perf is not installed (scripts/deps.sh --bench)"
command -v iperf3 >/dev/null || die "iperf3 is not installed (scripts/deps.sh --bench)"
[ "$DO_BUILD" = 1 ] && build "$ROOT" "$ROOT/$BUILD_DIR"
SERVER_BIN=$ROOT/$BUILD_DIR/apps/server/mtop-server
CLIMBER_BIN=$ROOT/$BUILD_DIR/apps/climber/climber
LOADGEN=$ROOT/$BUILD_DIR/bench/loadgen
for b in "$SERVER_BIN" "$CLIMBER_BIN" "$LOADGEN"; do [ -x "$b" ] || die "missing $b (build first)"; done

WORK=$(mktemp -d /tmp/mtop-profile.XXXXXX)
if [ -n "$OUT" ]; then mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd); else OUT=$WORK; fi
log "work folder $WORK; perf data in $OUT"

# Hardware cycles when the VM exposes them, the kernel's clock otherwise.
EVENT=cycles
if perf stat -e cycles -- true 2>&1 | grep -q 'not supported\|not counted'; then EVENT=cpu-clock; fi

make_credentials
start_targets
CHAIN=mtop-$TRANSPORT
setup_chain "$CHAIN"
CPID=${CH_CIPERF[$CHAIN]}
SPID=${CH_SPIDS[$CHAIN]}
PORT=${CH_IPERF[$CHAIN]}

args=()
[ "$LENGTH" != default ] && args+=(-l "$LENGTH")
[ "$REVERSE" = 1 ] && args+=(-R)
[ "$PARALLEL" != 1 ] && args+=(-P "$PARALLEL")
LOAD="iperf3 -t $SECS${args[*]:+ ${args[*]}}"

log "warm-up: 1 s of the same load"
timeout 60 iperf3 -c 127.0.0.1 -p "$PORT" -t 1 "${args[@]}" >"$WORK/warmup.txt" 2>&1 \
  || die "warm-up iperf3 failed: $(tail -n 2 "$WORK/warmup.txt")"

# perf attaches to the running proxies for the whole run (+ 1 s of margin).
WINDOW=$((SECS + 2))
declare -A REC STAT
for side in climber server; do
  pid=$CPID; [ "$side" = server ] && pid=$SPID
  start "$WORK/$side.record.log" perf record "${CALLGRAPH[@]}" -e "$EVENT" -F "$FREQ" -p "$pid" \
    -o "$OUT/$side.perf.data" -- sleep "$WINDOW"
  REC[$side]=$LAST_PID
  start "$WORK/$side.stat.log" perf stat -x, -e page-faults,minor-faults,major-faults -p "$pid" \
    -o "$OUT/$side.stat.csv" -- sleep "$WINDOW"
  STAT[$side]=$LAST_PID
done
sleep 0.5
read -r c0 f0 < <(proc_stat "$CPID"); read -r s0 g0 < <(proc_stat "$SPID")
log "profiling: $LOAD through $CHAIN (climber $CPID, mtop-server $SPID), perf -e $EVENT -F $FREQ"
timeout $((SECS + 30)) iperf3 -c 127.0.0.1 -p "$PORT" -t "$SECS" -J "${args[@]}" >"$WORK/iperf.json" 2>&1 \
  || die "iperf3 failed: $(grep -m1 '"error"' "$WORK/iperf.json" || tail -n 2 "$WORK/iperf.json")"
read -r c1 f1 < <(proc_stat "$CPID"); read -r s1 g1 < <(proc_stat "$SPID")
for p in "${REC[@]}" "${STAT[@]}"; do
  for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  stop_pid "$p"
done

read -r BYTES BPS < <(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))["end"]["sum_received"]
print(int(s["bytes"]), s["bits_per_second"])' "$WORK/iperf.json")
GB=$(calc "$BYTES / 1e9" 6)
stat_count() {  # stat_count SIDE EVENT : the count perf stat wrote for EVENT
  awk -F, -v ev="$2" '$3 == ev { print $1 }' "$OUT/$1.stat.csv" 2>/dev/null | head -n 1
}

{
  echo "### bench/profile.sh — mtop over $TRANSPORT, $LOAD"
  echo
  echo "- **When:** $(date -u '+%Y-%m-%d %H:%M UTC'). **Command:** \`$COMMAND\`"
  echo "- **Commit:** $(git_line "$ROOT"). Build: Release, -O2 -g."
  echo "- **Machine:** $(machine_line)."
  echo "- **perf:** record ${CALLGRAPH[*]} -e $EVENT -F $FREQ on each process for ${WINDOW} s around the run; stat -e page-faults."
  echo
  echo "| | climber | mtop-server |"
  echo "|---|---|---|"
  echo "| throughput | $(calc "$BPS / 1e9" 2) Gbit/s, $(calc "$BYTES / 1e6" 0) MB received | |"
  echo "| CPU s/GB (/proc, over the iperf3 run) | $(calc "($c1 - $c0) / $GB" 2) | $(calc "($s1 - $s0) / $GB" 2) |"
  echo "| minor faults/GB (/proc, over the iperf3 run) | $(calc "($f1 - $f0) / $GB" 0) | $(calc "($g1 - $g0) / $GB" 0) |"
  echo "| perf stat page-faults (minor / major), ${WINDOW} s window | $(stat_count climber page-faults) ($(stat_count climber minor-faults) / $(stat_count climber major-faults)) | $(stat_count server page-faults) ($(stat_count server minor-faults) / $(stat_count server major-faults)) |"
  perf_top_report climber "$OUT" "$WORK" "$TOP"
  perf_top_report server "$OUT" "$WORK" "$TOP"
  if [ "$OUT" != "$WORK" ]; then
    printf '\nperf data: %s/climber.perf.data, %s/server.perf.data (perf report -i FILE)\n' "$OUT" "$OUT"
  fi
} | tee "$WORK/profile.md"
if [ "$OUT" != "$WORK" ]; then cp "$WORK/profile.md" "$OUT/profile.md"; fi
