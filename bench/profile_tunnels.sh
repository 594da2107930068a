#!/usr/bin/env bash
# Where the CPU of opening tunnels goes: starts loadgen's echo target and the chain
# loadgen -> climber -> mtop-server -> echo on loopback (TLS over TCP by default), runs
# `loadgen rate` (fresh tunnels, 32 at once, 64 B echoed each) and meanwhile records
# `perf record -g` of the climber and of mtop-server. Prints tunnels/s, CPU µs per tunnel of
# each side (/proc/PID/stat deltas / tunnels) and the top symbols of each side
# (perf report --stdio --no-children, self time). The companion of bench/profile.sh, which
# profiles bulk transfers.
#
#   bench/profile_tunnels.sh [options]
#     --transport tls|quic  the climber's transport (default tls)
#     --seconds N           length of the profiled rate run (default 8; 2 s warm-up first)
#     --concurrency N       tunnels at once (default 32, as bench/run.sh)
#     --top N               symbols listed per side (default 40)
#     --freq HZ             perf sampling frequency (default 999)
#     --dwarf               DWARF call graphs instead of frame pointers
#     --no-perf             only measure tunnels/s and CPU µs per tunnel (no perf attached)
#     --out DIR             keep climber.perf.data, server.perf.data and the report in DIR
#     --build-dir DIR       build folder (default build-bench)
#     --no-build            use the binaries already in the build folder
#     --keep                keep the work folder (configs, logs)
#     -h, --help            this text
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
COMMAND="bench/profile_tunnels.sh${*:+ $*}"

TRANSPORT=tls
SECS=8
CONC=32
TOP=40
FREQ=999
CALLGRAPH=(-g)
PERF=1
OUT=
BUILD_DIR=build-bench
DO_BUILD=1
KEEP=0

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --transport) TRANSPORT=$2; shift ;;
    --seconds) SECS=$2; shift ;;
    --concurrency) CONC=$2; shift ;;
    --top) TOP=$2; shift ;;
    --freq) FREQ=$2; shift ;;
    --dwarf) CALLGRAPH=(--call-graph "dwarf,16384") ;;
    --no-perf) PERF=0 ;;
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
for n in "$SECS" "$CONC" "$TOP" "$FREQ"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || bad "not a positive whole number: $n"
done

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/chains.sh
source "$ROOT/bench/chains.sh"
WORK=
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$PERF" = 1 ] && { command -v perf >/dev/null || die "perf is not installed (scripts/deps.sh --bench)"; }
[ "$DO_BUILD" = 1 ] && build "$ROOT" "$ROOT/$BUILD_DIR"
SERVER_BIN=$ROOT/$BUILD_DIR/apps/server/mtop-server
CLIMBER_BIN=$ROOT/$BUILD_DIR/apps/climber/climber
LOADGEN=$ROOT/$BUILD_DIR/bench/loadgen
for b in "$SERVER_BIN" "$CLIMBER_BIN" "$LOADGEN"; do [ -x "$b" ] || die "missing $b (build first)"; done
ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d /tmp/mtop-profile-tunnels.XXXXXX)
if [ -n "$OUT" ]; then mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd); else OUT=$WORK; fi
log "work folder $WORK; perf data in $OUT"

EVENT=cycles
if [ "$PERF" = 1 ] && perf stat -e cycles -- true 2>&1 | grep -q 'not supported\|not counted'; then
  EVENT=cpu-clock
fi

make_credentials
start_targets
CHAIN=mtop-$TRANSPORT
setup_chain "$CHAIN"
CPID=${CH_CECHO[$CHAIN]}
SPID=${CH_SPIDS[$CHAIN]}
PORT=${CH_ECHO[$CHAIN]}

log "warm-up: 2 s of the same load"
"$LOADGEN" rate --to "127.0.0.1:$PORT" --seconds 2 --concurrency "$CONC" >"$WORK/warmup.txt" 2>&1 \
  || die "warm-up failed: $(tail -n 2 "$WORK/warmup.txt")"

WINDOW=$((SECS + 1))
declare -A REC
if [ "$PERF" = 1 ]; then
  for side in climber server; do
    pid=$CPID; [ "$side" = server ] && pid=$SPID
    start "$WORK/$side.record.log" perf record "${CALLGRAPH[@]}" -e "$EVENT" -F "$FREQ" -p "$pid" \
      -o "$OUT/$side.perf.data" -- sleep "$WINDOW"
    REC[$side]=$LAST_PID
  done
  sleep 0.5
fi
read -r c0 _f < <(proc_stat "$CPID"); read -r s0 _f < <(proc_stat "$SPID")
line=$(timeout $((SECS + 60)) "$LOADGEN" rate --to "127.0.0.1:$PORT" --seconds "$SECS" \
         --concurrency "$CONC") || die "loadgen rate failed: $line"
read -r c1 _f < <(proc_stat "$CPID"); read -r s1 _f < <(proc_stat "$SPID")
for p in "${REC[@]}"; do
  for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  stop_pid "$p"
done
OK=$(field "$line" ok)
[ "${OK:-0}" -gt 0 ] || die "no tunnel completed: $line"

{
  echo "### bench/profile_tunnels.sh — mtop over $TRANSPORT, loadgen rate, $CONC at once, $SECS s"
  echo
  echo "- **When:** $(date -u '+%Y-%m-%d %H:%M UTC'). **Command:** \`$COMMAND\`"
  echo "- **Commit:** $(git_line "$ROOT"). Build: Release, -O2 -g."
  echo "- **Machine:** $(machine_line)."
  [ "$PERF" = 1 ] && echo "- **perf:** record ${CALLGRAPH[*]} -e $EVENT -F $FREQ on each process for ${WINDOW} s around the run."
  echo "- **loadgen:** $line"
  echo
  echo "| tunnels | climber µs/tunnel | mtop-server µs/tunnel | sum |"
  echo "|---|---|---|---|"
  echo "| $OK | $(calc "($c1 - $c0) * 1e6 / $OK" 0) | $(calc "($s1 - $s0) * 1e6 / $OK" 0) | $(calc "($c1 - $c0 + $s1 - $s0) * 1e6 / $OK" 0) |"
  if [ "$PERF" = 1 ]; then
    perf_top_report climber "$OUT" "$WORK" "$TOP"
    perf_top_report server "$OUT" "$WORK" "$TOP"
  fi
  if [ "$PERF" = 1 ] && [ "$OUT" != "$WORK" ]; then
    printf '\nperf data: %s/climber.perf.data, %s/server.perf.data (perf report -i FILE)\n' "$OUT" "$OUT"
  fi
} | tee "$WORK/profile.md"
if [ "$OUT" != "$WORK" ]; then cp "$WORK/profile.md" "$OUT/profile.md"; fi
