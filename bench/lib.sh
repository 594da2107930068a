# shellcheck shell=bash
# Helpers shared by bench/run.sh, bench/run_quic.sh and bench/profile.sh (sourced, not run).
# Every process is started through `start`, remembered by PID, and killed by PID in `cleanup`
# (set as the EXIT trap by the caller); every wait is bounded.

PIDS=()        # everything we started, for the EXIT trap
SETUP_PIDS=()  # the processes of the chain being measured, stopped between chains
CLEAN_PATHS=() # scratch folders outside $WORK, removed at exit
LAST_PID=

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# start LOGFILE CMD... : runs CMD in the background with its output in LOGFILE.
start() {
  local logfile=$1; shift
  "$@" >"$logfile" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  SETUP_PIDS+=("$LAST_PID")
}

# stop_pid PID : SIGTERM, up to 10 s for it to exit, then SIGKILL; reaps it.
stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_setup() {
  local pid
  for pid in "${SETUP_PIDS[@]}"; do stop_pid "$pid"; done
  SETUP_PIDS=()
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  local path
  for path in "${CLEAN_PATHS[@]}"; do rm -rf "$path"; done
  if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
    if [ "${KEEP:-0}" = 1 ]; then log "logs and configs kept in $WORK"; else rm -rf "$WORK"; fi
  fi
}

# A port free on loopback for TCP and UDP both (mtop-server binds the same port for QUIC).
free_port() {
  python3 - <<'PY'
import socket
for _ in range(100):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", port))
        print(port)
        break
    except OSError:
        continue
else:
    raise SystemExit("no free port")
PY
}

# wait_port PORT PID LOGFILE : up to 20 s for PORT to accept, while PID lives.
wait_port() {
  local port=$1 pid=$2 logfile=$3
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "process $pid exited before listening on $port"; }
    sleep 0.1
  done
  cat "$logfile" >&2
  die "nothing listens on $port after 20 s"
}

# wait_line FILE PATTERN PID SECONDS : until FILE has a line matching PATTERN (bounded).
wait_line() {
  local file=$1 pattern=$2 pid=$3 secs=$4
  for _ in $(seq $((secs * 10))); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { grep -q -- "$pattern" "$file" 2>/dev/null && return 0; return 1; }
    sleep 0.1
  done
  return 1
}

# CPU seconds (user + system, all threads) a live process has used so far.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

# proc_stat PID... : "CPU_SECONDS MINFLT" summed over the live PIDs (utime + stime, all
# threads; minor page faults), from /proc/PID/stat fields 14, 15 and 10. A PID that is gone
# counts 0; callers sample the same PID list before and after a load.
proc_stat() {
  local pid files=()
  for pid in "$@"; do [ -r "/proc/$pid/stat" ] && files+=("/proc/$pid/stat"); done
  [ ${#files[@]} -gt 0 ] || { echo "0 0"; return 0; }
  cat "${files[@]}" 2>/dev/null | awk -v hz="$(getconf CLK_TCK)" '
    { sub(/^.*\) /, ""); cpu += $12 + $13; flt += $8 }
    END { printf "%.4f %d\n", cpu / hz, flt }'
}

# proc_tree PID : PID and all its live descendants, space-separated (sshd forks a monitor and a
# session process per connection; the relaying happens in the session process).
proc_tree() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      out = root; want[root] = 1
      do { grew = 0
           for (p in parent) if (!(p in want) && (parent[p] in want)) { want[p] = 1; out = out " " p; grew = 1 }
      } while (grew)
      print out
    }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# rss_sum PID... : resident KiB summed over the live PIDs.
rss_sum() {
  local pid total=0 r
  for pid in "$@"; do r=$(rss_kib "$pid" 2>/dev/null || true); total=$((total + ${r:-0})); done
  echo "$total"
}

# field LINE KEY : the value of key=value in a loadgen result line ("" if absent).
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

machine_line() {
  printf 'nproc %s, %s, kernel %s, load average at start %s' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(uname -r)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# git_line ROOT : the commit measured, "+ uncommitted changes" when the tree differs from it
# (bench/RESULTS.md itself does not count), and the last commit that changed the code under test.
git_line() {
  local root=$1 head dirty code
  head=$(git -C "$root" rev-parse --short HEAD 2>/dev/null) || { printf 'not a git checkout'; return 0; }
  dirty=$(git -C "$root" status --porcelain -- . ':!bench/RESULTS.md' 2>/dev/null | head -n 1)
  code=$(git -C "$root" log -1 --format='%h %cs' -- libmtop include apps bindings CMakeLists.txt 2>/dev/null)
  printf '%s (branch %s)%s; last change to libmtop/include/apps/bindings: %s' "$head" \
    "$(git -C "$root" rev-parse --abbrev-ref HEAD 2>/dev/null)" "${dirty:+ + uncommitted changes}" "$code"
}

# build ROOT BUILD_DIR : Release build of the servers and the load generator. -O2 (as Debian
# builds stunnel4 and trojan), with -g so perf can name symbols.
build() {
  local root=$1 dir=$2
  log "building (Release, -O2 -g) in $dir"
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DMTOP_BUILD_TESTS=OFF "${launcher[@]}" \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -g -DNDEBUG" "-DCMAKE_C_FLAGS_RELEASE=-O2 -g -DNDEBUG" >/dev/null
  cmake --build "$dir" -j "$(nproc)" --target mtop-server climber loadgen >/dev/null
}

# perf_top_report SIDE OUT WORK TOP: Markdown of SIDE's profile in OUT/SIDE.perf.data — the
# shared objects and the TOP symbols by self time (the part profile.sh and profile_tunnels.sh
# print for each proxy); WORK/SIDE.record.log explains a missing profile. The lists are cut
# with sed, which reads to the end: head would close the pipe early, and under pipefail the
# writer's SIGPIPE (exit 141) stopped the script after the first list.
perf_top_report() {
  local side=$1 out=$2 work=$3 top=$4 data=$2/$1.perf.data
  [ -s "$data" ] || { echo "(no perf data for $side: $(tail -n 2 "$work/$side.record.log"))"; return 0; }
  echo
  echo "#### $side: shared objects (self time)"
  echo
  echo '```'
  perf report -i "$data" --stdio --no-children -g none --sort dso --percent-limit 0.5 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed -E 's/[[:space:]]+$//' | sed -n '1,12p'
  echo '```'
  echo
  echo "#### $side: top $top symbols (perf report --stdio --no-children, self time)"
  echo
  echo '```'
  perf report -i "$data" --stdio --no-children -g none --sort dso,symbol 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed -E 's/([[:space:]]+-)+[[:space:]]*$//' | sed -n "1,${top}p"
  echo '```'
}

# record_results FILE KIND SECTION : SECTION (Markdown) into FILE between the markers of KIND,
# replacing the last run of that kind (bench/run.sh's kinds full, quick, quic, custom;
# bench/workers.sh's workers).
record_results() {
  [ -f "$1" ] || printf '# Benchmark results\n\n<!-- bench/run.sh inserts new runs above this line -->\n' >"$1"
  # One section per kind between its own markers: a new run replaces the last run of its kind;
  # a kind seen for the first time goes above the insertion marker, so the sections other
  # benchmarks keep below it stay whole.
  SECTION="$3" KIND="$2" python3 - "$1" <<'PY'
import os, sys
path, kind, section = sys.argv[1], os.environ["KIND"], os.environ["SECTION"].strip("\n")
begin = f"<!-- bench/run.sh kind={kind} begin: replaced by the next run of this kind -->"
end = f"<!-- bench/run.sh kind={kind} end -->"
marker = "<!-- bench/run.sh inserts new runs above this line -->"
block = f"{begin}\n{section}\n{end}"
text = open(path, encoding="utf-8").read()
if begin in text and end in text.split(begin, 1)[1]:
    head, rest = text.split(begin, 1)
    text = head + block + rest.split(end, 1)[1]
elif marker in text:
    head, tail = text.split(marker, 1)
    text = head.rstrip("\n") + "\n\n" + block + "\n\n" + marker + tail
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w", encoding="utf-8").write(text)
PY
  log "$(basename "$1"): the $2 section is now this run"
}
