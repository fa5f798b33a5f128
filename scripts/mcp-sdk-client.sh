#!/usr/bin/env bash
# Installs the official MCP TypeScript SDK (@modelcontextprotocol/sdk) from the npm
# registry into a cache folder, once, and prints its node_modules folder (for NODE_PATH)
# on the last line. The OAuth end-to-end test runs crates/api/tests/e2e/mcp_oauth_client.mjs
# with it, as an independent client of our OAuth server and MCP endpoint.
set -euo pipefail
VERSION=1.32.2
DIR=${GATEHOUSE_TOOLS_DIR:-${HOME:-/tmp}/.cache/gatehouse}/npm-sdk
PKG=$DIR/node_modules/@modelcontextprotocol/sdk
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
    echo "installing @modelcontextprotocol/sdk@$VERSION into $DIR" >&2
    mkdir -p "$DIR"
    npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/sdk@$VERSION" >&2
fi
echo "$DIR/node_modules"
