#!/usr/bin/env bash
# Installs the official MCP conformance suite (@modelcontextprotocol/conformance) and the
# MCP TypeScript SDK (@modelcontextprotocol/sdk) from the npm registry into a cache
# folder, once, and prints their node_modules folder on the last line. The conformance
# test (crates/api/tests/api/mcp/conformance.rs) runs the suite's CLI from there
# (@modelcontextprotocol/conformance/dist/index.js), and our fixture server
# (crates/api/tests/e2e/conformance_server.mjs) with it as NODE_PATH.
set -euo pipefail
VERSION=0.1.16
SDK_VERSION=1.32.2
DIR=${GATEHOUSE_TOOLS_DIR:-${HOME:-/tmp}/.cache/gatehouse}/npm-conformance
NM=$DIR/node_modules
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [[ $(id -u) == 0 ]]; then
        echo "installing nodejs and npm (Debian packages)" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
    else
        echo "error: node and npm are needed for the MCP tests; install nodejs and npm" >&2
        exit 1
    fi
fi
if ! grep -q "\"version\": \"$VERSION\"" "$NM/@modelcontextprotocol/conformance/package.json" 2>/dev/null ||
    ! grep -q "\"version\": \"$SDK_VERSION\"" "$NM/@modelcontextprotocol/sdk/package.json" 2>/dev/null; then
    echo "installing @modelcontextprotocol/conformance@$VERSION and @modelcontextprotocol/sdk@$SDK_VERSION into $DIR" >&2
    mkdir -p "$DIR"
    npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error \
        "@modelcontextprotocol/conformance@$VERSION" "@modelcontextprotocol/sdk@$SDK_VERSION" >&2
fi
echo "conformance CLI: $NM/@modelcontextprotocol/conformance/dist/index.js" >&2
echo "$NM"
