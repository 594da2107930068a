#!/usr/bin/env bash
# Self-test of the benchmark tools. First the scripts' command lines (no process started):
# bench/run.sh, bench/profile.sh and bench/reverse.sh --help document every option their parsers
# accept, and unknown options and bad values are refused with status 2 before anything is built
# or started.
# Then the load generator against its own echo target on loopback: every mode gives the counts
# it should, refused connections are reported as failures with a non-zero exit, bad arguments
# are refused, and the echo target stops cleanly on SIGTERM. Last the delay relay
# (bench/delay_relay.py, reverse.sh --delay-ms): TCP and UDP through it come back whole, in
# order, and no sooner than two delays. Every process is killed by PID at exit; every wait is
# bounded.
#   bench/selftest.sh PATH/TO/loadgen
set -euo pipefail
LOADGEN=${1:?usage: selftest.sh PATH/TO/loadgen}
WORK=$(mktemp -d /tmp/loadgen-selftest.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
wait_line() {  # FILE PATTERN PID
  for _ in $(seq 100); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  grep -q -- "$2" "$1" 2>/dev/null
}
wait_exit() {  # PID: sets STATUS to its exit status; fails after 10 s (no subshell: wait
  # only works on children of this shell)
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && fail "process $1 did not exit"
  STATUS=0
  wait "$1" || STATUS=$?
}

BENCH=$(cd "$(dirname "$0")" && pwd)
for script in run.sh profile.sh reverse.sh; do
  help=$("$BENCH/$script" --help) || fail "$script --help exited with an error"
  # Every `--option)` or `--a|--b)` label of the parser's case statement.
  opts=$(grep -oE '^ +(-[a-z]\|)?--[a-z-]+(\|--[a-z-]+)*\)' "$BENCH/$script" | grep -oE -- '--[a-z-]+')
  [ -n "$opts" ] || fail "$script: no options found in its parser"
  for o in $opts; do
    grep -qE -- "(^|[^a-z-])$o([^a-z-]|\$)" <<<"$help" || fail "$script --help does not mention $o"
  done
  rc=0; "$BENCH/$script" --no-such-option >/dev/null 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "$script accepted an unknown option (rc $rc)"
done
for bad in "--lengths 3X" "--directions sideways" "--streams 0" "--sets direct,nothing" \
           "--parts all" "--seconds 0"; do
  read -ra args <<<"$bad"
  rc=0; "$BENCH/run.sh" "${args[@]}" --no-build >/dev/null 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "run.sh $bad: rc $rc, expected 2"
done
for bad in "--transport udp" "--length 3X" "--parallel 0"; do
  read -ra args <<<"$bad"
  rc=0; "$BENCH/profile.sh" "${args[@]}" --no-build >/dev/null 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "profile.sh $bad: rc $rc, expected 2"
done
for bad in "--transport udp" "--rounds 0" "--idle x" "--parts bulk,nothing" "--delay-ms 0" "--delay-ms 2.5"; do
  read -ra args <<<"$bad"
  rc=0; "$BENCH/reverse.sh" "${args[@]}" --no-build >/dev/null 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "reverse.sh $bad: rc $rc, expected 2"
done

"$LOADGEN" echo --listen 127.0.0.1:0 >"$WORK/echo.out" 2>&1 &
ECHO=$!; PIDS+=("$ECHO")
wait_line "$WORK/echo.out" "echo listening=" "$ECHO" || fail "echo did not start"
PORT=$(sed -n 's/.*listening=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/echo.out")
TO=127.0.0.1:$PORT

line=$(timeout 30 "$LOADGEN" rate --to "$TO" --seconds 1 --concurrency 8 --size 100)
[ "$(field "$line" failures)" = 0 ] && [ "$(field "$line" ok)" -gt 0 ] || fail "rate: $line"

line=$(timeout 30 "$LOADGEN" pingpong --to "$TO" --rounds 300 --warmup 10 --size 3000)
[ "$(field "$line" count)" = 300 ] && [ "$(field "$line" failures)" = 0 ] || fail "pingpong: $line"

line=$(timeout 30 "$LOADGEN" connlat --to "$TO" --count 25 --warmup 2)
[ "$(field "$line" count)" = 25 ] && [ "$(field "$line" failures)" = 0 ] || fail "connlat: $line"
# Spaced arrivals: 1 warm-up + 4 timed connections, each followed by a 150 ms pause.
t0=$(date +%s%N)
line=$(timeout 30 "$LOADGEN" connlat --to "$TO" --count 4 --warmup 1 --pause-ms 150)
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(field "$line" count)" = 4 ] && [ "$ms" -ge 750 ] || fail "connlat --pause-ms 150 (${ms} ms): $line"
rc=0; "$LOADGEN" connlat --to "$TO" --pause-ms -1 >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "--pause-ms -1 was accepted"

"$LOADGEN" idle --to "$TO" --count 300 --concurrency 16 --hold-seconds 60 >"$WORK/idle.out" 2>&1 &
IDLE=$!; PIDS+=("$IDLE")
wait_line "$WORK/idle.out" "idle ready" "$IDLE" || fail "idle: no ready line: $(cat "$WORK/idle.out")"
[ "$(field "$(grep 'idle ready' "$WORK/idle.out")" established)" = 300 ] || fail "idle: $(cat "$WORK/idle.out")"
kill -USR1 "$IDLE"
wait_exit "$IDLE"
[ "$STATUS" = 0 ] || fail "idle exit status $STATUS"
grep -q "idle closed established=300 dropped=0" "$WORK/idle.out" || fail "idle: $(cat "$WORK/idle.out")"

# A port nobody listens on: bind one, close it, use it.
CLOSED=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rc=0; line=$(timeout 30 "$LOADGEN" rate --to "127.0.0.1:$CLOSED" --seconds 0.3) || rc=$?
[ "$rc" = 1 ] && [ "$(field "$line" ok)" = 0 ] && [[ "$(field "$line" errors)" == *ECONNREFUSED* ]] \
  || fail "rate to a closed port (rc $rc): $line"
rc=0; timeout 30 "$LOADGEN" pingpong --to "127.0.0.1:$CLOSED" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "pingpong to a closed port: rc $rc"
rc=0; line=$(timeout 30 "$LOADGEN" idle --to "127.0.0.1:$CLOSED" --count 5) || rc=$?
[ "$rc" = 1 ] && [ "$(field "$line" established)" = 0 ] || fail "idle to a closed port (rc $rc): $line"

rc=0; "$LOADGEN" rate --to not-an-address:1 >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a bad --to was accepted"
rc=0; "$LOADGEN" rate --to "$TO" --concurrency 0 >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "--concurrency 0 was accepted"

# The delay relay, 30 ms each way, in front of the echo target (TCP) and a UDP echo of its own.
cat >"$WORK/udp_echo.py" <<'PY'
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
print(u.getsockname()[1], flush=True)
while True:
    data, addr = u.recvfrom(65536)
    u.sendto(data, addr)
PY
python3 "$WORK/udp_echo.py" >"$WORK/udp_echo.out" 2>&1 &
PIDS+=("$!")
wait_line "$WORK/udp_echo.out" "^[0-9]" "$!" || fail "the UDP echo did not start"
UDP_ECHO=$(head -n 1 "$WORK/udp_echo.out")
RELAY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$BENCH/delay_relay.py" --delay-ms 30 --tcp "$RELAY_PORT:$TO" \
  --udp "$RELAY_PORT:127.0.0.1:$UDP_ECHO" >"$WORK/relay.out" 2>&1 &
RELAY=$!; PIDS+=("$RELAY")
wait_line "$WORK/relay.out" "relay ready" "$RELAY" || fail "relay: $(cat "$WORK/relay.out")"
line=$(timeout 30 "$LOADGEN" pingpong --to "127.0.0.1:$RELAY_PORT" --rounds 5 --warmup 1 --size 3000)
[ "$(field "$line" failures)" = 0 ] && awk -v p="$(field "$line" p50_us)" 'BEGIN { exit !(p >= 60000) }' \
  || fail "TCP through a 30 ms relay: $line"
timeout 30 python3 - "$RELAY_PORT" <<'PY' || fail "UDP through a 30 ms relay"
import socket, sys, time
q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
q.connect(("127.0.0.1", int(sys.argv[1])))
q.settimeout(10)
t = time.monotonic()
for i in range(100):
    q.send(i.to_bytes(4, "big") * 100)
got = [q.recv(1000) for _ in range(100)]
took = time.monotonic() - t
assert got == [i.to_bytes(4, "big") * 100 for i in range(100)], "datagrams lost, changed or reordered"
assert took >= 0.060, f"100 datagrams came back after {took * 1000:.1f} ms, before two delays"
PY

kill -TERM "$ECHO"
wait_exit "$ECHO"
[ "$STATUS" = 0 ] || fail "echo exit status $STATUS after SIGTERM"
grep -q "echo accepted=" "$WORK/echo.out" || fail "echo: no summary line"
echo "bench self-test passed (run.sh, profile.sh and reverse.sh options, loadgen, delay relay)"
