#!/usr/bin/env bash
# Start the Gatehouse server with its dashboard:   bash scripts/serve.sh [serve args...]
#
# No setup needed: by default the server keeps its data in a SQLite file under ./data
# and writes mail as .eml files under ./data/outbox. The dashboard is built into
# frontend/dist first (scripts/dashboard.sh installs the wasm toolchain once, then
# rebuilds only when its sources change). Arguments are passed to `gatehouse serve`
# (try --help). GATEHOUSE_SKIP_DASHBOARD=1 starts without (re)building the dashboard.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ${GATEHOUSE_SKIP_DASHBOARD:-0} != 1 ]]; then
    if ! bash scripts/dashboard.sh; then
        printf '\n!!! the dashboard could not be built (see above); the server starts with a placeholder page\n\n' >&2
    fi
fi
exec cargo run --release -p gatehouse-api --bin gatehouse -- serve "$@"
