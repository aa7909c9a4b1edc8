#!/usr/bin/env bash
# The settings pages in a real browser: builds the release binary (a no-op
# when it is up to date, so the pages tested are always the code's), starts
# `tessera serve` on free ports in a temporary folder (the default
# deployment, and the groupchat profile for agents), runs the scenarios
# (node's built-in test runner, Debian's chromium through playwright-core)
# and stops the servers.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# Wherever cargo puts it (CARGO_TARGET_DIR may move the target folder).
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target_dir/release/tessera"

[ -x /usr/bin/chromium ] || { echo "run.sh: /usr/bin/chromium is missing (apt-get install chromium)" >&2; exit 1; }
[ -d "$here/node_modules/playwright-core" ] || { echo "run.sh: run 'npm ci --prefix tests/browser' first" >&2; exit 1; }
(cd "$root" && cargo build --release --bin tessera)

work="$(mktemp -d)"
server_pids=()
cleanup() {
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

admin_password="browser-admin-$(date +%s)-pw"

# Starts `tessera serve` in its own folder with `env` added; sets `base` to
# the address it listens on.
start_server() { # name env...
  local name=$1; shift
  mkdir -p "$work/$name"
  (
    cd "$work/$name"
    exec env -i PATH="$PATH" HOME="${HOME:-/root}" TESSERA_LISTEN=127.0.0.1:0 \
      TESSERA_DATABASE_URL="sqlite:$work/$name/tessera.db" \
      TESSERA_ADMIN_PASSWORD="$admin_password" \
      TESSERA_LOG=warn \
      TESSERA_USAGE_FLUSH_INTERVAL=250ms \
      "$@" \
      "$bin" serve >"$work/$name/stdout.log" 2>"$work/$name/stderr.log"
  ) &
  server_pids+=($!)
  base=""
  for _ in $(seq 1 200); do
    base="$(sed -n 's/^Tessera listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/$name/stdout.log" | head -n1)"
    [ -n "$base" ] && break
    kill -0 "${server_pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$base" ]; then
    echo "run.sh: tessera serve ($name) did not start" >&2
    cat "$work/$name/stdout.log" "$work/$name/stderr.log" >&2 || true
    exit 1
  fi
  echo "tessera serve ($name) at $base"
}

# The default deployment, and GroupChat's, which issues agent tokens.
start_server default
default_base=$base
start_server groupchat TESSERA_PROFILE=groupchat
groupchat_base=$base

mkdir -p "$root/target/screenshots"
TESSERA_BASE="$default_base" \
TESSERA_GROUPCHAT_BASE="$groupchat_base" \
TESSERA_ADMIN_PASSWORD="$admin_password" \
SCREENSHOTS="$root/target/screenshots" \
  node --test --test-concurrency=1 "$here"/*.test.mjs
