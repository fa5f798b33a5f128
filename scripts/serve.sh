#!/usr/bin/env bash
# Start the Gatehouse server (release build):   bash scripts/serve.sh [serve args...]
#
# No setup needed: by default the server keeps its data in a SQLite file under
# ./data. The dashboard is served from frontend/dist when it has been built
# (`trunk build --release`, see Trunk.toml); otherwise a placeholder page is shown.
# Arguments are passed to `gatehouse serve` (try --help).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo run --release -p gatehouse-api --bin gatehouse -- serve "$@"
