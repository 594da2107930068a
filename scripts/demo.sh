#!/usr/bin/env bash
# MTop in one command: installs what is missing (Debian 12), builds, and runs mtop-server and
# climber on loopback with a fresh self-signed certificate and a demo user, then fetches a page
# from a small local web server through the tunnel (SOCKS5 and HTTP proxy), and stops.
#   scripts/demo.sh           run the demo and stop everything
#   scripts/demo.sh --keep    leave server, climber and web server running (Ctrl-C stops them)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
keep=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
done

scripts/deps.sh
build=${BUILD_DIR:-build}
echo "== building (first time: a few minutes)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target mtop-server climber >/dev/null
server_bin="$root/$build/apps/server/mtop-server"
climber_bin="$root/$build/apps/climber/climber"

dir=$(mktemp -d /tmp/mtop-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # wait_port PORT NAME PID
  for _ in $(seq 100); do
    if (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$3" 2>/dev/null || { echo "$2 exited; its log:" >&2; cat "$dir/$2.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$2 did not start listening on $1; its log:" >&2; cat "$dir/$2.log" >&2; exit 1
}

server_port=$(free_port); socks_port=$(free_port); http_port=$(free_port); web_port=$(free_port)

echo "== certificate and demo user in $dir"
"$server_bin" gen-cert --name localhost --ip 127.0.0.1 --cert "$dir/cert.pem" --key "$dir/key.pem"
password=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
hash=$(printf '%s' "$password" | "$server_bin" passwd)
cat >"$dir/users.json" <<JSON
{ "users": [ { "username": "demo", "password": "$hash" } ] }
JSON
cat >"$dir/server.json" <<JSON
{
  "listen": ["127.0.0.1:$server_port"],
  "cert": "cert.pem",
  "key": "key.pem",
  "users": { "type": "file", "path": "users.json" },
  "allow_targets": ["127.0.0.1/32"]
}
JSON
cat >"$dir/climber.json" <<JSON
{
  "server": { "host": "127.0.0.1", "port": $server_port, "username": "demo",
              "password": "$password", "sni": "localhost", "ca": "$dir/cert.pem" },
  "socks": "127.0.0.1:$socks_port",
  "http": "127.0.0.1:$http_port"
}
JSON
chmod 600 "$dir/climber.json" "$dir/key.pem"

mkdir "$dir/www"
echo "Hello through MTop! $(date -u +%FT%TZ)" >"$dir/www/index.html"
python3 -m http.server --bind 127.0.0.1 --directory "$dir/www" "$web_port" >"$dir/web.log" 2>&1 &
pids+=($!); wait_port "$web_port" web "$!"

"$server_bin" --config "$dir/server.json" >"$dir/server.log" 2>&1 &
pids+=($!); wait_port "$server_port" server "$!"
"$climber_bin" --config "$dir/climber.json" >"$dir/climber.log" 2>&1 &
pids+=($!); wait_port "$socks_port" climber "$!"

url="http://127.0.0.1:$web_port/index.html"
echo
echo "== curl --socks5-hostname 127.0.0.1:$socks_port $url"
curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$socks_port" "$url"
echo "== curl -x http://127.0.0.1:$http_port $url"
curl -sS --max-time 10 -x "http://127.0.0.1:$http_port" "$url"
echo
echo "== what the server logged"
sed 's/^/   /' "$dir/server.log"
cat <<TXT

It works. The path was: curl -> climber (SOCKS5 / HTTP proxy on loopback) -> TLS 1.3 ->
mtop-server (checks user "demo", connects to the target) -> the local web server.
The demo server allows 127.0.0.1 as a target only because its config says so
("allow_targets"); by default loopback and private targets are refused.

To use it from a browser, set its proxy to SOCKS5 127.0.0.1:$socks_port (with remote DNS)
or HTTP 127.0.0.1:$http_port.
TXT
if [ "$keep" = 1 ]; then
  echo "Running until Ctrl-C (files in $dir)."
  wait
fi
