#!/usr/bin/env bash
# CPU per tunnel of two mtop builds and trojan (or no proxy), interleaved: the chains
# loadgen -> climber -> mtop-server -> echo ("new": the build folder's binaries; "base":
# mtop-server and climber copied from another commit into a folder) and trojan's or the direct
# one, all up at once, then ROUNDS rounds of `loadgen rate` (32 at once, 64 B echoed, SECS
# each) taking the chains in turn, each round starting with the next chain. Prints each round
# (CPU µs per tunnel: climber + server, their system time, and "ends" = loadgen + echo
# target, which no proxy's tunnel costs in all; tunnels/s; load average) and the medians of
# the per-round ratios: CPU per tunnel to trojan's, tunnels/s to no proxy's, new to base. Interleaving makes the ratios far
# steadier than separate runs on a shared machine (bench/HANDSHAKE_NOTES.md).
#
#   bench/ab_tunnels.sh BASE_DIR [ROUNDS [SECS]]
#     BASE_DIR   a folder holding mtop-server and climber of the build to compare against
#   Environment: BUILD_DIR (default build-bench; built by bench/run.sh or profile.sh),
#   TRANSPORT (tls or quic: the climbers' transport; default tls), CHAINS (default
#   "new base trojan" over TLS, "new base direct" over QUIC: the issue-13 targets).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BASE=${1:?usage: bench/ab_tunnels.sh BASE_DIR [ROUNDS [SECS]]}
ROUNDS=${2:-8}
SECS=${3:-3}
BUILD_DIR=${BUILD_DIR:-build-bench}
TRANSPORT=${TRANSPORT:-tls}
case "$TRANSPORT" in
  tls) CHAINS=${CHAINS:-new base trojan} ;;
  quic) CHAINS=${CHAINS:-new base direct} ;;
  *) echo "TRANSPORT is tls or quic, not $TRANSPORT" >&2; exit 2 ;;
esac
has_chain() { [[ " $CHAINS " == *" $1 "* ]]; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/chains.sh
source "$ROOT/bench/chains.sh"
WORK=
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"
LOADGEN=$ROOT/$BUILD_DIR/bench/loadgen
for b in "$LOADGEN" "$ROOT/$BUILD_DIR/apps/server/mtop-server" "$ROOT/$BUILD_DIR/apps/climber/climber" \
         "$BASE/mtop-server" "$BASE/climber"; do
  [ -x "$b" ] || die "missing $b"
done
if has_chain trojan; then
  command -v trojan >/dev/null || die "trojan is not installed (scripts/deps.sh --bench)"
fi
WORK=$(mktemp -d /tmp/mtop-ab.XXXXXX)
SERVER_BIN=$ROOT/$BUILD_DIR/apps/server/mtop-server
CLIMBER_BIN=$ROOT/$BUILD_DIR/apps/climber/climber
make_credentials
start_targets
ECHO_PID=$LAST_PID  # start_targets starts the echo target last
setup_mtop "$TRANSPORT"
for a in CH_ECHO CH_CECHO CH_SPIDS; do eval "$a[new]=\${$a[mtop-$TRANSPORT]}"; done
SERVER_BIN=$BASE/mtop-server
CLIMBER_BIN=$BASE/climber
setup_mtop "$TRANSPORT"
for a in CH_ECHO CH_CECHO CH_SPIDS; do eval "$a[base]=\${$a[mtop-$TRANSPORT]}"; done
if has_chain trojan; then setup_trojan; fi
if has_chain direct; then setup_direct; fi
log "machine: $(machine_line)"
log "new: $(git_line "$ROOT"); base: $BASE; transport: $TRANSPORT"
# Warm-up: the first tunnels fill the ticket caches and wait for the first password hash
# (seconds on a loaded machine), so go on until a second passes with tunnels completing.
for ch in $CHAINS; do
  for _ in $(seq 20); do
    w=$("$LOADGEN" rate --to "127.0.0.1:${CH_ECHO[$ch]}" --seconds 1 --concurrency 32 || true)
    [ "$(field "$w" ok)" -gt 0 ] 2>/dev/null && break
  done
done
# sys_seconds PID... : system CPU seconds (all threads) of the live PIDs, summed.
sys_seconds() {
  local pid files=()
  for pid in "$@"; do [ -r "/proc/$pid/stat" ] && files+=("/proc/$pid/stat"); done
  [ ${#files[@]} -gt 0 ] || { echo 0; return 0; }
  cat "${files[@]}" 2>/dev/null | awk -v hz="$(getconf CLK_TCK)" '
    { sub(/^.*\) /, ""); s += $13 } END { printf "%.4f\n", s / hz }'
}
declare -A V R
read -r -a CH_LIST <<<"$CHAINS"
for r in $(seq "$ROUNDS"); do
  out="round $r (load $(cut -d' ' -f1 /proc/loadavg)):"
  # Each round starts with the next chain: the chain measured first in a round ran 15-20 %
  # slower than the same build measured second (2026-12-07, load average 14-16).
  order=()
  for i in "${!CH_LIST[@]}"; do order+=("${CH_LIST[$(((i + r - 1) % ${#CH_LIST[@]}))]}"); done
  for ch in "${order[@]}"; do
    # The direct chain has no proxy: its CPU is not measured (0), only its tunnels/s.
    C=${CH_CECHO[$ch]}; S=${CH_SPIDS[$ch]}
    read -r c0 _f < <(proc_stat ${C:+"$C"}); read -r s0 _f < <(proc_stat ${S:+"$S"})
    read -r e0 _f < <(proc_stat "$ECHO_PID"); k0=$(sys_seconds ${C:+"$C"} ${S:+"$S"})
    # `times` after loadgen: its last line is the CPU time of this subshell's children, loadgen.
    res=$("$LOADGEN" rate --to "127.0.0.1:${CH_ECHO[$ch]}" --seconds "$SECS" --concurrency 32 && times)
    read -r c1 _f < <(proc_stat ${C:+"$C"}); read -r s1 _f < <(proc_stat ${S:+"$S"})
    read -r e1 _f < <(proc_stat "$ECHO_PID"); k1=$(sys_seconds ${C:+"$C"} ${S:+"$S"})
    line=$(head -n 1 <<<"$res")
    lg=$(tail -n 1 <<<"$res" | awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); n += t[1] * 60 + t[2] } print n }')
    ok=$(field "$line" ok)
    [ "${ok:-0}" -gt 0 ] || die "$ch: no tunnel completed: $line"
    V[$ch,$r]=$(calc "($c1 - $c0 + $s1 - $s0) * 1e6 / $ok" 0)
    R[$ch,$r]=$(field "$line" per_second)
    # ends: loadgen + echo target, the two ends every chain has (no proxy: the whole tunnel).
    ends=$(calc "($lg + $e1 - $e0) * 1e6 / $ok" 0)
    if [ "$ch" = direct ]; then
      out+=" direct=${R[$ch,$r]}/s (ends $ends)"
    else
      out+=" $ch=${V[$ch,$r]} ($(calc "($c1 - $c0) * 1e6 / $ok" 0)+$(calc "($s1 - $s0) * 1e6 / $ok" 0), sys $(calc "($k1 - $k0) * 1e6 / $ok" 0), ends $ends, ${R[$ch,$r]}/s)"
    fi
    sleep 0.5
  done
  echo "$out"
done
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
# ratios NAME EXPR : EXPR per round (with $r set), the list and its median.
ratios() {
  local name=$1 expr=$2 rs=() r
  for r in $(seq "$ROUNDS"); do rs+=("$(eval "calc \"$expr\" 3")"); done
  echo "$name per round: ${rs[*]}; median $(printf '%s\n' "${rs[@]}" | median)"
}
for ch in new base; do
  has_chain "$ch" || continue
  if has_chain trojan; then ratios "$ch/trojan (CPU per tunnel)" "\${V[$ch,\$r]} / \${V[trojan,\$r]}"; fi
  if has_chain direct; then ratios "$ch/direct (tunnels/s)" "\${R[$ch,\$r]} / \${R[direct,\$r]}"; fi
done
if has_chain new && has_chain base; then
  ratios "new/base (CPU per tunnel)" "\${V[new,\$r]} / \${V[base,\$r]}"
  ratios "new/base (tunnels/s)" "\${R[new,\$r]} / \${R[base,\$r]}"
fi
