#!/usr/bin/env bash
# Installs the Debian 12 packages MTop needs that are not installed yet.
#   scripts/deps.sh            build + run dependencies
#   scripts/deps.sh --test     also what the tests need (database servers, curl, clang for fuzzing)
#   scripts/deps.sh --bench    also what the benchmarks compare against and profile with
#                              (stunnel4, trojan, ssh/sshd, iperf3, ngtcp2's examples, perf)
# Sourced or run; needs root or sudo only when something is missing.
set -euo pipefail

packages=(build-essential cmake pkg-config openssl libssl-dev libuv1-dev nlohmann-json3-dev
          libcli11-dev libsqlite3-dev libpq-dev libmariadb-dev libngtcp2-dev
          libngtcp2-crypto-gnutls-dev libgnutls28-dev libnghttp3-dev catch2 curl python3
          libsystemd-dev help2man libmicrohttpd-dev)
for arg in "$@"; do
  case "$arg" in
    --test) packages+=(clang libfuzzer-14-dev libclang-rt-14-dev postgresql mariadb-server
                       binutils procps iproute2 systemd dpkg-dev lintian man-db bsdextrautils
                       prometheus shadowsocks-libev chromium ngtcp2-client) ;;
    --bench) packages+=(stunnel4 trojan iperf3 ngtcp2-client ngtcp2-server linux-perf
                        openssh-server openssh-client) ;;
    *) echo "usage: $0 [--test] [--bench]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing missing packages: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
