# Sourced by the other scripts: puts Upbeat's build tools first on PATH.
# shellcheck shell=bash
export UPBEAT_TOOLS_DIR="${UPBEAT_TOOLS_DIR:-$HOME/.cache/upbeat-tools}"
if [ -f "$HOME/.cargo/env" ]; then
  # shellcheck source=/dev/null
  source "$HOME/.cargo/env"
fi
# npm's wasm-opt must come before any other (Debian's breaks hydration).
export PATH="$UPBEAT_TOOLS_DIR/binaryen/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export UPBEAT_CHROMIUM="${UPBEAT_CHROMIUM:-/usr/bin/chromium}"
