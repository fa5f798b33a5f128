#!/usr/bin/env bash
# Make a PostgreSQL server available for the test suite.
#
# Prints exactly ONE line on stdout: an admin (superuser) connection URL, e.g.
#   postgres://postgres@127.0.0.1:54329/postgres
# Everything else goes to stderr.
#
# - GATEHOUSE_TEST_PG_URL set: use that server (checked with psql when available).
# - Otherwise run a private, throwaway cluster tuned for tests (fsync off, trust
#   auth, 127.0.0.1 only). It is created on first use, reused when running,
#   started when stopped and re-created when broken. Installs the Debian
#   `postgresql` package when missing and running as root.
#
# Environment:
#   GATEHOUSE_TEST_PG_URL   use this server instead of a local cluster
#   GATEHOUSE_PG_DIR        cluster directory          (default /tmp/gatehouse-pg)
#   GATEHOUSE_PG_PORT       TCP port on 127.0.0.1      (default 54329)
#   GATEHOUSE_PG_BINDIR     directory holding pg_ctl/initdb (default: newest
#                           /usr/lib/postgresql/*/bin)
#   GATEHOUSE_PG_TIMEOUT    seconds to wait for the server (default 60)
#
# The directory is dedicated to this cluster (data/, run/, postgres.log).
# Stop the server:  runuser -u postgres -- /usr/lib/postgresql/<ver>/bin/pg_ctl -D /tmp/gatehouse-pg/data stop
#                   (without runuser when it was started by a non-root user)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() {
    printf 'pg.sh: error: %s\n' "$*" >&2
    exit 1
}

# --- 1. An external server was given -----------------------------------------
if [[ -n "${GATEHOUSE_TEST_PG_URL:-}" ]]; then
    url=$GATEHOUSE_TEST_PG_URL
    if command -v psql >/dev/null 2>&1; then
        if ! psql "$url" -X -q -A -t -c 'select 1' >/dev/null 2>&1; then
            psql "$url" -X -q -A -t -c 'select 1' >/dev/null || true # show psql's error on stderr
            die "GATEHOUSE_TEST_PG_URL is set but the server does not answer 'select 1' (URL: $url)"
        fi
    else
        log "psql not found; using GATEHOUSE_TEST_PG_URL without checking it"
    fi
    printf '%s\n' "$url"
    exit 0
fi

BASE=${GATEHOUSE_PG_DIR:-/tmp/gatehouse-pg}
PORT=${GATEHOUSE_PG_PORT:-54329}
TIMEOUT=${GATEHOUSE_PG_TIMEOUT:-60}
[[ $PORT =~ ^[0-9]+$ ]] || die "GATEHOUSE_PG_PORT must be a number, got '$PORT'"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "GATEHOUSE_PG_TIMEOUT must be a number of seconds, got '$TIMEOUT'"
[[ $BASE == /* ]] || BASE="$PWD/$BASE"
BASE=${BASE%/}
PGDATA_DIR="$BASE/data"  # the cluster itself
SOCKET_DIR="$BASE/run"   # unix socket directory
LOGFILE="$BASE/postgres.log"
MARKER="$BASE/.gatehouse-cluster-ok" # written only after a complete, configured initdb
URL="postgres://postgres@127.0.0.1:${PORT}/postgres"

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

# --- 2. Find (or install) the server binaries --------------------------------
find_bindir() {
    if [[ -n "${GATEHOUSE_PG_BINDIR:-}" ]]; then
        [[ -x "$GATEHOUSE_PG_BINDIR/pg_ctl" && -x "$GATEHOUSE_PG_BINDIR/initdb" ]] &&
            printf '%s\n' "${GATEHOUSE_PG_BINDIR%/}"
        return 0
    fi
    local d best=""
    # Highest major version wins (version sort, so 9.6 < 15 < 16).
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
        [[ -x "$d/pg_ctl" && -x "$d/initdb" ]] && best=$d
    done
    [[ -n $best ]] && printf '%s\n' "$best"
    return 0
}

install_postgresql() {
    command -v apt-get >/dev/null 2>&1 ||
        die "PostgreSQL server binaries not found and apt-get is unavailable. Install PostgreSQL, or set GATEHOUSE_PG_BINDIR=/path/to/bin (with pg_ctl and initdb), or set GATEHOUSE_TEST_PG_URL=postgres://user:pass@host:port/postgres to use an existing server."
    log "installing postgresql (one-time)"
    deb_install postgresql || die "apt-get install postgresql failed"
}

BINDIR=$(find_bindir)
if [[ -z $BINDIR ]]; then
    if [[ $IS_ROOT -eq 1 ]]; then
        install_postgresql
        BINDIR=$(find_bindir)
        [[ -n $BINDIR ]] || die "postgresql was installed but pg_ctl/initdb were not found in ${GATEHOUSE_PG_BINDIR:-/usr/lib/postgresql/*/bin}"
    else
        die "PostgreSQL server binaries (pg_ctl, initdb) not found in ${GATEHOUSE_PG_BINDIR:-/usr/lib/postgresql/*/bin}. Install them (Debian/Ubuntu: sudo apt-get install postgresql), or point the tests at a running server: GATEHOUSE_TEST_PG_URL=postgres://user:pass@host:port/postgres"
    fi
fi
PG_MAJOR=$("$BINDIR/pg_ctl" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')
log "using PostgreSQL $PG_MAJOR from $BINDIR"

# pg_isready: prefer the one next to pg_ctl, fall back to PATH.
if [[ -x "$BINDIR/pg_isready" ]]; then
    PG_ISREADY="$BINDIR/pg_isready"
else
    PG_ISREADY=$(command -v pg_isready || true)
fi
is_ready() {
    if [[ -n $PG_ISREADY ]]; then
        "$PG_ISREADY" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -t 2 >/dev/null 2>&1
    else
        "$BINDIR/psql" -X -q -A -t -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c 'select 1' >/dev/null 2>&1
    fi
}

# --- 3. Who runs the server ----------------------------------------------------
# initdb/postgres refuse to run as root: as root, run them as the `postgres` OS user.
if [[ $IS_ROOT -eq 1 ]]; then
    if ! id -u postgres >/dev/null 2>&1; then
        log "creating system user 'postgres'"
        useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
            --shell /bin/bash postgres || die "could not create the 'postgres' OS user"
    fi
    RUN_USER=postgres
    as_owner() { (cd / && runuser -u postgres -- "$@") 9>&-; }
else
    RUN_USER=$(id -un)
    as_owner() { "$@" 9>&-; }
fi
# (9>&-: the lock fd below must not leak into the long-lived postmaster.)
pgctl() { as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" "$@"; }

# --- 4. Serialise concurrent invocations -----------------------------------------
LOCKFILE="$BASE.lock"
# Best effort: skipped when the lock file cannot be opened (e.g. made by another user).
if command -v flock >/dev/null 2>&1 && (: >>"$LOCKFILE") 2>/dev/null; then
    exec 9>>"$LOCKFILE"
    flock -w $((TIMEOUT * 3)) 9 || die "timed out waiting for lock $LOCKFILE (another pg.sh running?)"
fi

# --- 5. Cluster lifecycle -------------------------------------------------------
cluster_complete() {
    # Complete = initdb + our config finished (marker) and made by this major version.
    [[ -f $MARKER && -f "$PGDATA_DIR/PG_VERSION" && -f "$PGDATA_DIR/postgresql.conf" ]] || return 1
    [[ $(cat "$PGDATA_DIR/PG_VERSION" 2>/dev/null) == "$PG_MAJOR" ]]
}

write_config() {
    # Regenerated on every run so port/dir changes take effect on (re)start.
    # Values are quoted for postgresql.conf; paths must not contain a single quote.
    local tmp
    tmp=$(mktemp)
    cat >"$tmp" <<EOF
# Managed by scripts/pg.sh -- throwaway test cluster, NOT crash safe.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCKET_DIR'
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    as_owner tee "$PGDATA_DIR/gatehouse.conf" >/dev/null <"$tmp"
    cat >"$tmp" <<'EOF'
# Managed by scripts/pg.sh: trust everything local (test cluster only).
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
host    all          all   ::1/128       trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
EOF
    as_owner tee "$PGDATA_DIR/pg_hba.conf" >/dev/null <"$tmp"
    rm -f "$tmp"
}

stop_quietly() {
    if [[ -f "$PGDATA_DIR/postmaster.pid" ]]; then
        pgctl stop -m immediate -w -t 20 1>&2 || true
    fi
}

wipe_and_init() {
    log "initialising a new cluster in $BASE"
    stop_quietly
    rm -rf "$PGDATA_DIR" "$SOCKET_DIR" "$MARKER" "$LOGFILE"
    mkdir -p "$BASE" "$SOCKET_DIR"
    if [[ $IS_ROOT -eq 1 ]]; then
        chown "$RUN_USER:" "$BASE" "$SOCKET_DIR"
        # The postgres user must be able to reach the directory.
        as_owner test -w "$BASE" ||
            die "the 'postgres' OS user cannot write to $BASE (a parent directory is not accessible to it); choose another GATEHOUSE_PG_DIR, e.g. under /tmp"
    fi
    chmod 700 "$SOCKET_DIR"
    local out
    if ! out=$(as_owner "$BINDIR/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C --no-sync --no-instructions 2>&1); then
        printf '%s\n' "$out" >&2
        die "initdb failed"
    fi
    echo "include = 'gatehouse.conf'" | as_owner tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
    write_config
    as_owner touch "$MARKER"
}

# pg_ctl status trusts kill(pid, 0), which also succeeds for a zombie: a postmaster
# killed with -9 in a container whose PID 1 does not reap children looks "running"
# forever. Check the process state as well.
postmaster_alive() {
    local pid state
    pid=$(as_owner head -n 1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}
server_running() { pgctl status >/dev/null 2>&1 && postmaster_alive; }
clear_stale_pid() {
    if as_owner test -e "$PGDATA_DIR/postmaster.pid" && ! postmaster_alive; then
        log "removing stale postmaster.pid (server process is gone)"
        as_owner rm -f "$PGDATA_DIR/postmaster.pid"
        # Socket + socket lock files name the dead PID too; the dir is ours alone.
        as_owner find "$SOCKET_DIR" -mindepth 1 -maxdepth 1 -name '.s.PGSQL.*' -delete 2>/dev/null || true
        sleep 1 # let orphaned backends notice and exit
    fi
}

start_server() {
    clear_stale_pid
    pgctl start -w -t "$TIMEOUT" -l "$LOGFILE" 1>&2
}

show_log() {
    if [[ -r $LOGFILE ]]; then
        log "last lines of $LOGFILE:"
        tail -n 20 "$LOGFILE" >&2 || true
    fi
}

wait_ready() {
    local deadline=$((SECONDS + TIMEOUT))
    until is_ready; do
        if ((SECONDS >= deadline)); then
            show_log
            die "PostgreSQL on 127.0.0.1:$PORT not ready after ${TIMEOUT}s"
        fi
        sleep 0.2
    done
}

if [[ -d $BASE && ! -O $BASE && $IS_ROOT -eq 0 ]]; then
    # Made by someone else (e.g. root -> postgres). Usable only if it is already serving.
    if is_ready; then
        log "reusing the server already running on 127.0.0.1:$PORT (cluster $BASE owned by another user)"
        printf '%s\n' "$URL"
        exit 0
    fi
    die "$BASE belongs to another user and no server answers on 127.0.0.1:$PORT; set GATEHOUSE_PG_DIR to a directory of your own (or GATEHOUSE_TEST_PG_URL to a server)"
fi

if [[ $IS_ROOT -eq 1 && -d $BASE ]]; then
    # A previous non-root run may have left files owned by someone else.
    if [[ -n $(find "$BASE" ! -user "$RUN_USER" -print -quit 2>/dev/null) ]]; then
        log "fixing ownership of $BASE (-> $RUN_USER)"
        chown -R "$RUN_USER:" "$BASE"
    fi
fi

if cluster_complete; then
    write_config
    if server_running; then
        if is_ready; then
            log "reusing running cluster in $BASE on port $PORT"
        else
            # Running, but not on the wanted port / address (config changed): restart.
            log "cluster in $BASE is running but not answering on 127.0.0.1:$PORT; restarting"
            pgctl restart -m fast -w -t "$TIMEOUT" -l "$LOGFILE" 1>&2 || {
                show_log
                die "could not restart the cluster in $BASE"
            }
        fi
    elif is_ready; then
        log "a server already answers on 127.0.0.1:$PORT; reusing it"
    else
        log "starting existing cluster in $BASE"
        if ! start_server; then
            show_log
            log "could not start the existing cluster; re-creating it"
            wipe_and_init
            start_server || {
                show_log
                die "could not start PostgreSQL (is port $PORT in use? set GATEHOUSE_PG_PORT)"
            }
        fi
    fi
else
    if [[ -e $BASE ]]; then
        log "$BASE exists but holds no complete PostgreSQL $PG_MAJOR cluster; wiping it"
    fi
    wipe_and_init
    start_server || {
        show_log
        die "could not start PostgreSQL (is port $PORT in use? set GATEHOUSE_PG_PORT)"
    }
fi

wait_ready
log "PostgreSQL $PG_MAJOR ready on 127.0.0.1:$PORT (data: $PGDATA_DIR, log: $LOGFILE)"
printf '%s\n' "$URL"
