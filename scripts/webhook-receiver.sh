#!/usr/bin/env bash
# Installs the Standard Webhooks reference library (PyPI `standardwebhooks`), pinned,
# into a virtualenv in the tools cache, once, and prints the path of the Python that
# runs scripts/webhook-receiver.py on the last line. The webhook tests start it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VERSION=1.3.0
DIR=$GATEHOUSE_TOOLS/standardwebhooks-$VERSION
PY=$DIR/bin/python
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    deb_install python3 python3-venv
fi
if ! "$PY" -c "import standardwebhooks, importlib.metadata as m; assert m.version('standardwebhooks') == '$VERSION'" 2>/dev/null; then
    echo "installing standardwebhooks==$VERSION into $DIR" >&2
    rm -rf "$DIR"
    python3 -m venv "$DIR" >&2
    "$DIR/bin/pip" install --quiet --disable-pip-version-check "standardwebhooks==$VERSION" >&2
fi
echo "$PY"
