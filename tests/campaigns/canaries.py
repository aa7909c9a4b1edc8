#!/usr/bin/env python3
"""A thousand canaries (issue 17, item 7).

A real `tessera serve` logging at `trace` issues COUNT tokens of every kind
the default deployment has (personal access tokens, workspace API keys,
verifier credentials), and each is used on every verification surface
(POST /api/v1/verify, POST /oauth/introspect, GET /auth) and the management
API, rotated (the new secret is a canary too), revoked, and presented again
to be refused. Users sign in with canary passwords, over the API and the
sign-in page, so their session cookies and CSRF values are canaries as well.

Then everything Tessera wrote is searched for any canary or any 8-character
run of one's secret part (what follows the kind's public prefix): all log
output, the database files (SQLite file, WAL), the metrics, the audit API's
answers, and the settings pages' HTML fetched after creation. The answers that
are meant to show a secret once (the create and rotate answers) are not
searched, and the pages' forms may carry their session's CSRF value (the
double-submit check needs it there), nowhere else. Prints what was searched and found; exits non-zero on any find.

  python3 tests/campaigns/canaries.py --bin target/release/tessera --count 1000
"""

import argparse
import http.client
import json
import os
import re
import secrets
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse

WINDOW = 8
ALNUM_RUN = re.compile(rb"[A-Za-z0-9]{%d,}" % WINDOW)


class Client:
    def __init__(self, port):
        self.port = port
        self.answers = []  # bodies worth searching: every answer after creation

    def send(self, method, path, body=None, headers=None, form=None, keep=True):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        all_headers = dict(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body)
            all_headers["Content-Type"] = "application/json"
        if form is not None:
            payload = urllib.parse.urlencode(form)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        head = "".join(f"{k}: {v}\n" for k, v in response.getheaders()).encode()
        connection.close()
        if keep:
            self.answers.append(head + data)
        return response.status, response.getheaders(), data


def secret_part(token, prefixes):
    for prefix in prefixes:
        if token.startswith(prefix):
            return token[len(prefix):]
    return token


def windows(text):
    return {text[i:i + WINDOW] for i in range(len(text) - WINDOW + 1)}


def written_windows(blobs):
    """Every 8-character alphanumeric window of everything written."""
    seen = set()
    for blob in blobs:
        for run in ALNUM_RUN.findall(blob):
            run = run.decode()
            seen.update(windows(run))
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/release/tessera")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--port", type=int, default=7595)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tessera-canaries-")
    admin_password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))
    env = dict(
        os.environ,
        TESSERA_DATABASE_URL=f"sqlite:{work}/tessera.db",
        TESSERA_LISTEN=f"127.0.0.1:{args.port}",
        TESSERA_ADMIN_PASSWORD=admin_password,
        TESSERA_LOG="trace",
    )
    log_path = f"{work}/serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([args.bin, "serve"], env=env, stdout=log, stderr=log)
    client = Client(args.port)
    try:
        run(args, env, work, server, client, admin_password, log_path)
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait()


def run(args, env, work, server, client, admin_password, log_path):
    for _ in range(300):
        try:
            if client.send("GET", "/readyz", keep=False)[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit("tessera serve did not start")

    def admin_cli(*words):
        out = subprocess.run([args.bin, "admin", *words], env=dict(env, TESSERA_LOG="trace"),
                             capture_output=True, text=True, check=True)
        cli_output.append((out.stderr).encode())  # the secret goes to stdout, once, by design
        return out.stdout.strip()

    cli_output = []
    shown_once = []  # the create answers: the control, where the search must find secrets
    canaries = []  # (what, secret)
    prefixes = ("tsr_pat_", "tsr_key_", "tsr_vfr_")
    admin_token = admin_cli("token", "issue", "--user", "admin", "--name", "canary admin", "--expires-in", "1y")
    canaries.append(("admin token", admin_token))
    canaries.append(("admin password", admin_password))
    verifier = json.loads(admin_cli("verifier", "add", "canary gateway", "--json"))["secret"]
    canaries.append(("verifier", verifier))
    bearer = {"Authorization": f"Bearer {admin_token}"}
    asker = {"Tessera-Verifier": verifier}

    status, _, body = client.send("POST", "/api/v1/workspaces", {"name": "canaries"}, bearer, keep=False)
    assert status == 201, (status, body)
    workspace = json.loads(body)["id"]
    status, _, body = client.send("GET", "/api/v1/me", headers=bearer, keep=False)
    admin_id = json.loads(body)["user"]["id"]
    status, _, body = client.send("PUT", f"/api/v1/workspaces/{workspace}/members/{admin_id}", {"role": "owner"},
                                  bearer, keep=False)
    assert status in (200, 201, 204), (status, body)
    # A user's token picks its workspace by header on workspace routes.
    in_workspace = dict(bearer, **{"X-Workspace-Id": workspace})

    # People with canary passwords, signed in through the API and the page.
    for i in range(3):
        password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))
        canaries.append((f"password of canary{i}", password))
        status, _, body = client.send("POST", "/api/v1/users",
                                      {"username": f"canary{i}", "password": password, "admin": False}, bearer)
        assert status == 201, (status, body)
        status, headers, body = client.send("POST", "/api/v1/session",
                                            {"username": f"canary{i}", "password": password}, keep=False)
        assert status == 200, (status, body)
        cookie = next(v for k, v in headers if k.lower() == "set-cookie" and v.startswith("tessera_session="))
        session = cookie.split(";")[0].split("=", 1)[1]
        canaries.append((f"session of canary{i}", session))
        canaries.append((f"csrf of canary{i}", json.loads(body)["csrf_token"]))
        status, _, _ = client.send("POST", "/login", form={"username": f"canary{i}", "password": password}, keep=False)
        assert status in (200, 303), status

    def use_everywhere(secret):
        client.send("POST", "/api/v1/verify", {"token": secret}, asker)
        client.send("POST", "/oauth/introspect", headers=asker, form={"token": secret})
        client.send("GET", "/auth", headers=dict(asker, Authorization=f"Bearer {secret}"))
        client.send("GET", "/api/v1/me", headers={"Authorization": f"Bearer {secret}"})

    started = time.time()
    for i in range(args.count):
        # A personal access token.
        status, _, body = client.send("POST", "/api/v1/tokens", {"name": f"pat {i}", "expires_in": "30d"}, bearer,
                                      keep=False)
        assert status == 201, (status, body)
        shown_once.append(body)
        pat = json.loads(body)
        canaries.append(("personal access token", pat["token"]))
        use_everywhere(pat["token"])
        status, _, body = client.send("POST", f"/api/v1/tokens/{pat['id']}/rotate", {"overlap_seconds": 0}, bearer,
                                      keep=False)
        assert status == 201, (status, body)
        rotated = json.loads(body)["token"]
        canaries.append(("rotated personal access token", rotated))
        use_everywhere(pat["token"])  # rotated out: refused
        use_everywhere(rotated)
        client.send("DELETE", f"/api/v1/tokens/{pat['id']}", headers=bearer)
        use_everywhere(rotated)  # revoked: refused

        # A workspace API key.
        status, _, body = client.send("POST", f"/api/v1/workspaces/{workspace}/api-keys",
                                      {"name": f"key {i}", "role": "member", "expires_in": "30d"}, in_workspace,
                                      keep=False)
        assert status == 201, (status, body)
        key = json.loads(body)
        canaries.append(("api key", key["token"]))
        use_everywhere(key["token"])
        status, _, body = client.send("POST", f"/api/v1/workspaces/{workspace}/api-keys/{key['id']}/rotate", {},
                                      in_workspace, keep=False)
        assert status == 201, (status, body)
        rotated_key = json.loads(body)["token"]
        canaries.append(("rotated api key", rotated_key))
        use_everywhere(rotated_key)
        client.send("DELETE", f"/api/v1/workspaces/{workspace}/api-keys/{key['id']}", headers=in_workspace)
        use_everywhere(rotated_key)

        # A verifier credential, used to ask, then revoked and refused.
        status, _, body = client.send("POST", "/api/v1/verifiers", {"name": f"gateway {i}"}, bearer, keep=False)
        assert status == 201, (status, body)
        other = json.loads(body)
        canaries.append(("verifier credential", other["secret"]))
        client.send("POST", "/api/v1/verify", {"token": admin_token}, {"Tessera-Verifier": other["secret"]})
        client.send("DELETE", f"/api/v1/verifiers/{other['id']}", headers=bearer)
        client.send("POST", "/api/v1/verify", {"token": admin_token}, {"Tessera-Verifier": other["secret"]})
        # Made-up tokens of each shape, rejected.
        for prefix in prefixes:
            madeup = prefix + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
            canaries.append(("rejected made-up token", madeup))
            use_everywhere(madeup)
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{args.count} of each kind, {time.time() - started:.0f} s", flush=True)

    # What the admin and owners read afterwards.
    for path in ("/api/v1/tokens", f"/api/v1/workspaces/{workspace}/api-keys", "/api/v1/verifiers",
                 f"/api/v1/workspaces/{workspace}/audit?limit=100", "/api/v1/users", "/metrics", "/api/v1/me"):
        client.send("GET", path, headers=in_workspace)
    status, headers, body = client.send("POST", "/api/v1/session", {"username": "admin", "password": admin_password},
                                        keep=False)
    cookie = next(v for k, v in headers if k.lower() == "set-cookie" and v.startswith("tessera_session="))
    canaries.append(("admin session", cookie.split(";")[0].split("=", 1)[1]))
    canaries.append(("admin csrf", json.loads(body)["csrf_token"]))
    page_headers = {"Cookie": cookie.split(";")[0]}
    for path in ("/settings/tokens", f"/settings/workspaces/{workspace}", "/admin/verifiers", "/admin/users", "/"):
        client.send("GET", path, headers=page_headers)

    server.terminate()
    server.wait()
    sources = {"server log": [open(log_path, "rb").read()], "admin CLI stderr": cli_output,
               "HTTP answers after creation": client.answers}
    database = []
    for name in os.listdir(work):
        if name.startswith("tessera.db"):
            database.append(open(os.path.join(work, name), "rb").read())
    sources["database files"] = database
    found = 0
    for source, blobs in sources.items():
        seen = written_windows(blobs)
        size = sum(len(b) for b in blobs)
        hits = []
        for what, canary in canaries:
            # A page's forms carry the CSRF value by design (double submit).
            if source == "HTTP answers after creation" and "csrf" in what:
                continue
            if windows(secret_part(canary, prefixes)) & seen:
                hits.append(what)
        found += len(hits)
        print(f"{source}: {size:,} bytes searched, {len(hits)} canaries found" +
              (f" ({', '.join(sorted(set(hits)))})" if hits else ""))
    # The control: the search finds every personal access token in the
    # answers that showed it once, so a 0 above means absent, not unsought.
    control = written_windows(shown_once)
    shown = [c for w, c in canaries if w == "personal access token"]
    missed = [c for c in shown if not windows(secret_part(c, prefixes)) & control]
    print(f"control: {len(shown) - len(missed)} of {len(shown)} tokens found where they were shown once")
    if missed:
        sys.exit("the search is broken: it misses secrets that are there")
    print(f"canaries: {len(canaries):,} secrets, {found} found")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
