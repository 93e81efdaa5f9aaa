#!/usr/bin/env bash
# bench/outbox.sh: issue 5's outbox benchmark. Queues 1,000 flag and move
# actions (700 flags, 300 moves) with synchronous=FULL and prints the
# enqueue latency (p50, p99), then how long the queue takes to drain
# against a throwaway Dovecot, and 100 sends against an SMTP sink.
set -euo pipefail
cd "$(dirname "$0")/.."
export HOLDOVER_BENCH=1
exec "${GO:-go}" test -tags sqlite_fts5 -run '^TestOutboxBenchmark$' -count=1 -v -timeout 20m ./bench/ "$@"
