#!/usr/bin/env bash
# The project's test command:   bash scripts/test.sh [extra nextest args...]
#
#   1. makes sure cargo-nextest is available (installs it once if missing,
#      falls back to plain `cargo test` if that fails),
#   2. gets a PostgreSQL admin URL from scripts/pg.sh (starts a throwaway local
#      cluster, or uses GATEHOUSE_TEST_PG_URL),
#   3. builds all test binaries once,
#   4. run 1: every test (unit + integration) against SQLite,
#   5. run 2: the integration tests (the DB-backed ones) against PostgreSQL,
#   6. run 3: the dashboard in headless Chromium (scripts/browser-test.sh) against
#      `gatehouse serve` on SQLite and on PostgreSQL; builds the dashboard first
#      (installs the wasm toolchain once, see scripts/dashboard.sh).
#   7. run 4: schemathesis (scripts/schemathesis.sh) against `gatehouse serve` on SQLite
#      and on PostgreSQL, as an org owner and with an API key: the server against
#      openapi.yaml, every check on; each of the four runs counts as one test.
#
# Both runs always execute; the script fails if either does. The last line of
# output is always "N passed, N failed", summed over both runs.
#
# Extra arguments go to BOTH nextest runs, e.g.
#   bash scripts/test.sh login              # only tests whose name contains "login"
#   bash scripts/test.sh -- --exact api::health
#   bash scripts/test.sh --no-capture login
# (A `-E filterset` you pass is OR-ed with run 2's `-E 'kind(test)'`, as nextest
# unions filtersets; name filters are AND-ed with it.)
#
# Environment:
#   GATEHOUSE_TEST_PG_URL=postgres://user:pass@host:port/postgres   use this server
#   GATEHOUSE_TEST_SKIP_POSTGRES=1   skip the PostgreSQL run (not for CI!)
#   GATEHOUSE_TEST_SKIP_BROWSER=1    skip the browser run (not for CI!)
#   GATEHOUSE_TEST_SKIP_SCHEMATHESIS=1  skip the schemathesis run (not for CI!)
#   GATEHOUSE_TOOLS_DIR              where cargo-nextest gets installed if missing
#                                    (default ~/.cache/gatehouse/tools)
# Logs: target/test-logs/{build,sqlite,postgres,browser,schemathesis}.log
set -euo pipefail

# ---------------------------------------------------------------------------
# Summary parsing. Kept as plain functions so they can be exercised alone:
#   source scripts/test.sh; parse_nextest_summary some.log
# ---------------------------------------------------------------------------

# parse_nextest_summary LOG -> prints "PASSED FAILED" taken from the last nextest
# line like
#   Summary [  12.3s] 40 tests run: 38 passed (1 slow), 1 failed, 1 timed out, 2 skipped
# "skipped" and "not run" are neither; every other outcome (failed, timed out,
# exec failed, ...) counts as failed. Returns 1 if the log has no Summary line.
parse_nextest_summary() {
    local line
    line=$(sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1" 2>/dev/null |
        grep -E '^[[:space:]]*Summary \[.*\][[:space:]]+[0-9/]+ tests? run:' | tail -n 1) || true
    [[ -n $line ]] || return 1
    printf '%s\n' "$line" | awk '{
        sub(/^.* tests? run:/, "")
        gsub(/\([^)]*\)/, "")          # "(1 slow, 2 leaky)" annotations
        n = split($0, items, ",")
        p = 0; f = 0
        for (i = 1; i <= n; i++) {
            item = items[i]
            gsub(/^[ \t]+|[ \t]+$/, "", item)
            if (match(item, /^[0-9]+ /) == 0) continue
            cnt = substr(item, 1, RLENGTH - 1) + 0
            what = substr(item, RLENGTH + 1)
            if (what == "passed") p += cnt
            else if (what == "skipped" || what == "not run") continue
            else f += cnt
        }
        printf "%d %d\n", p, f
    }'
}

# parse_cargo_test_summary LOG -> "PASSED FAILED" summed over all libtest
#   "test result: ok. 12 passed; 0 failed; 1 ignored; ..." lines (fallback runner).
parse_cargo_test_summary() {
    local out
    out=$(sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1" 2>/dev/null | awk '
        /^test result: / {
            found = 1
            if (match($0, /[0-9]+ passed/)) p += substr($0, RSTART, RLENGTH) + 0
            if (match($0, /[0-9]+ failed/)) f += substr($0, RSTART, RLENGTH) + 0
        }
        END { if (found) printf "%d %d\n", p, f }') || true
    [[ -n $out ]] || return 1
    printf '%s\n' "$out"
}

# tally RUNNER LOG EXIT_CODE -> "PASSED FAILED NOTE"
# A run that exits non-zero without reporting any failing test (build error,
# crash, cancelled run) counts as one failure, so the final line agrees with
# the exit status.
tally() {
    local runner=$1 log=$2 rc=$3 counts p=0 f=0 note=""
    if [[ $runner == nextest ]]; then
        counts=$(parse_nextest_summary "$log") || counts=""
    else
        counts=$(parse_cargo_test_summary "$log") || counts=""
    fi
    if [[ -n $counts ]]; then
        read -r p f <<<"$counts"
    else
        note="no test summary found"
    fi
    if [[ $rc -ne 0 && $f -eq 0 ]]; then
        f=1
        note="${note:+$note; }exited with status $rc without a failing test: counted as 1 failure"
    fi
    printf '%s %s %s\n' "$p" "$f" "$note"
}

# ---------------------------------------------------------------------------

say() { printf '\n==> %s\n' "$*" >&2; }
warn_loud() {
    printf '\n%s\n' "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    printf '!!! %s\n' "$@" >&2
    printf '%s\n\n' "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
}

RUNNER=nextest
RC_sqlite=0 RC_postgres=0 TIME_sqlite=0 TIME_postgres=0 # set by run_suite
ensure_nextest() {
    if cargo nextest --version >/dev/null 2>&1; then
        return 0
    fi
    local tools=${GATEHOUSE_TOOLS_DIR:-${HOME:-/tmp}/.cache/gatehouse/tools}
    if [[ -x "$tools/bin/cargo-nextest" ]]; then
        export PATH="$tools/bin:$PATH"
        cargo nextest --version >/dev/null 2>&1 && return 0
    fi
    say "cargo-nextest not found; installing it into $tools (one-time)"
    if cargo install --locked --root "$tools" cargo-nextest >&2; then
        export PATH="$tools/bin:$PATH"
        cargo nextest --version >/dev/null 2>&1 && return 0
    fi
    warn_loud "could not install cargo-nextest; falling back to plain 'cargo test'" \
        "(no per-test timeouts, and extra arguments are passed to cargo test)"
    RUNNER=cargo
}

# sweep_test_databases URL: drops the test databases (gh_test_<uuid v7>) that earlier
# runs left behind: a test killed by a timeout never drops its own. The name carries
# its creation time; only those older than three hours go, so a run going on at the
# same time on the same server keeps its databases.
sweep_test_databases() {
    command -v psql >/dev/null 2>&1 || return 0
    psql "$1" -X -q -v ON_ERROR_STOP=0 >/dev/null 2>&1 <<'SQL' || true
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname) FROM pg_database
 WHERE datname ~ '^gh_test_[0-9a-f]{32}$'
   AND ('x' || substr(datname, 9, 12))::bit(48)::bigint
       < (extract(epoch FROM now()) * 1000)::bigint - 3 * 3600 * 1000
\gexec
SQL
}

# run_suite NAME LOG VAR=VALUE... -- COMMAND...   (sets RC_<NAME>)
run_suite() {
    local name=$1 log=$2
    shift 2
    local envs=()
    while [[ $1 != -- ]]; do
        envs+=("$1")
        shift
    done
    shift
    say "[$name] ${envs[*]} $*"
    local rc start=$SECONDS
    set +e
    env "${envs[@]}" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    printf -v "RC_$name" '%s' "$rc"
    printf -v "TIME_$name" '%s' "$((SECONDS - start))"
}

main() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."

    ensure_nextest

    # Independent checkers of the two-factor tests: TOTP codes (oathtool), the QR code
    # (rsvg-convert renders the SVG, zbarimg reads it).
    say "oathtool, zbarimg, rsvg-convert (Debian)"
    . scripts/lib.sh
    need_deb oathtool oathtool
    need_deb zbarimg zbar-tools
    need_deb rsvg-convert librsvg2-bin

    say "MCP reference server (npm)"
    if ! GATEHOUSE_TEST_MCP_EVERYTHING=$(bash scripts/mcp-everything.sh | tail -n 1); then
        printf '\n%s\n' "error: could not install @modelcontextprotocol/server-everything (see above)." >&2
        exit 2
    fi
    export GATEHOUSE_TEST_MCP_EVERYTHING
    say "MCP TypeScript SDK (npm)"
    if ! GATEHOUSE_TEST_MCP_SDK=$(bash scripts/mcp-sdk-client.sh | tail -n 1); then
        printf '\n%s\n' "error: could not install @modelcontextprotocol/sdk (see above)." >&2
        exit 2
    fi
    export GATEHOUSE_TEST_MCP_SDK
    say "MCP TypeScript SDK v2 client (npm)"
    if ! GATEHOUSE_TEST_MCP_CLIENT_V2=$(bash scripts/mcp-modern-client.sh | tail -n 1); then
        printf '\n%s\n' "error: could not install @modelcontextprotocol/client (see above)." >&2
        exit 2
    fi
    export GATEHOUSE_TEST_MCP_CLIENT_V2
    say "MCP conformance suite (npm)"
    if ! GATEHOUSE_TEST_MCP_CONFORMANCE=$(bash scripts/mcp-conformance.sh | tail -n 1); then
        printf '\n%s\n' "error: could not install @modelcontextprotocol/conformance (see above)." >&2
        exit 2
    fi
    export GATEHOUSE_TEST_MCP_CONFORMANCE
    say "Standard Webhooks reference library (PyPI)"
    if ! GATEHOUSE_TEST_WEBHOOK_PYTHON=$(bash scripts/webhook-receiver.sh | tail -n 1); then
        printf '\n%s\n' "error: could not install standardwebhooks (see above)." >&2
        exit 2
    fi
    export GATEHOUSE_TEST_WEBHOOK_PYTHON

    local pg_url=""
    if [[ ${GATEHOUSE_TEST_SKIP_POSTGRES:-0} == 1 ]]; then
        warn_loud "GATEHOUSE_TEST_SKIP_POSTGRES=1: the PostgreSQL test run is SKIPPED." \
            "Only SQLite is tested; this is not a full test run."
    else
        say "PostgreSQL"
        if ! pg_url=$(bash scripts/pg.sh | tail -n 1) || [[ -z $pg_url ]]; then
            printf '\n%s\n' "error: no PostgreSQL server for the tests (see scripts/pg.sh output above)." >&2
            printf '%s\n' \
                "  Point the tests at a server:  GATEHOUSE_TEST_PG_URL=postgres://user:pass@host:port/postgres bash scripts/test.sh" \
                "  (the user must be allowed to create databases), or install PostgreSQL (apt-get install postgresql)," \
                "  or skip the PostgreSQL run:   GATEHOUSE_TEST_SKIP_POSTGRES=1 bash scripts/test.sh" >&2
            exit 2
        fi
        printf 'PostgreSQL: %s\n' "$pg_url" >&2
        sweep_test_databases "$pg_url"
    fi

    local logdir="${CARGO_TARGET_DIR:-target}/test-logs"
    mkdir -p "$logdir"
    local color=()
    [[ -t 1 ]] && color=(--color always)

    # Build every test binary once, up front.
    say "building tests"
    local build_rc=0
    set +e
    if [[ $RUNNER == nextest ]]; then
        cargo nextest run --workspace --no-run "${color[@]}" 2>&1 | tee "$logdir/build.log"
    else
        cargo test --workspace --no-run "${color[@]}" 2>&1 | tee "$logdir/build.log"
    fi
    build_rc=${PIPESTATUS[0]}
    set -e
    if [[ $build_rc -ne 0 ]]; then
        printf '\n==================== test summary ====================\n'
        printf 'build FAILED (exit %s); no tests were run. Log: %s\n' "$build_rc" "$logdir/build.log"
        printf '0 passed, 1 failed\n'
        exit 1
    fi

    # Run 1: SQLite, all tests.
    if [[ $RUNNER == nextest ]]; then
        run_suite sqlite "$logdir/sqlite.log" GATEHOUSE_TEST_DB=sqlite -- \
            cargo nextest run --workspace --no-tests=warn "${color[@]}" "$@"
    else
        run_suite sqlite "$logdir/sqlite.log" GATEHOUSE_TEST_DB=sqlite -- \
            cargo test --workspace --no-fail-fast "${color[@]}" "$@"
    fi

    # Run 2: PostgreSQL, integration-test binaries only.
    if [[ -n $pg_url ]]; then
        if [[ $RUNNER == nextest ]]; then
            run_suite postgres "$logdir/postgres.log" \
                GATEHOUSE_TEST_DB=postgres "GATEHOUSE_TEST_PG_URL=$pg_url" -- \
                cargo nextest run --workspace -E 'kind(test)' --no-tests=warn "${color[@]}" "$@"
        else
            run_suite postgres "$logdir/postgres.log" \
                GATEHOUSE_TEST_DB=postgres "GATEHOUSE_TEST_PG_URL=$pg_url" -- \
                cargo test --workspace --no-fail-fast --test '*' "${color[@]}" "$@"
        fi
    fi

    # Run 3: the dashboard in a real browser (skipped when test arguments narrow the run).
    local browser=1 RC_browser=0 TIME_browser=0
    if [[ ${GATEHOUSE_TEST_SKIP_BROWSER:-0} == 1 || $# -gt 0 ]]; then
        browser=0
    else
        say "browser tests (dashboard)"
        local t0=$SECONDS
        set +e
        bash scripts/browser-test.sh "$pg_url" 2>&1 | tee "$logdir/browser.log"
        RC_browser=${PIPESTATUS[0]}
        set -e
        TIME_browser=$((SECONDS - t0))
    fi

    # Run 4: schemathesis against the live server (skipped when test arguments narrow the run).
    local schemathesis=1 RC_schemathesis=0 TIME_schemathesis=0
    if [[ ${GATEHOUSE_TEST_SKIP_SCHEMATHESIS:-0} == 1 || $# -gt 0 ]]; then
        schemathesis=0
    else
        say "schemathesis (the API against openapi.yaml)"
        local t1=$SECONDS
        set +e
        bash scripts/schemathesis.sh "$pg_url" 2>&1 | tee "$logdir/schemathesis.log"
        RC_schemathesis=${PIPESTATUS[0]}
        set -e
        TIME_schemathesis=$((SECONDS - t1))
    fi

    # Summary.
    local total_p=0 total_f=0 status=0 p f note
    printf '\n==================== test summary ====================\n'
    read -r p f note <<<"$(tally "$RUNNER" "$logdir/sqlite.log" "$RC_sqlite")"
    printf 'sqlite:     %4d passed, %4d failed  (%ss, log %s)%s\n' "$p" "$f" "$TIME_sqlite" \
        "$logdir/sqlite.log" "${note:+ -- $note}"
    total_p=$((total_p + p))
    total_f=$((total_f + f))
    [[ $RC_sqlite -eq 0 ]] || status=1
    if [[ -n $pg_url ]]; then
        read -r p f note <<<"$(tally "$RUNNER" "$logdir/postgres.log" "$RC_postgres")"
        printf 'postgres:   %4d passed, %4d failed  (%ss, log %s)%s\n' "$p" "$f" "$TIME_postgres" \
            "$logdir/postgres.log" "${note:+ -- $note}"
        total_p=$((total_p + p))
        total_f=$((total_f + f))
        [[ $RC_postgres -eq 0 ]] || status=1
    else
        printf 'postgres:   SKIPPED (GATEHOUSE_TEST_SKIP_POSTGRES=1)\n'
    fi
    if [[ $browser == 1 ]]; then
        p=$(grep -c '^browser [a-z]*: passed$' "$logdir/browser.log" || true)
        f=$(grep -c '^browser [a-z]*: FAILED$' "$logdir/browser.log" || true)
        if [[ $RC_browser -ne 0 && $f -eq 0 ]]; then f=1; fi
        printf 'browser:    %4d passed, %4d failed  (%ss, log %s, screenshots target/screenshots/)\n' \
            "$p" "$f" "$TIME_browser" "$logdir/browser.log"
        total_p=$((total_p + p))
        total_f=$((total_f + f))
        [[ $RC_browser -eq 0 ]] || status=1
    else
        printf 'browser:    SKIPPED\n'
    fi
    if [[ $schemathesis == 1 ]]; then
        p=$(grep -c '^schemathesis [a-z]* [a-z]*: passed$' "$logdir/schemathesis.log" || true)
        f=$(grep -c '^schemathesis [a-z]* [a-z]*: FAILED$' "$logdir/schemathesis.log" || true)
        if [[ $RC_schemathesis -ne 0 && $f -eq 0 ]]; then f=1; fi
        printf 'schemathesis: %2d passed, %4d failed  (%ss, log %s, reports target/schemathesis/)\n' \
            "$p" "$f" "$TIME_schemathesis" "$logdir/schemathesis.log"
        grep -E '^schemathesis [a-z]+ [a-z]+: ' "$logdir/schemathesis.log" | sed 's/^/  /' || true
        total_p=$((total_p + p))
        total_f=$((total_f + f))
        [[ $RC_schemathesis -eq 0 && $f -eq 0 ]] || status=1
    else
        printf 'schemathesis: SKIPPED\n'
    fi
    if [[ $status -ne 0 ]]; then
        printf 'result:     FAILED\n'
    else
        printf 'result:     ok\n'
    fi
    printf '%d passed, %d failed\n' "$total_p" "$total_f"
    exit "$status"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
