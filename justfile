# Gatehouse developer commands (https://github.com/casey/just). Run `just` to list them.

# Recipe arguments reach the scripts as "$@", spaces intact.
set positional-arguments

default:
    @just --list

# Build and run the server (release); args go to `gatehouse serve`
serve *ARGS:
    bash scripts/serve.sh "$@"

# Build the dashboard into frontend/dist (installs the wasm toolchain once)
dashboard *ARGS:
    bash scripts/dashboard.sh "$@"

# Browser tests of the dashboard (SQLite; pass a PostgreSQL admin URL to run on it too)
browser *ARGS:
    bash scripts/browser-test.sh "$@"

# Full test suite: SQLite + PostgreSQL, then the browser tests; args go to both nextest runs
test *ARGS:
    bash scripts/test.sh "$@"

# Benchmarks (audit, mcp, oauth, webhooks; default all): audit log (1 M events), MCP gateway throughput, OAuth token endpoint, webhook delivery; SQLite and PostgreSQL
bench *ARGS:
    bash scripts/bench.sh "$@"

# Regenerate openapi.yaml from the server's API definition
openapi:
    cargo run -q -p gatehouse-api --bin gatehouse -- openapi > openapi.yaml.tmp
    mv openapi.yaml.tmp openapi.yaml

# Start (or reuse) the local test PostgreSQL and print its admin URL
pg:
    bash scripts/pg.sh

# Format all code
fmt:
    cargo fmt --all

# Lint all crates and targets, and the dashboard for wasm
lint:
    cargo clippy --workspace --all-targets
    cargo clippy -p gatehouse-dashboard --target wasm32-unknown-unknown
