#!/usr/bin/env bash
# bench/calendar.sh [EVENTS] [-- extra test flags]
#
# Issue 10's calendar benchmark: generates two calendars (default 5000
# events, about 10 % recurring, some with RECURRENCE-ID overrides, some
# with VTIMEZONEs) in a throwaway Radicale, then times holdover's
# `sync --once` against vdirsyncer (discover + sync into a filesystem
# storage) for an initial sync, a no-op resync and a resync after 100
# server-side edits + 100 new events, on loopback and again through a
# proxy that adds 50 ms of round trip; then `holdover cal ls` of a month
# as a whole process. Prints the tables, where each tool's time goes
# (requests, Radicale's time, CPU) and a verdict per goal of the issue.
#
# Needs radicale (see scripts/install-test-deps.sh), vdirsyncer and GNU
# time (package time) for exact peak RSS. As root this script installs
# vdirsyncer and time when missing (CI does not run it); without
# vdirsyncer holdover is measured alone, loudly, except with CI=true,
# where a missing vdirsyncer is a failure.
#
# Extra flags after "--" go to the test (see bench/calendar_test.go), e.g.
#   bench/calendar.sh 1000 -- -initial-runs 1 -links loopback
#   bench/calendar.sh -- -rtt 100ms -ls-month 2026-03 -perf /tmp/perf
set -euo pipefail
cd "$(dirname "$0")/.."

events=5000
if [[ $# -gt 0 && "$1" != "--" ]]; then
	events="$1"
	shift
fi
if ! [[ "$events" =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: bench/calendar.sh [EVENTS] [-- extra test flags]" >&2
	exit 2
fi
[[ $# -gt 0 && "$1" == "--" ]] && shift

missing=()
command -v vdirsyncer >/dev/null || missing+=(vdirsyncer)
[[ -x /usr/bin/time ]] || missing+=(time)
if [[ ${#missing[@]} -gt 0 ]]; then
	if [[ "$(id -u)" == 0 && "${CI:-}" != "true" ]]; then
		echo "bench/calendar.sh: installing ${missing[*]}" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		echo "bench/calendar.sh: ${missing[*]} not installed and not installing (not root, or CI=true)" >&2
	fi
fi

export HOLDOVER_BENCH=1
exec "${GO:-go}" test -tags sqlite_fts5 -run '^TestCalendarBenchmark$' -count=1 -v -timeout 60m ./bench/ \
	-args -events "$events" "$@"
