#!/usr/bin/env bash
# Installs schemathesis (PyPI), pinned, into a virtualenv in the tools cache, once, and
# prints the path of its `st` command on the last line. scripts/schemathesis.sh runs it.
set -euo pipefail
VERSION=4.32.5
DIR=${GATEHOUSE_TOOLS_DIR:-${HOME:-/tmp}/.cache/gatehouse}/schemathesis-$VERSION
ST=$DIR/bin/st
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    if [[ $(id -u) == 0 ]]; then
        echo "installing python3 and python3-venv (Debian packages)" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
    else
        echo "error: python3 with venv is needed for the schemathesis run; install python3-venv" >&2
        exit 1
    fi
fi
if ! "$ST" --version 2>/dev/null | grep -q "$VERSION"; then
    echo "installing schemathesis==$VERSION into $DIR" >&2
    rm -rf "$DIR"
    python3 -m venv "$DIR" >&2
    "$DIR/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
fi
echo "$ST"
