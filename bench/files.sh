#!/usr/bin/env bash
# bench/files.sh [quick] [-- extra test flags]
#
# Issue 11's files benchmark: generates a tree (default 5,000 files in 250
# nested folders, about 300 MB: most files 1-200 KB, a few 5-20 MB;
# seeded, written once into /tmp/holdover-bench-files-tree-*) and runs
# holdover's `files sync --once` and `rclone bisync` (Debian package
# rclone, WebDAV remote with vendor owncloud) in turn against the same
# throwaway Apache (mod_dav), each with a folder of its own on both
# sides: (a) the initial sync both ways (server -> empty folder, folder
# -> empty server), (b) a no-op resync, (c) a resync after 100 local
# edits + 100 new local files + 100 edits on the server; both sides of
# each tool are hashed and compared after every run. Then (d) the time
# from a local write to the file being on the server with `holdover run`
# going. All that on loopback and again through a proxy that adds 25 ms
# each way. Last, holdover alone syncs one 2 GB file up and down while
# its RSS is sampled. Prints the tables, where the time goes (requests
# by kind, Apache's time, CPU) and a verdict per goal.
#
# "quick" is a small run for a check: 500 files, 25 folders, 30 MB, one
# run of each, a 200 MB big file.
#
# Needs apache2 (see scripts/install-test-deps.sh), rclone, and GNU time
# (package time) for exact peak RSS. As root this script installs rclone
# and time when missing (CI does not run it); without rclone holdover is
# measured alone, loudly, except with CI=true, where a missing rclone is
# a failure.
#
# Extra flags after "--" go to the test (see bench/files_test.go), e.g.
#   bench/files.sh -- -files 500 -runs 1 -links loopback
#   bench/files.sh -- -rtt 100ms -big-file-mb 0 -latency-runs 11
#   bench/files.sh quick -- -links loopback -perf /tmp/perf   (holdover under perf record)
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
if [[ $# -gt 0 && "$1" == "quick" ]]; then
	args=(-files 500 -folders 25 -mb 30 -runs 1 -latency-runs 3 -big-file-mb 200)
	shift
fi
if [[ $# -gt 0 && "$1" != "--" ]]; then
	echo "usage: bench/files.sh [quick] [-- extra test flags]" >&2
	exit 2
fi
[[ $# -gt 0 && "$1" == "--" ]] && shift

missing=()
command -v rclone >/dev/null || missing+=(rclone)
[[ -x /usr/bin/time ]] || missing+=(time)
if [[ ${#missing[@]} -gt 0 ]]; then
	if [[ "$(id -u)" == 0 && "${CI:-}" != "true" ]]; then
		echo "bench/files.sh: installing ${missing[*]}" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		echo "bench/files.sh: ${missing[*]} not installed and not installing (not root, or CI=true)" >&2
	fi
fi

export HOLDOVER_BENCH=1
exec "${GO:-go}" test -tags sqlite_fts5 -run '^TestFilesBenchmark$' -count=1 -v -timeout 4h ./bench/ \
	-args "${args[@]}" "$@"
