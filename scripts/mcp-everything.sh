#!/usr/bin/env bash
# Installs the official reference MCP server (@modelcontextprotocol/server-everything)
# from the npm registry into a cache folder, once, and prints the path of its entry
# script. The MCP tests run it as a real upstream (Streamable HTTP mode).
set -euo pipefail
VERSION=2026.8.31
DIR=${GATEHOUSE_TOOLS_DIR:-${HOME:-/tmp}/.cache/gatehouse}/npm
ENTRY=$DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [[ $(id -u) == 0 ]]; then
        echo "installing nodejs and npm (Debian packages)" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
    else
        echo "error: node and npm are needed for the MCP tests; install nodejs and npm" >&2
        exit 1
    fi
fi
if [[ ! -f $ENTRY ]] || ! grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/@modelcontextprotocol/server-everything/package.json" 2>/dev/null; then
    echo "installing @modelcontextprotocol/server-everything@$VERSION into $DIR" >&2
    mkdir -p "$DIR"
    npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/server-everything@$VERSION" >&2
fi
echo "$ENTRY"
