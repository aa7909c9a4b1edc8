#!/usr/bin/env bash
# Slow and idle clients against a real `tessera serve` (issue 17, item 6):
# IDLE connections that send nothing and SLOW ones that trickle a request
# head one byte a second (slowloris), each reopened as soon as the server
# closes it, for DURATION seconds, beyond the server's connection bound. The
# server runs under an open-file limit of FILE_LIMIT (hard and soft), as in
# the probe that found 1,100 idle connections enough to stop every `/auth`.
# Meanwhile legitimate clients ask GET /healthz and POST /api/v1/verify on
# fresh connections; the script prints their p50/p99 and failures, how long
# the slow connections lived, and exits non-zero when an invariant breaks:
#   - a legitimate request failed or took longer than MAX_P99_MS at p99;
#   - a slow-header connection outlived header_read_timeout (+ 2 s);
#   - the server died.
#
#   bash tests/campaigns/slow_clients.sh
#   # DURATION=30 IDLE=1100 SLOW=500 FILE_LIMIT=1024 HEADER_READ_TIMEOUT=10s MAX_P99_MS=1000 PROFILE=release
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-30}
IDLE=${IDLE:-1100}
SLOW=${SLOW:-500}
FILE_LIMIT=${FILE_LIMIT:-1024}
HEADER_READ_TIMEOUT=${HEADER_READ_TIMEOUT:-10s}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-60s}
MAX_P99_MS=${MAX_P99_MS:-1000}
PROFILE=${PROFILE:-release}

if [ "$PROFILE" = release ]; then
  cargo build --release -q --bin tessera -p tessera-cli
else
  cargo build -q --bin tessera -p tessera-cli
fi
bin=./target/$PROFILE/tessera

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=${PORT:-7581}
export TESSERA_DATABASE_URL="sqlite:$work/tessera.db"
(
  ulimit -n "$FILE_LIMIT" # soft and hard: the server cannot raise it
  exec env TESSERA_LOG="${TESSERA_LOG:-info}" TESSERA_LISTEN="127.0.0.1:$port" TESSERA_ADMIN_PASSWORD=campaign-admin-password \
    TESSERA_SERVER__HEADER_READ_TIMEOUT="$HEADER_READ_TIMEOUT" \
    TESSERA_SERVER__IDLE_TIMEOUT="$IDLE_TIMEOUT" \
    "$bin" serve >"$work/serve.out" 2>"$work/serve.log"
) &
server_pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
token=$(TESSERA_LOG=warn "$bin" admin token issue --user admin --name campaign)
verifier=$(TESSERA_LOG=warn "$bin" admin verifier add campaign --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
grep -m1 'connections bounded' "$work/serve.log" | sed 's/^/server: /' || true

# The flood runs in its own process, so that its thousands of sockets do not
# slow the legitimate clients' measurements.
cat >"$work/flood.py" <<'PY'
import asyncio, json, os, resource, sys, time

port, duration, idle_n, slow_n, out = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
stop = asyncio.Event()
flood = {"opened": 0, "refused": 0, "closed_by_server": 0, "slow_lifetimes": []}

async def wait_closed(reader):
    while not stop.is_set():
        try:
            if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                return True
        except asyncio.TimeoutError:
            return False
    return False

async def attacker(kind):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            flood["refused"] += 1
            await asyncio.sleep(0.05)
            continue
        flood["opened"] += 1
        opened = time.monotonic()
        closed = False
        try:
            if kind == "slow":
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: tessera\r\nX-Slow: ")
            while not stop.is_set() and not closed:
                if kind == "slow":
                    writer.write(b"x")  # one more byte of a header that never ends
                    await writer.drain()
                closed = await wait_closed(reader)
        except OSError:
            closed = True
        if closed and not stop.is_set():
            flood["closed_by_server"] += 1
            if kind == "slow":
                flood["slow_lifetimes"].append(time.monotonic() - opened)
        writer.close()

async def main():
    tasks = [asyncio.create_task(attacker("idle")) for _ in range(idle_n)]
    tasks += [asyncio.create_task(attacker("slow")) for _ in range(slow_n)]
    await asyncio.sleep(duration)
    stop.set()
    await asyncio.wait(tasks, timeout=3)
    for task in tasks:
        task.cancel()
    with open(out, "w") as f:
        json.dump(flood, f)
    os._exit(0)  # without waiting for thousands of cancelled sockets

asyncio.run(main())
PY

cat >"$work/legitimate.py" <<'PY'
import json, socket, sys, threading, time

port, duration, header_timeout_text, max_p99_ms, token, verifier, flood_out = sys.argv[1:8]
port, duration, max_p99_ms = int(port), float(duration), float(max_p99_ms)
units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
unit = next(u for u in ("ms", "s", "m", "h") if header_timeout_text.endswith(u))
header_timeout = float(header_timeout_text[: -len(unit)]) * units[unit]
question = json.dumps({"token": token}).encode()
REQUESTS = {
    "healthz": b"GET /healthz HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n\r\n",
    "verify": (f"POST /api/v1/verify HTTP/1.1\r\nHost: tessera\r\nConnection: close\r\n"
               f"Tessera-Verifier: {verifier}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(question)}\r\n\r\n").encode() + question,
}

def ask(name):
    """One request on a fresh connection: (ok, milliseconds)."""
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(REQUESTS[name])
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        ok = answer.startswith(b"HTTP/1.1 200") and (name != "verify" or b'"valid":true' in answer)
    except OSError:
        ok = False
    return ok, (time.perf_counter() - started) * 1000

def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")

def measure(seconds, results):
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for name in REQUESTS:
            ok, ms = ask(name)
            results[name]["ok" if ok else "failed"] += 1
            if ok:
                results[name]["ms"].append(ms)
        time.sleep(0.01)

def run(label, seconds, threads=2):
    results = {n: {"ok": 0, "failed": 0, "ms": []} for n in REQUESTS}
    workers = [threading.Thread(target=measure, args=(seconds, results)) for _ in range(threads)]
    for w in workers: w.start()
    for w in workers: w.join()
    for name, r in results.items():
        print(f"{label:9} {name:8} {r['ok']} ok, {r['failed']} failed; "
              f"p50 {percentile(r['ms'], .5):.1f} ms  p99 {percentile(r['ms'], .99):.1f} ms")
    return results

mode = sys.argv[8]
if mode == "quiet":
    run("quiet:", 3)
    sys.exit(0)
time.sleep(1.0)  # let the flood fill the server
results = run("during:", duration - 2)
time.sleep(3)
while True:
    try:
        flood = json.load(open(flood_out))
        break
    except (OSError, ValueError):
        time.sleep(0.5)
lifetimes = flood["slow_lifetimes"]
print(f"flood:    {flood['opened']} connections opened, {flood['closed_by_server']} closed by the server, "
      f"{flood['refused']} connects refused")
if lifetimes:
    print(f"slow:     {len(lifetimes)} slow-header connections closed; lifetime p50 {percentile(lifetimes, .5):.1f} s, "
          f"max {max(lifetimes):.1f} s (header_read_timeout {header_timeout:g} s)")
broken = []
for name, r in results.items():
    if r["failed"]:
        broken.append(f"{r['failed']} legitimate {name} requests failed")
    p99 = percentile(r["ms"], .99)
    if not r["ms"] or p99 > max_p99_ms:
        broken.append(f"{name} p99 {p99:.1f} ms above {max_p99_ms:g} ms")
if lifetimes and max(lifetimes) > header_timeout + 2:
    broken.append(f"a slow-header connection lived {max(lifetimes):.1f} s")
for line in broken:
    print("BROKEN:", line)
print("invariants held" if not broken else "invariants broken")
sys.exit(1 if broken else 0)
PY

status=0
python3 "$work/legitimate.py" "$port" 0 "$HEADER_READ_TIMEOUT" "$MAX_P99_MS" "$token" "$verifier" "$work/flood.json" quiet
echo "flood:    $IDLE idle + $SLOW slow-header clients for $DURATION s, against a file limit of $FILE_LIMIT"
python3 "$work/flood.py" "$port" "$DURATION" "$IDLE" "$SLOW" "$work/flood.json" &
flood_pid=$!
python3 "$work/legitimate.py" "$port" "$DURATION" "$HEADER_READ_TIMEOUT" "$MAX_P99_MS" "$token" "$verifier" "$work/flood.json" flood || status=$?
wait "$flood_pid"
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "BROKEN: the server died"; tail -20 "$work/serve.log"; exit 1
fi
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "BROKEN: no /healthz after the flood"; exit 1; }
exit "$status"
