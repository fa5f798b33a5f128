#!/usr/bin/env bash
# Webhook delivery benchmark (crates/api/benches/webhooks.rs): a burst of events
# (deliveries/s), a paced run (event-to-first-attempt p50/p99) and a backlog (memory), on
# SQLite and on PostgreSQL.
#   GATEHOUSE_BENCH_EVENTS=5000        events in the burst
#   GATEHOUSE_BENCH_RATE=1000          events/s of the paced run
#   GATEHOUSE_BENCH_SECONDS=10         length of the paced run
#   GATEHOUSE_BENCH_BACKLOG=100000     pending messages for the memory figure (0: skip)
#   GATEHOUSE_BENCH_SKIP_POSTGRES=1    SQLite only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh
cargo build --release -q -p gatehouse-api --bin gatehouse
cargo bench -p gatehouse-api --bench webhooks --no-run
export GATEHOUSE_BENCH_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/gatehouse
cargo bench -q -p gatehouse-api --bench webhooks
if [[ ${GATEHOUSE_BENCH_SKIP_POSTGRES:-0} != 1 ]]; then
    url=$(test_db gatehouse_bench_webhooks)
    GATEHOUSE_BENCH_DATABASE_URL=$url cargo bench -q -p gatehouse-api --bench webhooks
fi
