#!/usr/bin/env bash
# Installs the official MCP TypeScript SDK (@modelcontextprotocol/sdk) from the npm
# registry into a cache folder, once, and prints its node_modules folder (for NODE_PATH)
# on the last line. The OAuth end-to-end test runs crates/api/tests/e2e/mcp_oauth_client.mjs
# with it, as an independent client of our OAuth server and MCP endpoint.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VERSION=1.32.2
DIR=$GATEHOUSE_TOOLS/npm-sdk
need_npm "$DIR" "@modelcontextprotocol/sdk@$VERSION"
echo "$DIR/node_modules"
