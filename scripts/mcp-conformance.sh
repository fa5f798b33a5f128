#!/usr/bin/env bash
# Installs the official MCP conformance suite (@modelcontextprotocol/conformance) and the
# MCP TypeScript SDK (@modelcontextprotocol/sdk) from the npm registry into a cache
# folder, once, and prints their node_modules folder on the last line. The conformance
# test (crates/api/tests/api/mcp/conformance.rs) runs the suite's CLI from there
# (@modelcontextprotocol/conformance/dist/index.js), and our fixture server
# (crates/api/tests/e2e/conformance_server.mjs) with it as NODE_PATH.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VERSION=0.1.16
SDK_VERSION=1.32.2
DIR=$GATEHOUSE_TOOLS/npm-conformance
NM=$DIR/node_modules
need_npm "$DIR" "@modelcontextprotocol/conformance@$VERSION" "@modelcontextprotocol/sdk@$SDK_VERSION"
echo "conformance CLI: $NM/@modelcontextprotocol/conformance/dist/index.js" >&2
echo "$NM"
