#!/usr/bin/env bash
# Installs schemathesis (PyPI), pinned, into a virtualenv in the tools cache, once, and
# prints the path of its `st` command on the last line. scripts/schemathesis.sh runs it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VERSION=4.32.5
DIR=$GATEHOUSE_TOOLS/schemathesis-$VERSION
ST=$DIR/bin/st
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    deb_install python3 python3-venv
fi
if ! "$ST" --version 2>/dev/null | grep -q "$VERSION"; then
    echo "installing schemathesis==$VERSION into $DIR" >&2
    rm -rf "$DIR"
    python3 -m venv "$DIR" >&2
    "$DIR/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
fi
echo "$ST"
