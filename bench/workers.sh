#!/usr/bin/env bash
# One worker against two (config "workers", issue 11), side by side in one run: two chains
# loadgen/iperf3 -> climber -> mtop-server -> target over TLS, the same but for the server's
# workers (mtop-tls-w1: 1, mtop-tls-w2: 2), both up at once. ROUNDS rounds take the chains in
# turn with the same loads, so each ratio comes from the same minutes of a shared machine:
#   bulk     iperf3 -P 8 -t SECS through the chain (client -> server), Gbit/s
#   tunnels  loadgen rate, 32 at once, 64 B echoed, SECS: tunnels/s
# Prints each round and the median of the per-round ratios w2/w1, and records them in
# bench/RESULTS.md (kind "workers", replacing the previous run) with the machine, the commit
# and the load average. TLS only: a climber carries its QUIC tunnels as streams of one
# connection, which one worker owns, so QUIC gains from workers only with many climbers.
#
#   bench/workers.sh [ROUNDS [SECS]]     (defaults 6 and 5)
#   Environment: BUILD_DIR (default build-bench; built here unless NO_BUILD=1),
#   NO_RECORD=1 to leave bench/RESULTS.md alone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${1:-6}
SECS=${2:-5}
BUILD_DIR=${BUILD_DIR:-build-bench}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/chains.sh
source "$ROOT/bench/chains.sh"
WORK=
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"
command -v iperf3 >/dev/null || die "iperf3 is not installed (scripts/deps.sh --bench)"
[ "${NO_BUILD:-0}" = 1 ] || build "$ROOT" "$ROOT/$BUILD_DIR"
LOADGEN=$ROOT/$BUILD_DIR/bench/loadgen
SERVER_BIN=$ROOT/$BUILD_DIR/apps/server/mtop-server
CLIMBER_BIN=$ROOT/$BUILD_DIR/apps/climber/climber
for b in "$LOADGEN" "$SERVER_BIN" "$CLIMBER_BIN"; do [ -x "$b" ] || die "missing $b"; done
WORK=$(mktemp -d /tmp/mtop-workers.XXXXXX)
MACHINE=$(machine_line)
COMMIT=$(git_line "$ROOT")
make_credentials
start_targets
setup_mtop tls 1
setup_mtop tls 2
CHAINS="mtop-tls-w1 mtop-tls-w2"
log "machine: $MACHINE"
log "commit: $COMMIT"
for ch in $CHAINS; do  # warm-up: the first tunnels fill the credential and ticket caches
  # (the first password check alone can take seconds on a loaded machine: none may finish)
  "$LOADGEN" rate --to "127.0.0.1:${CH_ECHO[$ch]}" --seconds 3 --concurrency 32 >/dev/null || true
done

declare -A GBPS RATE
ROWS=
for r in $(seq "$ROUNDS"); do
  for ch in $CHAINS; do
    json=$WORK/iperf-$ch-$r.json
    timeout $((SECS + 30)) iperf3 -c 127.0.0.1 -p "${CH_IPERF[$ch]}" -t "$SECS" -P 8 -J >"$json" \
      || die "$ch: iperf3 failed: $(tail -n 3 "$json" | tr '\n' ' ')"
    GBPS[$ch,$r]=$(python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' "$json")
    sleep 0.5
    line=$("$LOADGEN" rate --to "127.0.0.1:${CH_ECHO[$ch]}" --seconds "$SECS" --concurrency 32)
    ok=$(field "$line" ok)
    [ "${ok:-0}" -gt 0 ] || die "$ch: no tunnel completed: $line"
    RATE[$ch,$r]=$(field "$line" per_second)
    sleep 0.5
  done
  row="| $r | ${GBPS[mtop-tls-w1,$r]} | ${GBPS[mtop-tls-w2,$r]} | $(calc "${GBPS[mtop-tls-w2,$r]} / ${GBPS[mtop-tls-w1,$r]}" 2) | ${RATE[mtop-tls-w1,$r]} | ${RATE[mtop-tls-w2,$r]} | $(calc "${RATE[mtop-tls-w2,$r]} / ${RATE[mtop-tls-w1,$r]}" 2) |"
  echo "$row"
  ROWS+="$row"$'\n'
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
ratios() {  # ratios ARRAY : the per-round w2/w1 ratios of GBPS or RATE, one a line
  local -n v=$1
  for r in $(seq "$ROUNDS"); do calc "${v[mtop-tls-w2,$r]} / ${v[mtop-tls-w1,$r]}" 3; echo; done
}
BULK=$(ratios GBPS | median)
TUNNELS=$(ratios RATE | median)
echo "median w2/w1: bulk (iperf3 -P 8) $BULK, tunnels/s $TUNNELS"

SECTION="### bench/workers.sh — 1 worker against 2 (kind: workers)

$(date -u '+%Y-%m-%d %H:%M UTC') — \`bench/workers.sh $ROUNDS $SECS\`

- **Machine:** $MACHINE; load average at the end $LOAD_END.
- **Commit:** $COMMIT.
- **Chains:** iperf3 / loadgen → climber → TLS 1.3 → mtop-server → target on loopback, both
  up at once; mtop-tls-w1 runs \`\"workers\": 1\`, mtop-tls-w2 \`\"workers\": 2\`. One climber
  per chain (one loop). Loads per round, chains in turn: iperf3 -P 8 -t $SECS (up), then
  \`loadgen rate\` 32 at once, 64 B echoed, $SECS s.

| round | bulk w1 Gbit/s | bulk w2 Gbit/s | w2/w1 | tunnels/s w1 | tunnels/s w2 | w2/w1 |
|---|---|---|---|---|---|---|
${ROWS%$'\n'}

Median of the per-round ratios w2/w1: **bulk $BULK, tunnels/s $TUNNELS**."
if [ "${NO_RECORD:-0}" != 1 ]; then
  record_results "$ROOT/bench/RESULTS.md" workers "$SECTION"
fi
