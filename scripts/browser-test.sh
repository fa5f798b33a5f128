#!/usr/bin/env bash
# Browser test of the dashboard: headless Debian Chromium driven by playwright-core from
# Node against `gatehouse serve` on a random port with a temporary data directory.
# Flow: sign-up -> create org -> general settings -> create API key (shown once) ->
# revoke it -> sign out -> /login?next=… round trip. Screenshots: target/screenshots/.
#   scripts/browser-test.sh            (builds the dashboard with scripts/dashboard.sh first
#                                        unless frontend/dist exists; SKIP_DASHBOARD_BUILD=1
#                                        never builds it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="${GATEHOUSE_TOOLS_DIR:-$HOME/.cache/gatehouse}"
NPM_ROOT="$TOOLS/npm-dashboard"  # not npm/: scripts/mcp-everything.sh owns that one
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
say() { printf '==> %s\n' "$*" >&2; }

if [ ! -f frontend/dist/index.html ] && [ -z "${SKIP_DASHBOARD_BUILD:-}" ]; then
  scripts/dashboard.sh
fi

if ! [ -x /usr/bin/chromium ]; then
  say "installing Debian chromium"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi
if ! [ -d "$NPM_ROOT/node_modules/playwright-core" ]; then
  say "installing playwright-core into $NPM_ROOT"
  mkdir -p "$NPM_ROOT"
  npm install --silent --no-audit --no-fund --prefix "$NPM_ROOT" playwright-core@1.65.1
fi

say "building the server (debug)"
cargo build -q -p gatehouse-api --bin gatehouse
BIN="$CARGO_TARGET_DIR/debug/gatehouse"

DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
GATEHOUSE_BIND="127.0.0.1:$PORT" GATEHOUSE_PUBLIC_URL="$BASE" GATEHOUSE_DATA_DIR="$DATA" \
  GATEHOUSE_DASHBOARD_DIR="$ROOT/frontend/dist" "$BIN" serve >"$DATA/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
for _ in $(seq 100); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$DATA/server.log"; exit 1; }
  sleep 0.2
done
say "server at $BASE"

mkdir -p target/screenshots
NODE_PATH="$NPM_ROOT/node_modules" BASE="$BASE" SHOTS="$ROOT/target/screenshots" \
  node scripts/browser-test.mjs || { say "server log:"; tail -50 "$DATA/server.log"; exit 1; }
