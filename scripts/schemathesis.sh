#!/usr/bin/env bash
# Property-based API test: schemathesis (PyPI, pinned in scripts/schemathesis-install.sh)
# against `gatehouse serve` with every check on, checking the server against openapi.yaml
# (served at /openapi.yaml): statuses, content types, headers and bodies as documented,
# valid input accepted, invalid input refused with a 4xx, never a 5xx, 405 with `Allow`
# for undocumented methods, stateful sequences (create, read, delete, read again).
#   scripts/schemathesis.sh                 SQLite only
#   scripts/schemathesis.sh PG_ADMIN_URL    SQLite, then PostgreSQL (a fresh database)
# On each database it runs twice: signed in as an org owner (session cookie), and with an
# API key (read, write) of that org. Prints one line per run:
#   "schemathesis <db> <auth>: passed" or "schemathesis <db> <auth>: FAILED"
# and exits non-zero if any failed. Each run is bounded by SCHEMATHESIS_MAX_TIME seconds
# (default 150) and SCHEMATHESIS_MAX_EXAMPLES examples per operation (default 30).
# Reports (JUnit, and the server's log): target/schemathesis/<db>-<auth>/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROOT=$PWD
PG_ADMIN=${1:-}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-150}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-30}
say() { printf '==> %s\n' "$*" >&2; }

ST=$(bash scripts/schemathesis-install.sh | tail -n 1)
say "building the server (debug)"
cargo build -q -p gatehouse-api --bin gatehouse
BIN="$CARGO_TARGET_DIR/debug/gatehouse"
PASSWORD='correct horse battery staple'

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# st_run NAME AUTH BASE SLUG HEADER EXCLUDES...   one schemathesis run; prints its line
st_run() {
  local db=$1 auth=$2 base=$3 slug=$4 header=$5
  shift 5
  local out="$ROOT/target/schemathesis/$db-$auth" rc=0
  rm -rf "$out"; mkdir -p "$out"
  cat >"$out/schemathesis.toml" <<TOML
# Every org route runs against the org the run signed in to; other slugs are 404s.
[parameters]
"path.slug" = "$slug"

# Rules JSON Schema cannot state, so a schema-valid value may still be refused (with a
# 4xx problem document): each operation below may answer these to valid-looking input.
# Tokens that must exist (emailed links): 400 token-invalid, 410 expired.
[[operations]]
include-operation-id-regex = "^(verifyEmail|confirmPasswordReset|lookupInvitation|acceptInvitation)\$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "410", "429"]
# An email address must parse (RFC 5321/5322); a connector URL must be http(s) on a public
# address and its credential header a header name; redirect URIs https or loopback http;
# an expiry in the future; CIDRs that parse; usage \`from\` not after \`to\`; a slug not
# reserved, a name that yields a slug; a new owner who is an admin of the org; a webhook
# URL https on a public address and its secret header a header name not already sent; a
# message replayed only once its delivery has ended (409 while pending); a usage
# threshold a count that fits a 64-bit signed integer.
[[operations]]
include-operation-id-regex = "^(signup|requestPasswordReset|createInvitation|createConnector|updateConnector|createOAuthClient|createApiKey|updateSecuritySettings|getUsage|createOrg|updateOrg|transferOwnership|createWebhook|updateWebhook|replayWebhookDelivery|setUsageThresholds)\$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
# A passkey name must not be blank once trimmed; a PIN must not be a repeated digit or a
# straight run (\`000000\`, \`123456\`); a WebAuthn credential is an object from the
# browser whose strings pass the input screen, and one that does not verify, or whose
# ceremony is unknown, used or expired, is 400 passkey-invalid.
[[operations]]
include-operation-id-regex = "^(createPasskey|renamePasskey|setMyPin|confirmPinReset|verifyMfaPasskey|passkeySignIn)\$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "410", "422", "429"]
TOML
  say "schemathesis on $db as $auth at $base"
  # --checks all; phases: examples, coverage (boundary and negative values), fuzzing,
  # stateful (links between operations). NUL bytes in strings stay allowed.
  "$ST" --config-file "$out/schemathesis.toml" run "$base/openapi.yaml" \
    --url "$base/api/v1" --checks all --mode all \
    --phases examples,coverage,fuzzing,stateful \
    --max-time "$MAX_TIME" --max-examples "$MAX_EXAMPLES" --workers 1 \
    --request-timeout 10 --seed 1 --no-color --warnings off \
    -H "Origin: $base" -H "$header" "$@" \
    --generation-with-security-parameters false \
    --report junit --report-dir "$out" >&2 || rc=$?
  if [ $rc -eq 0 ]; then echo "schemathesis $db $auth: passed"; else echo "schemathesis $db $auth: FAILED"; fi
  return $rc
}

# run_one NAME DATABASE_URL   (empty URL: the embedded SQLite default)
run_one() {
  local name=$1 db_url=$2 data port base server status=0
  data=$(mktemp -d)
  port=$(free_port)
  base="http://127.0.0.1:$port"
  local env=(GATEHOUSE_BIND="127.0.0.1:$port" GATEHOUSE_PUBLIC_URL="$base" GATEHOUSE_DATA_DIR="$data"
    GATEHOUSE_LOG_LEVEL=warn)
  [ -n "$db_url" ] && env+=(GATEHOUSE_DATABASE_URL="$db_url")
  env "${env[@]}" GATEHOUSE_NEW_USER_PASSWORD="$PASSWORD" "$BIN" admin create-user \
    --email owner@example.com --display-name Owner --verified >/dev/null
  env "${env[@]}" "$BIN" serve >"$data/server.log" 2>&1 &
  server=$!
  for _ in $(seq 150); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
  done
  local jar="$data/cookies" slug key cookie
  curl -fsS -c "$jar" -H "Origin: $base" -H 'Content-Type: application/json' \
    -d "{\"email\":\"owner@example.com\",\"password\":\"$PASSWORD\"}" "$base/api/v1/auth/login" >/dev/null
  slug=$(curl -fsS -b "$jar" -H "Origin: $base" -H 'Content-Type: application/json' \
    -d '{"name":"Schemathesis"}' "$base/api/v1/orgs" | field '["slug"]')
  key=$(curl -fsS -b "$jar" -H "Origin: $base" -H 'Content-Type: application/json' \
    -d '{"name":"schemathesis","scopes":["read","write"]}' "$base/api/v1/orgs/$slug/api-keys" | field '["secret"]')
  cookie=$(awk '$6 == "gatehouse_session" { print $7 }' "$jar")
  # Logging out or revoking its own session would sign the session run out mid-way;
  # the API-key run covers both (it has no session to lose).
  st_run "$name" session "$base" "$slug" "Cookie: gatehouse_session=$cookie" \
    --exclude-operation-id logout --exclude-operation-id revokeSession || status=1
  st_run "$name" apikey "$base" "$slug" "Authorization: Bearer $key" || status=1
  kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
  cp "$data/server.log" "$ROOT/target/schemathesis/$name-server.log" 2>/dev/null || true
  rm -rf "$data"
  return $status
}

status=0
run_one sqlite "" || status=1
if [ -n "$PG_ADMIN" ]; then
  db="gh_schemathesis_$(date +%s)_$$"
  url=$(test_db "$db" "$PG_ADMIN")
  run_one postgres "$url" || status=1
  drop_db "$db" "$PG_ADMIN" 2>/dev/null || true
fi
exit $status
