#!/usr/bin/env python3
"""kill -9 campaign (issue 17, item 3).

A real `tessera serve` takes concurrent creates, rotations, revocations,
suspensions and role downgrades from several client threads; at a random
moment it is killed with SIGKILL, restarted on the same database, and every
write it acknowledged is checked through POST /api/v1/verify:

  - every acknowledged create (not since revoked or rotated) verifies;
  - every acknowledged revocation is refused;
  - every secret acknowledged as rotated out (overlap 0) is refused, and the
    new secret verifies;
  - every token of an acknowledged suspension is refused;
  - every acknowledged downgrade (admin -> viewer) holds: the token is refused
    `members:manage` in the workspace.

A write whose answer never arrived (killed in flight) may have happened or
not; it is not checked. Usage may lag; tokens may not. Each cycle checks the
writes acknowledged in that cycle and a sample of all earlier ones; the last
cycle checks everything. Exits non-zero on any lost or resurrected write.

  python3 tests/campaigns/kill9.py --bin target/release/tessera --cycles 1000
  python3 tests/campaigns/kill9.py --bin target/release/tessera --cycles 200 \
      --database postgres://postgres@127.0.0.1:5432/tessera_kill9

Standard library only. With --database postgres://…/NAME the database NAME is
dropped and created again first, and dropped at the end.
"""

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PASSWORD = "kill9-campaign-password"


class Server:
    def __init__(self, binary, database_url, port, log_path):
        self.binary, self.port, self.log_path = binary, port, log_path
        self.env = dict(
            os.environ,
            TESSERA_DATABASE_URL=database_url,
            TESSERA_LISTEN=f"127.0.0.1:{port}",
            TESSERA_ADMIN_PASSWORD=PASSWORD,
            TESSERA_LOG=os.environ.get("TESSERA_LOG", "warn"),
        )
        self.process = None

    def start(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [self.binary, "serve"], env=self.env, stdout=log, stderr=log
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"tessera serve exited with {self.process.returncode}; see {self.log_path}")
            try:
                status, _ = request(self.port, "GET", "/readyz", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        sys.exit("tessera serve did not become ready within 30 s")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()

    def admin(self, *args):
        env = dict(self.env, TESSERA_LOG="warn")
        out = subprocess.run(
            [self.binary, "admin", *args], env=env, check=True, capture_output=True, text=True
        )
        return out.stdout.strip()


def request(port, method, path, body=None, token=None, headers=None, timeout=10):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        payload = None
        if body is not None:
            payload = json.dumps(body)
            all_headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)
    finally:
        connection.close()


class Ledger:
    """What the server acknowledged, and therefore must still hold."""

    def __init__(self):
        self.lock = threading.Lock()
        self.valid = {}  # token id -> secret that must verify
        self.refused = []  # (secret, why) that must be refused
        self.downgraded = []  # (secret, workspace id) refused members:manage
        self.checked_upto = 0  # refused[] entries before this were checked at least once
        self.new_valid = set()


def client_loop(port, actor, ledger, stop, counts):
    """One client: a user with a management token, a victim pool it writes in."""
    rng = random.Random()
    while not stop.is_set():
        op = rng.choices(["create", "revoke", "rotate"], weights=[5, 2, 2])[0]
        token_id = None
        try:
            if op == "create":
                status, body = request(
                    port, "POST", "/api/v1/tokens",
                    {"name": f"k9-{rng.randrange(1 << 30)}", "expires_in": "7d"},
                    token=actor["token"],
                )
                if status == 201:
                    with ledger.lock:
                        ledger.valid[body["id"]] = body["token"]
                        ledger.new_valid.add(body["id"])
                        actor["tokens"].append(body["id"])
                    counts["create"] += 1
            elif actor["tokens"]:
                token_id = rng.choice(actor["tokens"])
                with ledger.lock:
                    secret = ledger.valid.get(token_id)
                if secret is None:
                    continue
                if op == "revoke":
                    status, _ = request(port, "DELETE", f"/api/v1/tokens/{token_id}", token=actor["token"])
                    if status == 204:
                        with ledger.lock:
                            ledger.valid.pop(token_id, None)
                            ledger.new_valid.discard(token_id)
                            actor["tokens"].remove(token_id)
                            ledger.refused.append((secret, f"revoked {token_id}"))
                        counts["revoke"] += 1
                else:
                    status, body = request(
                        port, "POST", f"/api/v1/tokens/{token_id}/rotate",
                        {"overlap_seconds": 0}, token=actor["token"],
                    )
                    if status == 201:
                        with ledger.lock:
                            if token_id in ledger.valid:
                                ledger.valid[token_id] = body["token"]
                                ledger.new_valid.add(token_id)
                            ledger.refused.append((secret, f"rotated out of {token_id}"))
                        counts["rotate"] += 1
        except (OSError, http.client.HTTPException, ValueError):
            # The server was killed with the request in flight: its outcome is
            # unknown. A revocation or rotation may have happened, so the
            # token is no longer promised either way.
            if op != "create" and token_id is not None:
                with ledger.lock:
                    ledger.valid.pop(token_id, None)
                    ledger.new_valid.discard(token_id)
                    if token_id in actor["tokens"]:
                        actor["tokens"].remove(token_id)
                counts["uncertain"] += 1
            time.sleep(0.01)


def admin_loop(port, admin_token, victims, ledger, stop, counts):
    """Suspensions and downgrades, each of a fresh victim prepared in advance."""
    rng = random.Random()
    while not stop.is_set() and victims:
        victim = victims.pop()
        try:
            if victim["kind"] == "suspend":
                status, _ = request(port, "POST", f"/api/v1/users/{victim['user_id']}/suspend", {}, token=admin_token)
                if status in (200, 204):
                    with ledger.lock:
                        ledger.refused.append((victim["token"], f"owner {victim['user_id']} suspended"))
                    counts["suspend"] += 1
            else:
                status, _ = request(
                    port, "PUT", f"/api/v1/workspaces/{victim['workspace_id']}/members/{victim['user_id']}",
                    {"role": "viewer"}, token=admin_token,
                )
                if status in (200, 204):
                    with ledger.lock:
                        ledger.downgraded.append((victim["token"], victim["workspace_id"]))
                    counts["downgrade"] += 1
        except (OSError, http.client.HTTPException, ValueError):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.01, 0.05))


def verify(port, verifier, secret, workspace_id=None, permissions=None):
    body = {"token": secret}
    if workspace_id:
        body["workspace_id"] = workspace_id
    if permissions:
        body["permissions"] = permissions
    status, answer = request(port, "POST", "/api/v1/verify", body, headers={"Tessera-Verifier": verifier})
    if status != 200:
        raise RuntimeError(f"verify answered {status}: {answer}")
    return answer["valid"]


def check(port, verifier, ledger, sample, rng):
    """Returns the list of broken promises (empty when all hold)."""
    broken = []
    with ledger.lock:
        valid_ids = list(ledger.new_valid)
        older = [i for i in ledger.valid if i not in ledger.new_valid]
        ledger.new_valid.clear()
        if sample is not None:
            older = rng.sample(older, min(sample, len(older)))
        must_verify = [(i, ledger.valid[i]) for i in valid_ids + older]
        new_refused = ledger.refused[ledger.checked_upto:]
        old_refused = ledger.refused[: ledger.checked_upto]
        ledger.checked_upto = len(ledger.refused)
        if sample is not None:
            old_refused = rng.sample(old_refused, min(sample, len(old_refused)))
        must_refuse = new_refused + old_refused
        downgraded = list(ledger.downgraded)
    for token_id, secret in must_verify:
        if not verify(port, verifier, secret):
            broken.append(f"LOST: acknowledged token {token_id} no longer verifies")
    for secret, why in must_refuse:
        if verify(port, verifier, secret):
            broken.append(f"RESURRECTED: {why} but the token verifies")
    for secret, workspace_id in downgraded:
        if verify(port, verifier, secret, workspace_id, ["members:manage"]):
            broken.append(f"RESURRECTED: downgrade in {workspace_id} but members:manage still granted")
    return broken, len(must_verify), len(must_refuse) + len(downgraded)


def prepare(server, port, admin_token, clients, victims_n):
    status, workspace = request(port, "POST", "/api/v1/workspaces", {"name": "kill9"}, token=admin_token)
    assert status == 201, (status, workspace)
    actors, victims = [], []
    for i in range(clients + victims_n):
        name = f"k9user{i}"
        status, user = request(
            port, "POST", "/api/v1/users", {"username": name, "password": PASSWORD, "admin": False},
            token=admin_token,
        )
        assert status == 201, (status, user)
        status, _ = request(
            port, "PUT", f"/api/v1/workspaces/{workspace['id']}/members/{user['id']}", {"role": "admin"},
            token=admin_token,
        )
        assert status in (200, 201, 204), status
        token = server.admin("token", "issue", "--user", name, "--name", "kill9", "--expires-in", "1y")
        if i < clients:
            actors.append({"token": token, "tokens": []})
        else:
            kind = "suspend" if i % 2 == 0 else "downgrade"
            victims.append({"kind": kind, "user_id": user["id"], "workspace_id": workspace["id"], "token": token})
    return actors, victims


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/release/tessera")
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--database", help="postgres://… (default: a fresh SQLite file)")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--port", type=int, default=7591)
    parser.add_argument("--sample", type=int, default=40, help="earlier writes re-checked per cycle")
    parser.add_argument("--min-run", type=float, default=0.2, help="seconds of load before a kill, at least")
    parser.add_argument("--max-run", type=float, default=1.5, help="seconds of load before a kill, at most")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tessera-kill9-")
    if args.database:
        url = urllib.parse.urlparse(args.database)
        name = url.path.lstrip("/")
        admin_url = url._replace(path="/postgres").geturl()
        for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
            subprocess.run(["psql", admin_url, "-qc", sql], check=True, capture_output=True)
        database_url = args.database
    else:
        database_url = f"sqlite:{work}/tessera.db"
    server = Server(args.bin, database_url, args.port, f"{work}/serve.log")
    server.start()
    admin_token = server.admin("token", "issue", "--user", "admin", "--name", "kill9 admin", "--expires-in", "1y")
    verifier = json.loads(server.admin("verifier", "add", "kill9", "--json"))["secret"]
    # One suspension or downgrade per cycle at most, prepared before the first kill.
    actors, victims = prepare(server, args.port, admin_token, args.clients, min(args.cycles, 400))

    ledger = Ledger()
    counts = {k: 0 for k in ("create", "revoke", "rotate", "suspend", "downgrade", "uncertain")}
    rng = random.Random(int(os.environ.get("SEED", time.time())))
    broken_total, verified_total, refused_total = [], 0, 0
    started = time.time()
    for cycle in range(1, args.cycles + 1):
        stop = threading.Event()
        threads = [threading.Thread(target=client_loop, args=(args.port, a, ledger, stop, counts)) for a in actors]
        cycle_victims = [victims.pop()] if victims else []
        threads.append(
            threading.Thread(target=admin_loop, args=(args.port, admin_token, cycle_victims, ledger, stop, counts))
        )
        for t in threads:
            t.start()
        time.sleep(rng.uniform(args.min_run, args.max_run))
        server.kill()
        stop.set()
        for t in threads:
            t.join()
        server.start()
        last = cycle == args.cycles
        broken, verified, refused = check(args.port, verifier, ledger, None if last else args.sample, rng)
        broken_total += broken
        verified_total += verified
        refused_total += refused
        for line in broken:
            print(f"cycle {cycle}: {line}", flush=True)
        if cycle % 25 == 0 or last:
            print(
                f"cycle {cycle}/{args.cycles}: acknowledged {counts}, "
                f"checks so far {verified_total} must-verify, {refused_total} must-refuse, "
                f"{len(broken_total)} broken, {time.time() - started:.0f} s",
                flush=True,
            )
    server.stop()
    if args.database:
        subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)
    lost = sum(1 for b in broken_total if b.startswith("LOST"))
    resurrected = len(broken_total) - lost
    store = "PostgreSQL" if args.database else "SQLite"
    print(f"kill -9 on {store}: {args.cycles} cycles, {lost} lost, {resurrected} resurrected")
    sys.exit(1 if broken_total else 0)


if __name__ == "__main__":
    main()
