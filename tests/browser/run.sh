#!/usr/bin/env bash
# The settings pages in a real browser: builds the release binary (a no-op
# when it is up to date, so the pages tested are always the code's), starts
# `tessera serve` on a free port in a temporary folder, runs the scenarios
# (node's built-in test runner, Debian's chromium through playwright-core)
# and stops the server.
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
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

admin_password="browser-admin-$(date +%s)-pw"
(
  cd "$work"
  exec env -i PATH="$PATH" HOME="${HOME:-/root}" TESSERA_LISTEN=127.0.0.1:0 \
    TESSERA_DATABASE_URL="sqlite:$work/tessera.db" \
    TESSERA_ADMIN_PASSWORD="$admin_password" \
    TESSERA_LOG=warn \
    TESSERA_USAGE_FLUSH_INTERVAL=250ms \
    "$bin" serve >"$work/stdout.log" 2>"$work/stderr.log"
) &
server_pid=$!

base=""
for _ in $(seq 1 200); do
  base="$(sed -n 's/^Tessera listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/stdout.log" | head -n1)"
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$base" ]; then
  echo "run.sh: tessera serve did not start" >&2
  cat "$work/stdout.log" "$work/stderr.log" >&2 || true
  exit 1
fi
echo "tessera serve at $base"

mkdir -p "$root/target/screenshots"
TESSERA_BASE="$base" \
TESSERA_ADMIN_PASSWORD="$admin_password" \
SCREENSHOTS="$root/target/screenshots" \
  node --test --test-concurrency=1 "$here"/*.test.mjs
