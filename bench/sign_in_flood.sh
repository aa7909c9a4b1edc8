#!/usr/bin/env bash
# What the sign-in throttle costs a legitimate user: their sign-in latency
# (median, p95) on a quiet server, then while another address floods
# POST /api/v1/session with 1,000 wrong guesses at many usernames. Not a
# test: figures only. The user signs in from 127.0.0.1, the flood comes from
# 127.0.0.2 (both loopback, so no proxy is trusted and no header is forged).
#
#   bash bench/sign_in_flood.sh     # FLOOD=1000 FLOOD_CONCURRENCY=32 FLOOD_RATE=100 SAMPLES=40 PROFILE=release
#
# Each flood runs twice, each on its own server: as fast as it can go (a burst: with the throttle
# it is over in well under a second, so few of the user's sign-ins overlap
# it), then paced at FLOOD_RATE attempts a second, so that the user's
# sign-ins all fall inside a sustained flood.
#
# Three servers, one after the other, each on a fresh SQLite file:
#   quiet      no flood
#   throttled  the flood against the defaults ([sign_in]: 20 free failures per
#              address, then 1 s doubling): after 20 guesses every attempt is
#              a 429 answered before any hashing
#   unthrottled the flood with free_failures_per_address = 1000000: only the
#              hashing bound (concurrent_hashes, one per core; queue_wait 1 s)
#              stands between it and the CPU
set -euo pipefail
cd "$(dirname "$0")/.."
FLOOD=${FLOOD:-1000}
FLOOD_CONCURRENCY=${FLOOD_CONCURRENCY:-32}
FLOOD_RATE=${FLOOD_RATE:-100}
SAMPLES=${SAMPLES:-40}
PROFILE=${PROFILE:-release}

if [ "$PROFILE" = release ]; then
  cargo build --release -q --bin tessera -p tessera-cli
else
  cargo build -q --bin tessera -p tessera-cli
fi
bin=./target/$PROFILE/tessera

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port=7561
run_case() { # name mode(quiet|burst|paced) env...
  local name=$1 mode=$2; shift 2
  port=$((port + 1))
  env "$@" TESSERA_LISTEN="127.0.0.1:$port" TESSERA_DATABASE_URL="sqlite:$work/$port.db" \
    TESSERA_ADMIN_PASSWORD=bench-admin-password TESSERA_LOG=warn \
    "$bin" serve >"$work/$port.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  python3 - "$mode" "$port" "$FLOOD" "$FLOOD_CONCURRENCY" "$SAMPLES" "$FLOOD_RATE" "$name" <<'PY'
import http.client, json, statistics, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

name, port, flood, concurrency, samples, rate = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:7])

def sign_in(source, username, password):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    body = json.dumps({"username": username, "password": password})
    started = time.perf_counter()
    conn.request("POST", "/api/v1/session", body, {"Content-Type": "application/json"})
    status = conn.getresponse().status
    elapsed = time.perf_counter() - started
    conn.close()
    return status, elapsed

def legitimate(until=None, count=None):
    latencies, statuses = [], {}
    while (count is not None and len(latencies) < count) or (until is not None and not until.is_set()):
        status, elapsed = sign_in("127.0.0.1", "admin", "bench-admin-password")
        statuses[status] = statuses.get(status, 0) + 1
        latencies.append(elapsed * 1000)
    return latencies, statuses

def report(label, latencies, statuses, extra=""):
    latencies = sorted(latencies)
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    print(f"{label:<18} n={len(latencies):<4} median={statistics.median(latencies):7.1f} ms  "
          f"p95={p95:7.1f} ms  statuses={dict(sorted(statuses.items()))}{extra}")

if name == "quiet":
    legitimate(count=3)  # warm up
    report(sys.argv[-1], *legitimate(count=samples))
    sys.exit(0)

def flood_run(label, paced):
    done = threading.Event()
    result = {}
    user = threading.Thread(target=lambda: result.update(zip(("lat", "st"), legitimate(until=done))))
    user.start()
    flood_statuses = {}
    started = time.perf_counter()

    def attempt(i):
        if paced:
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        # A new round of guesses: the usernames of each run are its own.
        return sign_in("127.0.0.2", f"{label}-guess-{i % 200}", f"wrong-{i}")

    with ThreadPoolExecutor(concurrency) as pool:
        for status, _ in pool.map(attempt, range(flood)):
            flood_statuses[status] = flood_statuses.get(status, 0) + 1
    flood_seconds = time.perf_counter() - started
    done.set()
    user.join()
    report(label, result["lat"], result["st"],
           f"  | flood: {flood} attempts in {flood_seconds:.1f} s, {dict(sorted(flood_statuses.items()))}")

legitimate(count=3)
flood_run(f"{sys.argv[-1]}", paced=(name == "paced"))
PY
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

echo "legitimate sign-ins from 127.0.0.1; flood of $FLOOD from 127.0.0.2 at $FLOOD_CONCURRENCY at once ($PROFILE build, $(nproc) cores)"
unthrottled=(TESSERA_SIGN_IN__FREE_FAILURES_PER_ADDRESS=1000000 TESSERA_SIGN_IN__FREE_FAILURES=1000000)
run_case quiet quiet
run_case throttled burst
run_case "throttled@${FLOOD_RATE}/s" paced
run_case unthrottled burst "${unthrottled[@]}"
run_case "unthrottled@${FLOOD_RATE}/s" paced "${unthrottled[@]}"
