#!/usr/bin/env bash
# Installs the official MCP TypeScript SDK v2 client (@modelcontextprotocol/client, the
# line that implements protocol 2026-07-28) from the npm registry into a cache folder,
# once, and prints its node_modules folder (for NODE_PATH) on the last line. The modern
# client end-to-end tests (tests/api/mcp/modern.rs) run
# crates/api/tests/e2e/mcp_modern_client.mjs with it, pinned to 2026-07-28 only.
set -euo pipefail
VERSION=2.4.0
DIR=${GATEHOUSE_TOOLS_DIR:-${HOME:-/tmp}/.cache/gatehouse}/npm-client-v2
PKG=$DIR/node_modules/@modelcontextprotocol/client
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [[ $(id -u) == 0 ]]; then
        echo "installing nodejs and npm (Debian packages)" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
    else
        echo "error: node and npm are needed for the MCP tests; install nodejs and npm" >&2
        exit 1
    fi
fi
if ! grep -q "\"version\": \"$VERSION\"" "$PKG/package.json" 2>/dev/null; then
    echo "installing @modelcontextprotocol/client@$VERSION into $DIR" >&2
    mkdir -p "$DIR"
    npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/client@$VERSION" >&2
fi
echo "$DIR/node_modules"
