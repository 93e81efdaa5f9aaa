#!/usr/bin/env bash
# bench/mail.sh [MESSAGES] [-- extra test flags]
#
# The mail benchmark (issues 4 and 14): generates a realistic mailbox
# (default 10000 messages) in a throwaway Dovecot, then times holdover's
# `sync --once` against mbsync (Debian package isync), the two in turn
# (5 pairs per step by default), for an initial sync, a no-op resync and a
# resync after server-side changes, on loopback and through a proxy that
# delays each direction by half of -rtt (50 ms), plus holdover's peak RSS
# on a 50 MB attachment. Prints min/median/max tables, pair-by-pair ratios
# and the verdicts on stdout. Needs dovecot-imapd (see
# scripts/install-test-deps.sh), isync, and GNU time (package time) for
# exact peak RSS; run as root or as a user that can run Dovecot.
#
# Extra flags after "--" go to the test (see bench/mail_test.go), e.g.
#   bench/mail.sh 1000 -- -initial-runs 1 -big-mb 10 -links loopback
#   bench/mail.sh 50000 -- -rtt 100ms
#   bench/mail.sh -- -pprof /tmp/pprof   (a Go CPU profile of the last runs)
#   bench/mail.sh -- -holdover-bin /tmp/holdover-other -perf /tmp/perf
set -euo pipefail
cd "$(dirname "$0")/.."

msgs=10000
if [[ $# -gt 0 && "$1" != "--" ]]; then
	msgs="$1"
	shift
fi
if ! [[ "$msgs" =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: bench/mail.sh [MESSAGES] [-- extra test flags]" >&2
	exit 2
fi
[[ $# -gt 0 && "$1" == "--" ]] && shift

export HOLDOVER_BENCH=1
exec "${GO:-go}" test -tags sqlite_fts5 -run '^TestMailBenchmark$' -count=1 -v -timeout 120m ./bench/ \
	-args -msgs "$msgs" -initial-runs 5 -noop-runs 5 -change-runs 5 "$@"
