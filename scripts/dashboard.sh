#!/usr/bin/env bash
# Sets up the wasm toolchain (idempotent) and builds the dashboard into frontend/dist.
# See ../shared/docs/wasm-toolchain.md for the two routes.
#   scripts/dashboard.sh            set up + build (split wasm, see below)
#   scripts/dashboard.sh --setup    set up only
#   scripts/dashboard.sh --force    build even when the sources have not changed
# Tools go to ${GATEHOUSE_TOOLS_DIR:-$HOME/.cache/gatehouse}.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROOT=$PWD

CARGO_ROOT="$GATEHOUSE_TOOLS/cargo"
NPM_ROOT="$GATEHOUSE_TOOLS/npm-dashboard"  # not npm/: scripts/mcp-everything.sh owns that one
WASM_SPLIT_VERSION=0.2.3  # its split format must match the wasm_split_helpers in Cargo.lock
BINARYEN_VERSION=132.0.0
# The CLI must equal the wasm-bindgen crate in Cargo.lock.
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
export PATH="$CARGO_ROOT/bin:$NPM_ROOT/node_modules/.bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$CARGO_ROOT" "$NPM_ROOT"

say() { printf '==> %s\n' "$*" >&2; }

# --- wasm target: route 1 (rustup), else route 2 (Debian rustc-web + build-std) ---
ROUTE=""
# GATEHOUSE_WASM_ROUTE=2 forces the fallback (to verify it on a machine where route 1 works).
FORCE2=0; [ "${GATEHOUSE_WASM_ROUTE:-}" = 2 ] && FORCE2=1
if [ $FORCE2 = 0 ] && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  ROUTE=1
elif [ $FORCE2 = 0 ] && say "route 1: rustup target add wasm32-unknown-unknown" \
     && timeout 300 rustup target add wasm32-unknown-unknown; then
  ROUTE=1
else
  if [ $FORCE2 = 1 ]; then
    say "GATEHOUSE_WASM_ROUTE=2: using route 2 (Debian rustc-web + build-std)"
  else
    say "route 1 FAILED (rustup could not install wasm32-unknown-unknown); falling back to route 2 (Debian rustc-web + build-std)"
  fi
  ROUTE=2
  DEB_VER="1.96.0+dfsg1-1~deb12u2"
  if ! { dpkg -s rustc-web cargo-web rust-web-src lld-22 >/dev/null 2>&1 \
         && [ -d /usr/lib/rustlib/src/rust/library ]; }; then
    deb_install "rustc-web=$DEB_VER" "cargo-web=$DEB_VER" "rust-web-src=$DEB_VER" lld-22 \
      || { say "route 2 FAILED too: cannot install Debian rustc-web/lld-22"; exit 1; }
  fi
  # Debian's compiler for the wasm build only; the rest of the workspace keeps rustup's.
  export CARGO_BUILD_RUSTC=/usr/bin/rustc
  export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
  export RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/wasm-debian"
  export RUSTUP_TOOLCHAIN=/usr 2>/dev/null || true
fi
say "wasm toolchain: route $ROUTE"

# --- pinned tools in the cache ---
# Without --locked: wasm-bindgen-cli's lockfile pins a webpki-roots the registry no
# longer has.
need_cargo "$CARGO_ROOT" wasm-bindgen-cli "$WB_VERSION"
need_cargo "$CARGO_ROOT" wasm_split_cli_support "$WASM_SPLIT_VERSION" --locked --features build-binary
# Not Debian's binaryen: its wasm-opt (108) produced a wasm that fails at start-up.
need_npm "$NPM_ROOT" "binaryen@$BINARYEN_VERSION"
say "tools: wasm-bindgen $(wasm-bindgen --version | awk '{print $2}'), wasm-split-cli $WASM_SPLIT_VERSION, wasm-opt $(wasm-opt --version | awk '{print $3}')"

[ "${1:-}" = "--setup" ] && exit 0

# --- build (skipped when nothing it is built from changed since the last build) ---
DIST=frontend/dist
STAMP=$DIST/.sources.sha256
sources_hash() {
  { find frontend crates/types -path "$DIST" -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum
    sha256sum Cargo.lock Cargo.toml scripts/dashboard.sh; echo "route $ROUTE"; } | sha256sum | cut -d' ' -f1
}
HASH=$(sources_hash)
if [ "${1:-}" != "--force" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] && [ -f $DIST/index.html ]; then
  say "dashboard up to date in $DIST"
  exit 0
fi
# Smaller wasm (the bundle budget is 400 KB gzipped): std rebuilt with panics that
# abort at once, without formatting code, Debug output or panic locations. These are
# unstable flags, hence RUSTC_BOOTSTRAP (route 2 needs it for build-std anyway).
# erase_components also comes from .cargo/config.toml for plain `cargo check`.
export RUSTC_BOOTSTRAP=1
FLAGS="--cfg erase_components -Zfmt-debug=none -Zlocation-detail=none"
if [ "$ROUTE" = 2 ] || rustup component list --installed 2>/dev/null | grep -q '^rust-src' \
   || timeout 300 rustup component add rust-src >&2; then
  export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
  FLAGS="$FLAGS -Zunstable-options -Cpanic=immediate-abort"
else
  say "rust-src is not available: building without build-std (a larger bundle)"
fi
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$FLAGS"

# The wasm is split into a first load and chunks fetched on demand (the `#[lazy]`
# functions of frontend/src/sections.rs), the way cargo-leptos --split does it; Trunk
# cannot (trunk#1022), so this script builds the dist itself:
#   1. link with relocations kept (`cargo rustc`: the link flag for the last crate only,
#      so the dependencies' build is reused),
#   2. wasm-split-cli cuts the raw wasm at the split points, writing the main module,
#      one wasm per chunk and the loader __wasm_split.js that the main module imports,
#   3. wasm-bindgen on the main module (--keep-lld-exports: the chunks link to them),
#   4. wasm-opt -Oz on every wasm.
NAME=gatehouse-dashboard
say "building the wasm (route $ROUTE)"
cargo rustc -p gatehouse-dashboard --target wasm32-unknown-unknown --profile wasm-release \
  -- -Clink-args=--emit-relocs
RAW="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/$NAME.wasm"
WORK="$CARGO_TARGET_DIR/dashboard-dist"
rm -rf "$WORK" && mkdir -p "$WORK/pkg"
wasm-split-cli "$RAW" "$WORK/pkg" --out-name "$NAME"
wasm-bindgen --target web --keep-lld-exports --no-typescript \
  --out-dir "$WORK/pkg" --out-name "$NAME" "$WORK/pkg/$NAME.wasm"
rm "$WORK/pkg/$NAME.wasm"
# wasm-split writes a name subsection wasm-opt does not know; it warns once per chunk
# and keeps the rest, so only that warning is dropped.
find "$WORK/pkg" -name '*.wasm' -print0 | xargs -0 -P 2 -I{} wasm-opt -Oz {} -o {} \
  2> >(grep -v '^warning: unknown name subsection' >&2)

# Content-addressed names, so a browser never mixes files of two builds.
PKG="pkg-$(cat "$WORK"/pkg/* | sha256sum | cut -c1-16)"
mv "$WORK/pkg" "$WORK/$PKG"
CSS="style-$(sha256sum frontend/style.css | cut -c1-16).css"
cp frontend/style.css "$WORK/$CSS"
sed -e "s|{{pkg}}|/$PKG|g" -e "s|{{css}}|/$CSS|g" -e "s|{{name}}|$NAME|g" frontend/index.html \
  > "$WORK/index.html"

gz() { cat "$@" | gzip -9c | wc -c; }
kib() { echo "$(($1 / 1024)) KiB"; }
# The first load is what index.html fetches before the app runs: the main wasm, its JS
# glue, and the split loader the glue imports. The chunks come when a section needs them.
first=$(($(gz "$WORK/$PKG/${NAME}_bg.wasm") + $(gz "$WORK/$PKG/$NAME.js") + $(gz "$WORK/$PKG/__wasm_split.js")))
total=0
for f in "$WORK/$PKG"/*; do total=$((total + $(gz "$f"))); done
chunks=$(ls "$WORK/$PKG"/*.wasm | grep -vc "/${NAME}_bg.wasm$")
LIMIT=$((400 * 1024))
say "built $DIST (route $ROUTE): first load $(kib $first) gzipped ($first bytes; budget 400 KiB, $(kib $((LIMIT - first))) left); all $((chunks + 1)) wasm files + js $(kib $total) gzipped ($total bytes)"
# The budget fails the build (and the tests that build it), not just a line to read.
# No stamp for an oversized bundle, so the next run checks again.
if [ $first -ge $LIMIT ]; then
  say "FAILED: the first load is $first bytes gzipped, over the budget of $LIMIT (400 KiB)"
  exit 1
fi
rm -rf "$DIST" && mv "$WORK" "$DIST"
echo "$HASH" > "$STAMP"
