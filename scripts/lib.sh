# Shared helpers of the scripts in this folder. Source it, don't run it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Everything here reports on stderr: stdout stays the calling script's (several print
# one result line there, which others read with `| tail -n 1`).
#
#   need_deb CMD PKG...        CMD on PATH, else install the Debian packages PKG...
#   deb_install PKG...         install Debian packages (as root, or with sudo)
#   need_npm DIR PKG@VER...    npm packages at exactly these versions in DIR/node_modules
#   pg_admin_url               the test PostgreSQL's admin URL (scripts/pg.sh)
#   db_url ADMIN_URL NAME      the URL of database NAME on the same server
#   test_db NAME [ADMIN_URL]   a fresh, empty database NAME; prints its URL
#   drop_db NAME [ADMIN_URL]   drops database NAME (if it exists)
#
# Tools go to $GATEHOUSE_TOOLS (GATEHOUSE_TOOLS_DIR, default ~/.cache/gatehouse).

GATEHOUSE_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GATEHOUSE_TOOLS=${GATEHOUSE_TOOLS_DIR:-${HOME:-/tmp}/.cache/gatehouse}

# deb_install PKG...: apt-get install, refreshing the package lists only when the first
# attempt fails (stale lists are the usual cause). Not root: through sudo, if there is one.
deb_install() {
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "error: needs the Debian package(s) $*; install them (apt-get install $*)" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    echo "installing $* (Debian packages)" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 && return 0
    echo "apt-get install failed; refreshing the package lists and retrying" >&2
    "${sudo[@]}" apt-get update -qq >&2 &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 ||
        { echo "error: could not install $*" >&2; return 1; }
}

# need_deb CMD PKG...: makes sure the command CMD (a name or an absolute path) exists.
need_deb() {
    local cmd=$1
    shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    deb_install "$@" && command -v "$cmd" >/dev/null 2>&1 ||
        { echo "error: $cmd is still missing after installing $*" >&2; return 1; }
}

# need_cargo ROOT CRATE VERSION [cargo install args...]: installs a pinned crate's
# binaries into ROOT (once; again when the pin changed), judged by cargo's own record.
need_cargo() {
    local root=$1 crate=$2 version=$3
    shift 3
    cargo install --list --root "$root" 2>/dev/null | grep -qx "$crate v$version:" && return 0
    echo "installing $crate $version (cargo, once)" >&2
    cargo install --root "$root" "$crate" --version "=$version" --force "$@"
}

# need_npm DIR PKG@VER...: installs the packages into DIR (once; again when a pinned
# version changed). Scoped names work: @scope/name@1.2.3.
need_npm() {
    local dir=$1 spec name version missing=()
    shift
    need_deb node nodejs npm && need_deb npm npm || return 1
    for spec in "$@"; do
        name=${spec%@*}
        version=${spec##*@}
        grep -q "\"version\": \"$version\"" "$dir/node_modules/$name/package.json" 2>/dev/null ||
            missing+=("$spec")
    done
    ((${#missing[@]} == 0)) && return 0
    echo "installing ${missing[*]} into $dir (npm)" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$@" >&2
}

# pg_admin_url: starts (or reuses) the test PostgreSQL; see scripts/pg.sh.
pg_admin_url() {
    bash "$GATEHOUSE_SCRIPTS/pg.sh" | tail -n 1
}

# db_url ADMIN_URL NAME: postgres://u@h:p/postgres?o -> postgres://u@h:p/NAME?o
db_url() {
    local url=$1 name=$2 base query="" scheme rest
    base=${url%%\?*}
    [[ $base == "$url" ]] || query="?${url#*\?}"
    scheme=${base%%://*}
    rest=${base#*://}
    rest=${rest%%/*}
    printf '%s://%s/%s%s\n' "$scheme" "$rest" "$name" "$query"
}

# test_db NAME [ADMIN_URL]: drops NAME if it is there, creates it empty, prints its URL.
test_db() {
    local name=$1 admin=${2:-}
    [[ -n $admin ]] || admin=$(pg_admin_url) || return 1
    need_deb psql postgresql-client || return 1
    drop_db "$name" "$admin" &&
        psql "$admin" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\"" >/dev/null &&
        db_url "$admin" "$name"
}

# drop_db NAME [ADMIN_URL]
drop_db() {
    local name=$1 admin=${2:-}
    [[ -n $admin ]] || admin=$(pg_admin_url) || return 1
    psql "$admin" -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null
}
