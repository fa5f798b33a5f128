#!/usr/bin/env bash
# Installs the official MCP TypeScript SDK v2 client (@modelcontextprotocol/client, the
# line that implements protocol 2026-07-28) from the npm registry into a cache folder,
# once, and prints its node_modules folder (for NODE_PATH) on the last line. The modern
# client end-to-end tests (tests/api/mcp/modern.rs) run
# crates/api/tests/e2e/mcp_modern_client.mjs with it, pinned to 2026-07-28 only.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VERSION=2.4.0
DIR=$GATEHOUSE_TOOLS/npm-client-v2
need_npm "$DIR" "@modelcontextprotocol/client@$VERSION"
echo "$DIR/node_modules"
