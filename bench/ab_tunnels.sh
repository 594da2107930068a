#!/usr/bin/env bash
# CPU per tunnel of two mtop builds and trojan, interleaved: the chains loadgen -> climber ->
# mtop-server -> echo ("new": the build folder's binaries; "base": mtop-server and climber
# copied from another commit into a folder) and trojan's, all up at once, then ROUNDS rounds
# of `loadgen rate` (32 at once, 64 B echoed, SECS each) taking the chains in turn. Prints each
# round (CPU µs per tunnel, climber + server, and tunnels/s) and the median of the per-round
# ratios to trojan. Interleaving makes the ratios far steadier than separate runs on a shared
# machine (bench/HANDSHAKE_NOTES.md).
#
#   bench/ab_tunnels.sh BASE_DIR [ROUNDS [SECS]]
#     BASE_DIR   a folder holding mtop-server and climber of the build to compare against
#   Environment: BUILD_DIR (default build-bench; built by bench/run.sh or profile.sh),
#   CHAINS (default "new base trojan").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BASE=${1:?usage: bench/ab_tunnels.sh BASE_DIR [ROUNDS [SECS]]}
ROUNDS=${2:-8}
SECS=${3:-3}
BUILD_DIR=${BUILD_DIR:-build-bench}
CHAINS=${CHAINS:-new base trojan}
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
command -v trojan >/dev/null || die "trojan is not installed (scripts/deps.sh --bench)"
WORK=$(mktemp -d /tmp/mtop-ab.XXXXXX)
SERVER_BIN=$ROOT/$BUILD_DIR/apps/server/mtop-server
CLIMBER_BIN=$ROOT/$BUILD_DIR/apps/climber/climber
make_credentials
start_targets
setup_mtop tls
for a in CH_ECHO CH_CECHO CH_SPIDS; do eval "$a[new]=\${$a[mtop-tls]}"; done
SERVER_BIN=$BASE/mtop-server
CLIMBER_BIN=$BASE/climber
setup_mtop tls
for a in CH_ECHO CH_CECHO CH_SPIDS; do eval "$a[base]=\${$a[mtop-tls]}"; done
setup_trojan
log "machine: $(machine_line)"
log "new: $(git_line "$ROOT"); base: $BASE"
for ch in $CHAINS; do  # warm-up: the first tunnels fill the ticket caches
  "$LOADGEN" rate --to "127.0.0.1:${CH_ECHO[$ch]}" --seconds 1 --concurrency 32 >/dev/null
done
declare -A V
for r in $(seq "$ROUNDS"); do
  out="round $r:"
  for ch in $CHAINS; do
    C=${CH_CECHO[$ch]}; S=${CH_SPIDS[$ch]}
    read -r c0 _f < <(proc_stat "$C"); read -r s0 _f < <(proc_stat "$S")
    line=$("$LOADGEN" rate --to "127.0.0.1:${CH_ECHO[$ch]}" --seconds "$SECS" --concurrency 32)
    read -r c1 _f < <(proc_stat "$C"); read -r s1 _f < <(proc_stat "$S")
    ok=$(field "$line" ok)
    [ "${ok:-0}" -gt 0 ] || die "$ch: no tunnel completed: $line"
    V[$ch,$r]=$(calc "($c1 - $c0 + $s1 - $s0) * 1e6 / $ok" 0)
    out+=" $ch=${V[$ch,$r]} ($(calc "($c1 - $c0) * 1e6 / $ok" 0)+$(calc "($s1 - $s0) * 1e6 / $ok" 0), $(field "$line" per_second)/s)"
    sleep 0.5
  done
  echo "$out"
done
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
for ch in $CHAINS; do
  [ "$ch" = trojan ] && continue
  rs=()
  for r in $(seq "$ROUNDS"); do rs+=("$(calc "${V[$ch,$r]} / ${V[trojan,$r]}" 3)"); done
  echo "$ch/trojan per round: ${rs[*]}; median $(printf '%s\n' "${rs[@]}" | median)"
done
