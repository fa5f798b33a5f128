#!/usr/bin/env bash
# Browser test of the dashboard: headless Debian Chromium driven by playwright-core from
# Node (scripts/browser-test.mjs) against `gatehouse serve` on a random port, with a
# temporary data directory and the default file mail transport (the test reads the
# invitation link from the outbox).
#   scripts/browser-test.sh                 SQLite only
#   scripts/browser-test.sh PG_ADMIN_URL    SQLite, then PostgreSQL (a fresh database)
# Builds the dashboard first (scripts/dashboard.sh; skipped when up to date).
# Screenshots: target/screenshots/{sqlite,postgres}/. Prints one line per database:
#   "browser <db>: passed" or "browser <db>: FAILED"; exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROOT=$PWD
PG_ADMIN=${1:-}
NPM_ROOT="$GATEHOUSE_TOOLS/npm-dashboard"  # not npm/: scripts/mcp-everything.sh owns that one
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
say() { printf '==> %s\n' "$*" >&2; }

bash scripts/dashboard.sh >&2

# Debian's browser, never a downloaded one (the test starts /usr/bin/chromium).
need_deb /usr/bin/chromium chromium chromium-driver
# dashboard.sh installed binaryen into the same folder; npm keeps both.
need_npm "$NPM_ROOT" playwright-core@1.65.1
# TOTP codes in the browser test come from oathtool, not from our own code.
need_deb oathtool oathtool

say "building the server (debug)"
cargo build -q -p gatehouse-api --bin gatehouse
BIN="$CARGO_TARGET_DIR/debug/gatehouse"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run_one NAME DATABASE_URL   (empty URL: the embedded SQLite default)
run_one() {
  local name=$1 db_url=$2 data port base server rc=0
  data=$(mktemp -d)
  port=$(free_port)
  # localhost, not 127.0.0.1: WebAuthn needs a domain name (the test maps it to IPv4).
  base="http://localhost:$port"
  local env=(GATEHOUSE_BIND="127.0.0.1:$port" GATEHOUSE_PUBLIC_URL="$base" GATEHOUSE_DATA_DIR="$data"
    GATEHOUSE_DASHBOARD_DIR="$ROOT/frontend/dist" GATEHOUSE_LOG_LEVEL=warn
    GATEHOUSE_OUTBOUND__ALLOW_LOOPBACK=true GATEHOUSE_MCP__HEALTH_POLL_MS=300)
  [ -n "$db_url" ] && env+=(GATEHOUSE_DATABASE_URL="$db_url")
  env "${env[@]}" "$BIN" serve >"$data/server.log" 2>&1 &
  server=$!
  for _ in $(seq 150); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
  done
  local shots="$ROOT/target/screenshots/$name"
  rm -rf "$shots"; mkdir -p "$shots"
  say "browser test on $name at $base"
  NODE_PATH="$NPM_ROOT/node_modules" BASE="$base" SHOTS="$shots" OUTBOX="$data/outbox" \
    node scripts/browser-test.mjs >&2 || rc=$?
  if [ $rc -ne 0 ]; then say "server log ($name):"; tail -40 "$data/server.log" >&2; fi
  kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
  rm -rf "$data"
  if [ $rc -eq 0 ]; then echo "browser $name: passed"; else echo "browser $name: FAILED"; fi
  return $rc
}

status=0
run_one sqlite "" || status=1
if [ -n "$PG_ADMIN" ]; then
  db="gh_browser_$(date +%s)_$$"
  url=$(test_db "$db" "$PG_ADMIN")
  run_one postgres "$url" || status=1
  drop_db "$db" "$PG_ADMIN" 2>/dev/null || true
fi
exit $status
