# shellcheck shell=bash disable=SC2034  # the CH_* arrays are read by the scripts that source this
# The chains bench/run.sh and bench/profile.sh measure (sourced after bench/lib.sh, not run).
# Each is the same path built a different way on loopback:
#   load generator -> client-side proxy -> (encrypted) -> server-side proxy -> target
# and each set-up function fills, for its chain name:
#   CH_IPERF[name] / CH_ECHO[name]      local ports that lead to iperf3 -s / the echo target
#   CH_CIPERF[name] / CH_CECHO[name]    the client-side proxy process carrying each (trojan's
#                                       forward mode has one target per process: two clients)
#   CH_SPIDS[name]                      the server-side proxy's processes (sshd: the listener,
#                                       and the monitor and session processes of our connection)
# The caller sets ROOT, WORK, SERVER_BIN, CLIMBER_BIN and LOADGEN first; every process goes
# through `start` so the EXIT trap stops it by PID.

declare -A CH_IPERF CH_ECHO CH_CIPERF CH_CECHO CH_SPIDS CH_SPORT

# make_credentials [PUBLISH] : a certificate for localhost / 127.0.0.1 (CERT, KEY), a random
# password (PASSWORD) and its hash in $WORK/users.json for the user "bench", shared by every
# chain; PUBLISH, if given, is the user's publish grant for reverse tunnels (docs/USERS.md).
# shellcheck disable=SC2120  # the argument is optional
make_credentials() {
  CERT=$WORK/cert.pem
  KEY=$WORK/key.pem
  "$SERVER_BIN" gen-cert --name localhost --ip 127.0.0.1 --cert "$CERT" --key "$KEY" >/dev/null
  PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  local hash publish=
  hash=$(printf '%s\n' "$PASSWORD" | "$SERVER_BIN" passwd --scheme pbkdf2)
  [ -n "${1:-}" ] && publish=", \"publish\": \"$1\""
  printf '{ "users": [ { "username": "bench", "password": "%s"%s } ] }\n' "$hash" "$publish" \
    >"$WORK/users.json"
}

# start_targets : iperf3 -s (IPERF_PORT) and the loadgen echo target (ECHO_PORT), up until exit.
start_targets() {
  IPERF_PORT=$(free_port)
  # --idle-timeout: a client killed in the middle of a test cannot leave the server busy.
  start "$WORK/iperf3.log" iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" --idle-timeout 30
  wait_port "$IPERF_PORT" "$LAST_PID" "$WORK/iperf3.log"
  start "$WORK/echo.log" "$LOADGEN" echo --listen 127.0.0.1:0
  wait_line "$WORK/echo.log" "echo listening=" "$LAST_PID" 10 || die "echo target did not start"
  ECHO_PORT=$(sed -n 's/.*listening=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/echo.log")
}

setup_direct() {
  CH_IPERF[direct]=$IPERF_PORT; CH_ECHO[direct]=$ECHO_PORT
  CH_CIPERF[direct]=; CH_CECHO[direct]=; CH_SPIDS[direct]=
}

# climber_config NAME TRANSPORT SERVER_PORT RULES : $WORK/climber-NAME.json (readable by us
# only: it holds the password) for a climber of user "bench" to the mtop-server on
# SERVER_PORT; RULES is the config's forwarding line, e.g. "forward": [...] or "reverse": [...].
climber_config() {
  cat >"$WORK/climber-$1.json" <<JSON
{ "server": { "host": "127.0.0.1", "port": $3, "username": "bench", "password": "$PASSWORD",
              "sni": "localhost", "ca": "$CERT", "transport": "$2" },
  $4,
  "log_level": "warn" }
JSON
  chmod 600 "$WORK/climber-$1.json"
}

# start_climber NAME TRANSPORT SERVER_PORT IPERF_TARGET : a climber to the mtop-server on
# SERVER_PORT, forwarding a free local port to 127.0.0.1:IPERF_TARGET (an iperf3 -s) and
# another to the echo target. Sets CLIMBER_IPERF and CLIMBER_ECHO (the local ports) and
# LAST_PID. bench/workers.sh starts several per server.
start_climber() {
  local name=$1 transport=$2 sport=$3 target=$4
  CLIMBER_IPERF=$(free_port); CLIMBER_ECHO=$(free_port)
  climber_config "$name" "$transport" "$sport" "\"forward\": [\"127.0.0.1:$CLIMBER_IPERF:127.0.0.1:$target\",
              \"127.0.0.1:$CLIMBER_ECHO:127.0.0.1:$ECHO_PORT\"]"
  start "$WORK/climber-$name.log" "$CLIMBER_BIN" --config "$WORK/climber-$name.json"
  wait_port "$CLIMBER_ECHO" "$LAST_PID" "$WORK/climber-$name.log"
}

# setup_mtop tls|quic [WORKERS] : chain mtop-tls / mtop-quic, an mtop-server with one worker (the
# figures recorded so far), or with WORKERS given, chain mtop-tls-wWORKERS with that many
# (config "workers", bench/workers.sh). CH_SPORT[name] is the server's port.
setup_mtop() {
  local transport=$1 workers=${2:-1} name=mtop-$1 sport spid
  [ -n "${2:-}" ] && name=mtop-$1-w$2
  sport=$(free_port)
  cat >"$WORK/server-$name.json" <<JSON
{ "listen": ["127.0.0.1:$sport"], "cert": "$CERT", "key": "$KEY", "quic": true,
  "users": { "type": "file", "path": "$WORK/users.json" }, "workers": $workers,
  "allow_targets": ["127.0.0.1/32"], "log_level": "warn", "timeouts": { "drain": 1 } }
JSON
  start "$WORK/server-$name.log" "$SERVER_BIN" --config "$WORK/server-$name.json"
  spid=$LAST_PID
  wait_port "$sport" "$spid" "$WORK/server-$name.log"
  start_climber "$name" "$transport" "$sport" "$IPERF_PORT"
  CH_IPERF[$name]=$CLIMBER_IPERF; CH_ECHO[$name]=$CLIMBER_ECHO; CH_SPORT[$name]=$sport
  CH_CIPERF[$name]=$LAST_PID; CH_CECHO[$name]=$LAST_PID; CH_SPIDS[$name]=$spid
}

setup_stunnel() {
  local s_iperf s_echo ci ce spid
  s_iperf=$(free_port); s_echo=$(free_port); ci=$(free_port); ce=$(free_port)
  local common="sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1"
  cat >"$WORK/stunnel-server.conf" <<CONF
foreground = yes
pid =
debug = 4
$common
cert = $CERT
key = $KEY
[iperf]
accept = 127.0.0.1:$s_iperf
connect = 127.0.0.1:$IPERF_PORT
[echo]
accept = 127.0.0.1:$s_echo
connect = 127.0.0.1:$ECHO_PORT
CONF
  cat >"$WORK/stunnel-client.conf" <<CONF
foreground = yes
pid =
debug = 4
$common
client = yes
verifyPeer = yes
CAfile = $CERT
checkHost = localhost
sni = localhost
[iperf]
accept = 127.0.0.1:$ci
connect = 127.0.0.1:$s_iperf
[echo]
accept = 127.0.0.1:$ce
connect = 127.0.0.1:$s_echo
CONF
  start "$WORK/stunnel-server.log" stunnel4 "$WORK/stunnel-server.conf"
  spid=$LAST_PID
  wait_port "$s_echo" "$spid" "$WORK/stunnel-server.log"
  start "$WORK/stunnel-client.log" stunnel4 "$WORK/stunnel-client.conf"
  wait_port "$ce" "$LAST_PID" "$WORK/stunnel-client.log"
  CH_IPERF[stunnel]=$ci; CH_ECHO[stunnel]=$ce
  CH_CIPERF[stunnel]=$LAST_PID; CH_CECHO[stunnel]=$LAST_PID; CH_SPIDS[stunnel]=$spid
}

# Trojan's forward mode has one target per client process, so there are two clients (one per
# target); the figures for a test come from the client that carried it.
setup_trojan() {
  local sport ci ce spid
  sport=$(free_port); ci=$(free_port); ce=$(free_port)
  local ssl_common='"cipher_tls13": "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384",
    "reuse_session": true, "session_ticket": false, "curves": ""'
  local tcp='"tcp": { "no_delay": true, "keep_alive": true, "reuse_port": false, "fast_open": false, "fast_open_qlen": 20 }'
  cat >"$WORK/trojan-server.json" <<JSON
{ "run_type": "server", "local_addr": "127.0.0.1", "local_port": $sport,
  "remote_addr": "127.0.0.1", "remote_port": $ECHO_PORT,
  "password": ["$PASSWORD"], "log_level": 2,
  "ssl": { "cert": "$CERT", "key": "$KEY", "key_password": "", "prefer_server_cipher": true,
    "alpn": ["http/1.1"], "session_timeout": 600, "plain_http_response": "", "dhparam": "",
    $ssl_common },
  $tcp }
JSON
  local target_port lport name
  for name in iperf echo; do
    if [ "$name" = iperf ]; then target_port=$IPERF_PORT; lport=$ci; else target_port=$ECHO_PORT; lport=$ce; fi
    cat >"$WORK/trojan-$name.json" <<JSON
{ "run_type": "forward", "local_addr": "127.0.0.1", "local_port": $lport,
  "remote_addr": "127.0.0.1", "remote_port": $sport,
  "target_addr": "127.0.0.1", "target_port": $target_port,
  "password": ["$PASSWORD"], "udp_timeout": 60, "log_level": 2,
  "ssl": { "verify": true, "verify_hostname": true, "cert": "$CERT", "sni": "localhost",
    "alpn": ["http/1.1"], $ssl_common },
  $tcp }
JSON
  done
  start "$WORK/trojan-server.log" trojan -c "$WORK/trojan-server.json"
  spid=$LAST_PID
  wait_port "$sport" "$spid" "$WORK/trojan-server.log"
  start "$WORK/trojan-iperf.log" trojan -c "$WORK/trojan-iperf.json"
  CH_CIPERF[trojan]=$LAST_PID
  wait_port "$ci" "$LAST_PID" "$WORK/trojan-iperf.log"
  start "$WORK/trojan-echo.log" trojan -c "$WORK/trojan-echo.json"
  CH_CECHO[trojan]=$LAST_PID
  wait_port "$ce" "$LAST_PID" "$WORK/trojan-echo.log"
  CH_IPERF[trojan]=$ci; CH_ECHO[trojan]=$ce; CH_SPIDS[trojan]=$spid
}

# start_sshd FORWARDING : a private sshd on a free loopback port with its own config, a fresh
# ed25519 host key and client key in a folder under $WORK, logging in as the user running the
# bench (root: sshd needs it to switch users). Only aes128-gcm@openssh.com is offered on either
# side, compression off. FORWARDING holds the sshd_config lines that allow the forwarding the
# chain uses (AllowTcpForwarding, PermitOpen / PermitListen). Sets SSH_DIR, SSHD_PORT,
# SSHD_PID; ssh_client then logs in to it.
start_sshd() {
  local forwarding=$1
  [ "$(id -u)" = 0 ] || die "the ssh chain starts sshd, which needs root (or leave ssh out of --sets)"
  SSH_DIR=$(mktemp -d "$WORK/ssh.XXXXXX")  # fresh keys each time the chain is set up
  ssh-keygen -q -t ed25519 -N '' -C mtop-bench-host -f "$SSH_DIR/host_ed25519" >/dev/null
  ssh-keygen -q -t ed25519 -N '' -C mtop-bench-client -f "$SSH_DIR/id_ed25519" >/dev/null
  cp "$SSH_DIR/id_ed25519.pub" "$SSH_DIR/authorized_keys"
  # sshd's privilege-separation folder is compiled in; make it if the package did not (and
  # remove it again at exit).
  if [ ! -d /run/sshd ]; then mkdir -m 755 /run/sshd; CLEAN_PATHS+=(/run/sshd); fi
  SSHD_PORT=$(free_port)
  cat >"$SSH_DIR/sshd_config" <<CONF
ListenAddress 127.0.0.1:$SSHD_PORT
HostKey $SSH_DIR/host_ed25519
PidFile none
AuthorizedKeysFile $SSH_DIR/authorized_keys
AllowUsers $(id -un)
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
$forwarding
X11Forwarding no
UseDNS no
Compression no
Ciphers aes128-gcm@openssh.com
MaxStartups 100:30:200
LogLevel ERROR
CONF
  start "$SSH_DIR/sshd.log" /usr/sbin/sshd -D -e -f "$SSH_DIR/sshd_config"
  SSHD_PID=$LAST_PID
  wait_port "$SSHD_PORT" "$SSHD_PID" "$SSH_DIR/sshd.log"
}

# ssh_client FORWARD_ARGS... : `ssh -N` with FORWARD_ARGS (-L or -R options) to the sshd of
# start_sshd, same cipher, no compression, failing if a forwarding cannot be set up.
ssh_client() {
  start "$SSH_DIR/ssh.log" ssh -N -T -F /dev/null -i "$SSH_DIR/id_ed25519" -p "$SSHD_PORT" -l "$(id -un)" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o Ciphers=aes128-gcm@openssh.com -o Compression=no -o ExitOnForwardFailure=yes \
    -o ServerAliveInterval=0 -o LogLevel=ERROR "$@" 127.0.0.1
}

# find_sshd_pids : SSHD_PIDS, the sshd listener and its children (the monitor and session
# processes of our connection; the relaying happens in the session process), each stopped by
# PID with the chain and at exit. Call it once ssh has logged in. (Not "$(...)": the PIDs must
# reach PIDS in this shell.)
find_sshd_pids() {
  local child
  SSHD_PIDS=$(proc_tree "$SSHD_PID")
  for child in $SSHD_PIDS; do
    [ "$child" = "$SSHD_PID" ] || { PIDS+=("$child"); SETUP_PIDS+=("$child"); }
  done
}

# `ssh -L` to an sshd of our own on a loopback port (start_sshd).
setup_ssh() {
  local ci ce
  start_sshd "AllowTcpForwarding local
PermitOpen 127.0.0.1:$IPERF_PORT 127.0.0.1:$ECHO_PORT"
  ci=$(free_port); ce=$(free_port)
  ssh_client -L "127.0.0.1:$ci:127.0.0.1:$IPERF_PORT" -L "127.0.0.1:$ce:127.0.0.1:$ECHO_PORT"
  wait_port "$ce" "$LAST_PID" "$SSH_DIR/ssh.log"
  CH_IPERF[ssh]=$ci; CH_ECHO[ssh]=$ce; CH_CIPERF[ssh]=$LAST_PID; CH_CECHO[ssh]=$LAST_PID
  # ssh opens its -L ports only after logging in, so the session processes exist by now.
  find_sshd_pids
  CH_SPIDS[ssh]=$SSHD_PIDS
  log "sshd processes measured as the server side: ${CH_SPIDS[ssh]}"
}

# setup_chain NAME : one of direct, mtop-tls, mtop-quic, stunnel, trojan, ssh.
setup_chain() {
  case "$1" in
    direct) setup_direct ;;
    mtop-tls) setup_mtop tls ;;
    mtop-quic) setup_mtop quic ;;
    stunnel) setup_stunnel ;;
    trojan) setup_trojan ;;
    ssh) setup_ssh ;;
    *) die "unknown chain: $1" ;;
  esac
}
