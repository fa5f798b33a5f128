#!/usr/bin/env bash
# The project's benchmark command (`just bench` runs it):
#   bash scripts/bench.sh [audit|mcp|oauth|all]...      (default: all)
#
#   audit   audit log: 1 M events, page-query percentiles, export rate (scripts/bench-audit.sh)
#   mcp     MCP gateway: tools/call direct vs through the gateway (scripts/bench-mcp.sh)
#   oauth   OAuth token endpoint: registrations, code exchanges, refreshes (scripts/bench-oauth.sh)
#   webhooks  webhook delivery: deliveries/s, event-to-attempt p50/p99, memory with a backlog
#             (scripts/bench-webhooks.sh)
#
# Each runs on SQLite, then on PostgreSQL (GATEHOUSE_BENCH_SKIP_POSTGRES=1: SQLite only);
# the scripts named above list their other settings. All of them run even when one
# fails; the exit status is non-zero if any failed.
set -euo pipefail
self=$(realpath "${BASH_SOURCE[0]}")
cd "$(dirname "$self")/.."

benches=("$@")
((${#benches[@]})) || benches=(all)
run=()
for b in "${benches[@]}"; do
    case $b in
    audit | mcp | oauth | webhooks) run+=("$b") ;;
    # webhooks is not in `all` yet: its run stalls before printing (under investigation).
    all) run+=(audit mcp oauth) ;;
    -h | --help)
        sed -n '2,13p' "$self" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "bench.sh: unknown benchmark '$b' (audit, mcp, oauth, webhooks or all)" >&2
        exit 2
        ;;
    esac
done

status=0
for b in "${run[@]}"; do
    printf '\n==> bench %s\n' "$b" >&2
    bash "scripts/bench-$b.sh" || { status=1; printf '==> bench %s FAILED\n' "$b" >&2; }
done
exit $status
