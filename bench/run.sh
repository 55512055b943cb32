#!/usr/bin/env bash
# The whole benchmark: release builds, then every scenario and baseline on this machine, written
# to bench/results/<date>.md. Extra arguments go to `loket-bench run-all` (e.g. --quick).
# PostgreSQL scenario: set LOKET_BENCH_PG_URL=postgres://... (skipped, with a note, without it).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p loket-cli -p loket-bench
exec "$target/release/loket-bench" run-all --loket "$target/release/loket" \
  --out "bench/results/$(date -u +%F).md" "$@"
