#!/usr/bin/env bash
# Audit log benchmark (run through scripts/bench.sh: `bash scripts/bench.sh audit`)
#
# Audit log benchmark (crates/api/benches/audit.rs), on SQLite then on PostgreSQL:
# seeds 1 M audit events over 100 orgs (+ one big org of 200 k events for the export
# rate) and prints p50/p95/max of the page queries and the export rate with the
# process RSS. Targets are reported as PASS/MISS; the script fails only on errors.
#
#   1. builds the bench binary once (bench profile = release),
#   2. run 1: SQLite, database file $TARGET/bench/audit.db,
#   3. run 2: PostgreSQL, database `gatehouse_bench` on the server from scripts/pg.sh
#      (created by the bench when missing).
# Seeded databases are kept and reused by the next run when they hold the same data set;
# delete target/bench/audit.db or drop database gatehouse_bench to re-seed from scratch.
#
# Environment:
#   GATEHOUSE_BENCH_ROWS=1000000        events over the regular orgs
#   GATEHOUSE_BENCH_ORGS=100            regular orgs
#   GATEHOUSE_BENCH_BIG_ORG_ROWS=200000 events of the big org (0 = none)
#   GATEHOUSE_BENCH_QUERIES=300         timed page queries per kind
#   GATEHOUSE_BENCH_EXPLAIN=1           also print the query plans
#   GATEHOUSE_BENCH_SKIP_POSTGRES=1     SQLite only
#   GATEHOUSE_BENCH_SKIP_SQLITE=1       PostgreSQL only
#   GATEHOUSE_TEST_PG_URL=postgres://…  PostgreSQL server to use (see scripts/pg.sh)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET == /* ]] || TARGET=$ROOT/$TARGET
BENCH_DIR=$TARGET/bench
mkdir -p "$BENCH_DIR"

log() { printf 'bench-audit.sh: %s\n' "$*" >&2; }

log "building the benchmark (bench profile = release; the first build takes a while)"
cargo bench -p gatehouse-api --bench audit --no-run

run_bench() {
    local url=$1
    GATEHOUSE_BENCH_DATABASE_URL=$url cargo bench -q -p gatehouse-api --bench audit
}

status=0
if [[ ${GATEHOUSE_BENCH_SKIP_SQLITE:-} == 1 ]]; then
    log "skipping SQLite (GATEHOUSE_BENCH_SKIP_SQLITE=1)"
else
    log "SQLite: $BENCH_DIR/audit.db"
    run_bench "sqlite://$BENCH_DIR/audit.db?mode=rwc" || status=1
fi

if [[ ${GATEHOUSE_BENCH_SKIP_POSTGRES:-} == 1 ]]; then
    log "skipping PostgreSQL (GATEHOUSE_BENCH_SKIP_POSTGRES=1)"
else
    # Not test_db: the seeded database is kept for the next run.
    if admin_url=$(pg_admin_url) && [[ -n $admin_url ]]; then
        url=$(db_url "$admin_url" gatehouse_bench)
        log "PostgreSQL: $url"
        run_bench "$url" || status=1
    else
        log "error: no PostgreSQL server (scripts/pg.sh failed); set GATEHOUSE_BENCH_SKIP_POSTGRES=1 to run SQLite only"
        status=1
    fi
fi
exit $status
