#!/usr/bin/env bash
# MCP gateway benchmark (crates/api/benches/mcp.rs): tools/call direct vs through the
# gateway at concurrency 1, 16, 64, on SQLite and on PostgreSQL. Rows: the call in a
# 2025-11-25 session with an API key, the same with an OAuth access token (minted in the
# set-up through the server's own flow), and a 2026-07-28 stateless call.
#   GATEHOUSE_BENCH_SECONDS=5          seconds per measured run
#   GATEHOUSE_BENCH_SKIP_POSTGRES=1    SQLite only
#   GATEHOUSE_BENCH_BARE=1             also measure a bare forwarder (the ceiling)
#   GATEHOUSE_BENCH_PIN=1              gateway and upstream on CPU 0, load generator on CPU 1
#   GATEHOUSE_BENCH_CONCURRENCY=16     one concurrency level only
#   GATEHOUSE_BENCH_ROWS=key,oauth     some rows only (key, oauth, stateless)
#   GATEHOUSE_BENCH_UPSTREAM=actix     a minimal actix-web upstream instead of the rmcp one
#   GATEHOUSE_BENCH_LOADGEN=reqwest    load from the bench process (reqwest) instead of wrk
#   GATEHOUSE_BENCH_WORKERS=1          HTTP workers of gateway and bare forwarder (0: one per CPU)
# The upstream is crates/mcp-upstream, a one-thread rmcp server (its own workspace, so
# the test suite never builds rmcp); each runs as its own process, and the bench prints
# the CPU time per call of the upstream and of the load generator as well.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh
# The load generator: wrk (Debian package), installed once.
need_deb wrk wrk
cargo build --release -q -p gatehouse-api --bin gatehouse
if [[ ${GATEHOUSE_BENCH_UPSTREAM:-rmcp} == rmcp ]]; then
    up_target="${CARGO_TARGET_DIR:-$PWD/target}/mcp-upstream"
    cargo build --release -q --manifest-path crates/mcp-upstream/Cargo.toml --target-dir "$up_target"
    export GATEHOUSE_BENCH_UPSTREAM_BIN=$up_target/release/gatehouse-mcp-upstream
fi
unset GATEHOUSE_BENCH_UPSTREAM # the bench binary's own marker for its upstream child
cargo bench -p gatehouse-api --bench mcp --no-run
export GATEHOUSE_BENCH_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/gatehouse
cargo bench -q -p gatehouse-api --bench mcp
if [[ ${GATEHOUSE_BENCH_SKIP_POSTGRES:-0} != 1 ]]; then
    url=$(test_db gatehouse_bench_mcp)
    GATEHOUSE_BENCH_DATABASE_URL=$url cargo bench -q -p gatehouse-api --bench mcp
fi
