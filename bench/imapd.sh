#!/usr/bin/env bash
# bench/imapd.sh [MESSAGES] [-- extra test flags]
#
# The IMAP endpoint benchmark (issue 15): generates the bench mailbox
# (default 10000 messages) in a throwaway Dovecot, mirrors it with
# `holdover sync --once`, starts `holdover run` with listen.imap, then
# times mbsync (Debian package isync) pulling every folder into an empty
# Maildir from holdover's endpoint and from Dovecot itself, in turn (A B
# A B, 5 pairs by default), and the latency of a FETCH of 50 envelopes
# and of a UID SEARCH TEXT on both. Prints min/median/max, the ratio and
# the verdicts on stdout. Needs dovecot-imapd (see
# scripts/install-test-deps.sh), isync, and GNU time for mbsync's peak RSS.
#
# Extra flags after "--" go to the test (see bench/imapd_test.go), e.g.
#   bench/imapd.sh 1000 -- -pairs 3
#   bench/imapd.sh -- -pprof /tmp/pprof   (a Go CPU profile of the daemon's run: imapd.pprof)
set -euo pipefail
cd "$(dirname "$0")/.."

msgs=10000
if [[ $# -gt 0 && "$1" != "--" ]]; then
	msgs="$1"
	shift
fi
if ! [[ "$msgs" =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: bench/imapd.sh [MESSAGES] [-- extra test flags]" >&2
	exit 2
fi
[[ $# -gt 0 && "$1" == "--" ]] && shift

export HOLDOVER_BENCH=1
exec "${GO:-go}" test -tags sqlite_fts5 -run '^TestIMAPDBenchmark$' -count=1 -v -timeout 120m ./bench/ \
	-args -msgs "$msgs" -pairs 5 "$@"
