#!/usr/bin/env bash
# The QUIC report (issue 4): climber over QUIC vs over TLS, and ngtcp2's own gtlsclient /
# gtlsserver pair as the ceiling of the stack. Same options as bench/run.sh.
exec "$(dirname "$0")/run.sh" --quic "$@"
