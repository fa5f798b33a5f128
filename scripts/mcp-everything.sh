#!/usr/bin/env bash
# Installs the official reference MCP server (@modelcontextprotocol/server-everything)
# from the npm registry into a cache folder, once, and prints the path of its entry
# script. The MCP tests run it as a real upstream (Streamable HTTP mode).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VERSION=2026.8.31
DIR=$GATEHOUSE_TOOLS/npm
ENTRY=$DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js
need_npm "$DIR" "@modelcontextprotocol/server-everything@$VERSION"
echo "$ENTRY"
