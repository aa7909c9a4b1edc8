#!/usr/bin/env bash
# Measures GET /api/v1/me with valid personal access tokens on SQLite with
# 100,000 tokens stored, against a trivial route (/healthz) as the floor, in
# the same run: wrk on loopback, 64 connections, server and load on the same
# 2 cores. Prints req/s and latency percentiles. Not a test: figures only.
#
#   bash bench/me.sh            # TOKENS=100000 DURATION=15s CONNECTIONS=64 to change
set -euo pipefail
cd "$(dirname "$0")/.."
TOKENS=${TOKENS:-100000}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
PORT=${PORT:-7499}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q --bin tessera -p tessera-cli
cargo build --release -q -p tessera-server --example seed_tokens

work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
./target/release/examples/seed_tokens "sqlite:$work/bench.db" "$TOKENS" "$work/tokens.txt" 10000

TESSERA_DATABASE_URL="sqlite:$work/bench.db" TESSERA_LISTEN="127.0.0.1:$PORT" \
  TESSERA_ADMIN_PASSWORD=bench-admin-password TESSERA_LOG=warn \
  ./target/release/tessera serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

run() {
  local label=$1; shift
  echo "== $label"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | grep -E "Requests/sec|  50%|  99%|Non-2xx|Socket errors" || true
}
# Warm the cache with every sampled token once.
TOKENS_FILE="$work/tokens.txt" wrk -t2 -c16 -d3s -s bench/tokens.lua "http://127.0.0.1:$PORT/api/v1/me" >/dev/null
run "floor: GET /healthz" "http://127.0.0.1:$PORT/healthz"
TOKENS_FILE="$work/tokens.txt" run "GET /api/v1/me, valid PATs (10,000 distinct of $TOKENS stored)" \
  -s bench/tokens.lua "http://127.0.0.1:$PORT/api/v1/me"
echo "resident memory of the server: $(ps -o rss= -p "$server" | awk '{printf "%.0f MB", $1/1024}')"
