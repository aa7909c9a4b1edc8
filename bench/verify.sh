#!/usr/bin/env bash
# The verification surfaces under load, in one run, each against the floor
# (a trivial route on the same server): wrk on loopback at 64 connections,
# server and load sharing the machine's 2 cores. Not a test: figures only.
#
#   bash bench/verify.sh     # TOKENS=1000000 PG_TOKENS=100000 DURATION=5s ROUNDS=3 CONNECTIONS=64
#
# Targets (issue 4), as ratios to the floor: cached verify >= 85% with p99
# under 3 ms; bad-checksum rejection >= 95%; cache-off SQLite >= 35%; cold
# PostgreSQL >= 10%; resident memory under 300 MB with 1M tokens stored and
# 100k cached. On a shared machine the floor drifts by a fifth within a
# minute, so each case runs ROUNDS times, each run held to the mean of the
# floors measured (on the case's own server) just before and just after it;
# the median round is reported, with every round's ratio. The "scripted
# floor" row is /healthz driven by the token script: what wrk's own
# per-request Lua costs on the shared cores. "store reads" counts the
# look-ups the store answered during a run: cache misses, and entries past
# the cache's 10 s TTL (a case's rounds start 10 s apart, floor between, so
# each round begins by reading its 10,000 tokens again).
#
# Every case asks as a verifier (`Tessera-Verifier`, the default deployment);
# the "open mode" rows ask the same of a second server on the same database
# with `[verify] require_verifier = false`, interleaved with the verifier rows,
# so that checking the credential is measured against the run-to-run spread.
set -euo pipefail
cd "$(dirname "$0")/.."
TOKENS=${TOKENS:-1000000}
PG_TOKENS=${PG_TOKENS:-100000}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q --bin tessera -p tessera-cli
cargo build --release -q -p tessera-server --example seed_tokens

work=$(mktemp -d)
pg_db="tessera_bench_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "seeding $TOKENS tokens into SQLite and $PG_TOKENS into PostgreSQL…"
./target/release/examples/seed_tokens "sqlite:$work/bench.db" "$TOKENS" "$work/sample.txt" 100000
# 10,000 distinct tokens drive the throughput runs; all 100,000 fill the cache
# for the memory reading.
head -n 10000 "$work/sample.txt" > "$work/valid.txt"
head -n 10000 "$work/sample.txt.unknown" > "$work/valid.txt.unknown"
psql "$PG_ADMIN" -qc "CREATE DATABASE $pg_db" >/dev/null
pg_url="${PG_ADMIN%/*}/$pg_db"
./target/release/examples/seed_tokens "$pg_url" "$PG_TOKENS" "$work/pg-valid.txt" 10000
# The last character of a checksummed token is part of its checksum: change it.
awk '{ c = substr($0, length($0)); r = (c == "A") ? "B" : "A"; print substr($0, 1, length($0) - 1) r }' \
  "$work/valid.txt" > "$work/badsum.txt"

start_server() { # name port env...
  local name=$1 port=$2; shift 2
  env "$@" TESSERA_LISTEN="127.0.0.1:$port" TESSERA_ADMIN_PASSWORD=bench-admin-password TESSERA_LOG=warn \
    ./target/release/tessera serve >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "the $name server did not start" >&2; cat "$work/$name.log" >&2; exit 1
}

# CPU seconds (user + system, in clock ticks) the server listening on a URL's
# port has used so far: with the request count, the server's CPU per request.
server_ticks() {
  local port=${1#http://*:}; port=${port%%/*}
  local pid; pid=$(ss -ltnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  awk '{print $14 + $15}' "/proc/$pid/stat"
}
# Store look-ups the server has made so far (tessera_verify_lookups_total
# answered by the store): cache misses, expired entries, or every look-up with
# the cache off.
store_lookups() {
  local base=${1%/*}
  curl -fs "${base%/api/v1}/metrics" | awk -F'} ' '/^tessera_verify_lookups_total\{answered_by="store"/ {print $2}'
}
# One wrk run; sets rps, p50, p99, errors, cpu_per_request and store_reads.
measure() { # tokens-file mode url
  local tokens=$1 mode=$2 url=$3 out
  local ticks_before; ticks_before=$(server_ticks "$url")
  local lookups_before; lookups_before=$(store_lookups "$url")
  if [ -n "$tokens" ]; then
    out=$(TOKENS_FILE="$tokens" MODE="$mode" wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/tokens.lua "$url")
  else
    out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  fi
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  cpu_per_request=$(awk -v a="$ticks_before" -v b="$(server_ticks "$url")" -v n="$(awk '/requests in/ {print $1}' <<<"$out")" \
    -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", (b - a) / hz * 1e6 / n}')
  store_reads=$(( $(store_lookups "$url") - lookups_before ))
}
row() { # label ratio-text
  printf '%-58s %10.0f req/s  %-30s p50 %-8s p99 %-8s non-2xx %-7s server CPU %s us/req  store reads %s\n' \
    "$1" "$rps" "$2" "$p50" "$p99" "${errors:-0}" "$cpu_per_request" "$store_reads"
}
# The floor moves by a fifth from one minute to the next on a shared
# machine, so it is measured again around every case, on the case's own
# server, and each case is held to the mean of the floors just before and
# just after it.
floor_rps=""
floor_row=""
floor() { # base-url
  measure "" "" "$1/healthz"
  floor_rps=$rps
  floor_row=$(row "  floor: GET /healthz" "")
}
case_run() { # label tokens-file mode url base-url
  local label=$1 round rounds_file="$work/rounds"
  : >"$rounds_file"
  for round in $(seq 1 "$ROUNDS"); do
    local before=$floor_rps
    measure "$2" "$3" "$4"
    local case_line="$rps $p50 $p99 ${errors:-0} $cpu_per_request $store_reads"
    floor "$5"
    awk -v a="${case_line%% *}" -v b="$before" -v c="$floor_rps" -v rest="$case_line" \
      'BEGIN {printf "%.1f %s\n", 200 * a / (b + c), rest}' >>"$rounds_file"
  done
  # The round with the median ratio stands for the case; all ratios are shown.
  local median all
  median=$(sort -n "$rounds_file" | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2)')
  all=$(awk '{printf "%s%s", sep, $1; sep = " / "}' "$rounds_file")
  read -r ratio rps p50 p99 errors cpu_per_request store_reads <<<"$median"
  row "$label" "$(printf '%5.1f%% of floor (%s)' "$ratio" "$all")"
}

# The verifier every case asks as, made on the database as an admin would.
new_verifier() { # database-url
  TESSERA_DATABASE_URL="$1" ./target/release/tessera admin verifier add bench --json 2>>"$work/admin.log" \
    | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p'
}
VERIFIER=$(new_verifier "sqlite:$work/bench.db")
export VERIFIER
[ -n "$VERIFIER" ] || { echo "could not make a verifier credential" >&2; exit 1; }

start_server sqlite 7601 TESSERA_DATABASE_URL="sqlite:$work/bench.db"
start_server sqlite-open 7604 TESSERA_DATABASE_URL="sqlite:$work/bench.db" TESSERA_VERIFY__REQUIRE_VERIFIER=false
base=http://127.0.0.1:7601
open=http://127.0.0.1:7604
# Warm the caches with every sampled token.
TOKENS_FILE="$work/valid.txt" wrk -t2 -c16 -d5s -s bench/tokens.lua "$base/auth" >/dev/null
VERIFIER="" TOKENS_FILE="$work/valid.txt" wrk -t2 -c16 -d5s -s bench/tokens.lua "$open/auth" >/dev/null

echo
echo "SQLite, $TOKENS tokens stored, cache warm (10,000 distinct valid tokens):"
floor "$base"
echo "$floor_row"
# The same route driven by the token script: wrk's Lua costs CPU on the same
# two cores, so this is the floor the scripted runs below can be held to.
case_run "scripted floor: GET /healthz with the token script" "$work/valid.txt" bearer "$base/healthz" "$base"
case_run "POST /api/v1/verify, valid" "$work/valid.txt" verify "$base/api/v1/verify" "$base"
VERIFIER="" case_run "POST /api/v1/verify, valid, open mode (no verifier)" "$work/valid.txt" verify "$open/api/v1/verify" "$open"
case_run "GET /auth, valid" "$work/valid.txt" bearer "$base/auth" "$base"
VERIFIER="" case_run "GET /auth, valid, open mode (no verifier)" "$work/valid.txt" bearer "$open/auth" "$open"
case_run "POST /api/v1/verify, bad checksum" "$work/badsum.txt" verify "$base/api/v1/verify" "$base"
case_run "GET /auth, bad checksum (401 expected)" "$work/badsum.txt" bearer "$base/auth" "$base"
case_run "POST /api/v1/verify, well-formed unknown" "$work/valid.txt.unknown" verify "$base/api/v1/verify" "$base"
case_run "GET /auth, well-formed unknown (401 expected)" "$work/valid.txt.unknown" bearer "$base/auth" "$base"
echo "resident memory, 10,000 tokens cached: $(ps -o rss= -p "${pids[0]}" | awk '{printf "%.0f MB", $1/1024}')"
TOKENS_FILE="$work/sample.txt" wrk -t2 -c16 -d20s -s bench/tokens.lua "$base/auth" >/dev/null
echo "resident memory, 100,000 tokens cached ($TOKENS stored): $(ps -o rss= -p "${pids[0]}" | awk '{printf "%.0f MB", $1/1024}')"

echo
echo "SQLite, cache off (every verify reads the store):"
start_server sqlite-nocache 7602 TESSERA_DATABASE_URL="sqlite:$work/bench.db" TESSERA_CACHE=off
floor http://127.0.0.1:7602
echo "$floor_row"
case_run "GET /auth, SQLite, cache off" "$work/valid.txt" bearer "http://127.0.0.1:7602/auth" http://127.0.0.1:7602

echo
echo "PostgreSQL, cold (cache off), $PG_TOKENS stored:"
VERIFIER=$(new_verifier "$pg_url")
start_server postgres 7603 TESSERA_DATABASE_URL="$pg_url" TESSERA_CACHE=off
floor http://127.0.0.1:7603
echo "$floor_row"
case_run "GET /auth, PostgreSQL, cold (cache off)" "$work/pg-valid.txt" bearer "http://127.0.0.1:7603/auth" http://127.0.0.1:7603
