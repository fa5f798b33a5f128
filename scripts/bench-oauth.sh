#!/usr/bin/env bash
# OAuth token-endpoint benchmark (crates/api/benches/oauth.rs): registrations, code
# exchanges and refreshes at concurrency 1, 8, 32, on SQLite and on PostgreSQL.
#   GATEHOUSE_BENCH_SECONDS=3          seconds per measured run
#   GATEHOUSE_BENCH_SKIP_POSTGRES=1    SQLite only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh
cargo build --release -q -p gatehouse-api --bin gatehouse
cargo bench -p gatehouse-api --bench oauth --no-run
export GATEHOUSE_BENCH_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/gatehouse
cargo bench -q -p gatehouse-api --bench oauth
if [[ ${GATEHOUSE_BENCH_SKIP_POSTGRES:-0} != 1 ]]; then
    url=$(test_db gatehouse_bench_oauth)
    GATEHOUSE_BENCH_DATABASE_URL=$url cargo bench -q -p gatehouse-api --bench oauth
fi
