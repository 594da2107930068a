#!/usr/bin/env bash
# package_service: what an operator gets to run the programs as services (docs/INSTALL.md,
# README "Run it as a service"). Installs the build into a temporary prefix, then checks:
# the example configs pass `--check` of both programs; the systemd units pass
# `systemd-analyze verify`, name the installed programs and configs, use Type=notify when the
# programs were built with libsystemd, and keep their hardening (`systemd-analyze security`
# exposure at most 2.5, "OK"); the sysusers.d entry; the man pages (sections written by hand
# included) and --version.
# Extra environment: MTOP_WITH_SYSTEMD (1 when the programs call sd_notify).
source "$(dirname "$0")/lib.sh"
install_build

confdir="$prefix/etc/mtop"
unitdir="$prefix/lib/systemd/system"
mandir="$prefix/share/man/man1"

# --- example configs ---------------------------------------------------------------------------
for f in server.json climber.json users.json; do
  [ -f "$confdir/$f" ] || fail "examples/config/$f is not installed in <prefix>/etc/mtop"
  mode=$(stat -c %a "$confdir/$f")
  [ "$mode" = 640 ] || fail "$f is installed with mode $mode (want 640: it may hold secrets)"
done
"$bindir/mtop-server" --check --config "$confdir/server.json" >"$work/check.txt" 2>&1 ||
  { cat "$work/check.txt" >&2; fail "the installed server.json does not pass mtop-server --check"; }
# The climber's example reads its password from climber.pass beside it.
echo "example password" >"$confdir/climber.pass"
"$bindir/climber" --check --config "$confdir/climber.json" >"$work/check.txt" 2>&1 ||
  { cat "$work/check.txt" >&2; fail "the installed climber.json does not pass climber --check"; }
rm "$confdir/climber.pass"
if "$bindir/climber" --check --config "$confdir/climber.json" >"$work/check.txt" 2>&1; then
  fail "climber --check passed without the password file the config names"
fi
grep -q "climber.pass" "$work/check.txt" || { cat "$work/check.txt" >&2; fail "climber --check did not name the missing password file"; }
pass "example configs installed 0640 and accepted by --check (and a missing password file is named)"

# --- systemd units -----------------------------------------------------------------------------
if [ "${MTOP_WITH_SYSTEMD:-0}" = 1 ]; then want_type=notify; else want_type=exec; fi
for unit in mtop-server.service climber.service climber@.service; do
  file="$unitdir/$unit"
  [ -f "$file" ] || fail "$unit is not installed in <prefix>/lib/systemd/system"
  grep -qx "Type=$want_type" "$file" || fail "$unit: not Type=$want_type"
  for key in "User=mtop" "AmbientCapabilities=CAP_NET_BIND_SERVICE" \
             "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" "NoNewPrivileges=yes" \
             "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" "Restart=on-failure"; do
    grep -qx "$key" "$file" || fail "$unit lacks $key"
  done
  grep -Eq '^LimitNOFILE=[0-9]{5,}$' "$file" || fail "$unit: LimitNOFILE below 10000 or missing"
done
grep -qx "ExecStart=$bindir/mtop-server --config $confdir/server.json" "$unitdir/mtop-server.service" ||
  fail "mtop-server.service does not start $bindir/mtop-server with $confdir/server.json"
grep -qx "ExecReload=/bin/kill -HUP \$MAINPID" "$unitdir/mtop-server.service" ||
  fail "mtop-server.service: no ExecReload sending SIGHUP"
grep -qx "ExecStart=$bindir/climber --config $confdir/climber.json" "$unitdir/climber.service" ||
  fail "climber.service does not start $bindir/climber with $confdir/climber.json"
grep -qx "ExecStart=$bindir/climber --config $confdir/climber-%i.json" "$unitdir/climber@.service" ||
  fail "climber@.service does not take its config from the instance name"

# verify: syntax, unknown keys (printed as warnings, so any output fails), programs that exist.
# An instance of the template is verified as systemd would load it.
cp "$unitdir/climber@.service" "$work/climber@office.service"
for file in "$unitdir/mtop-server.service" "$unitdir/climber.service" "$work/climber@office.service"; do
  if ! systemd-analyze verify --man=no "$file" >"$work/verify.txt" 2>&1 || [ -s "$work/verify.txt" ]; then
    cat "$work/verify.txt" >&2
    fail "systemd-analyze verify $(basename "$file")"
  fi
  systemd-analyze security --offline=true --man=no "$file" >"$work/security.txt" 2>&1 || true
  level=$(sed -nE 's/.*Overall exposure level for .*: ([0-9.]+) .*/\1/p' "$work/security.txt")
  [ -n "$level" ] || { cat "$work/security.txt" >&2; fail "no exposure level for $(basename "$file")"; }
  awk -v l="$level" 'BEGIN { exit !(l <= 2.5) }' ||
    fail "$(basename "$file"): systemd-analyze security exposure $level (want at most 2.5)"
  pass "$(basename "$file"): verified, exposure $level"
done
# The checks above must be able to fail: a unit whose program is missing is refused.
sed "s|^ExecStart=$bindir/mtop-server|ExecStart=$work/no-such-program|" \
  "$unitdir/mtop-server.service" >"$work/mtop-server.service"
if systemd-analyze verify --man=no "$work/mtop-server.service" >/dev/null 2>&1; then
  fail "systemd-analyze verify accepted a unit whose program does not exist"
fi
grep -Eq '^u mtop - ' "$prefix/lib/sysusers.d/mtop.conf" || fail "sysusers.d/mtop.conf does not create the user mtop"
pass "units: Type=$want_type, run as mtop, hardened, reload = SIGHUP; sysusers.d entry"

# --- man pages and --version ---------------------------------------------------------------------
for app in mtop-server climber; do
  page="$mandir/$app.1.gz"
  [ -f "$page" ] || fail "$app(1) is not installed"
  zcat "$page" >"$work/$app.1"
  for section in NAME SYNOPSIS OPTIONS CONFIGURATION SIGNALS "EXIT STATUS" FILES "SEE ALSO"; do
    grep -q "^\.SH \"\?$section\"\?\$" "$work/$app.1" || fail "$app(1) has no $section section"
  done
  LC_ALL=C MANWIDTH=100 man -l "$work/$app.1" 2>"$work/man.err" | col -b >"$work/$app.txt" ||
    { cat "$work/man.err" >&2; fail "man -l $app.1"; }
  [ ! -s "$work/man.err" ] || { cat "$work/man.err" >&2; fail "man -l $app.1 warns"; }
  grep -q -- '--config' "$work/$app.txt" || fail "$app(1) does not list --config (not made from --help?)"
  [ "$("$bindir/$app" --version)" = "$app $MTOP_VERSION" ] || fail "$app --version is not '$app $MTOP_VERSION'"
done
pass "man pages mtop-server(1) and climber(1) with their hand-written sections; --version"
echo "package_service: all checks passed"
