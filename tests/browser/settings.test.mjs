// Tessera's settings pages in a real browser: Debian's chromium driven by
// playwright-core, against a real `tessera serve` started by run.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.TESSERA_BASE;
// A second deployment, on the groupchat profile: it issues agent tokens.
const GROUPCHAT = process.env.TESSERA_GROUPCHAT_BASE;
const ADMIN_PASSWORD = process.env.TESSERA_ADMIN_PASSWORD;
const SHOTS = process.env.SCREENSHOTS;
if (!BASE || !GROUPCHAT || !ADMIN_PASSWORD || !SHOTS) {
  throw new Error("run these through tests/browser/run.sh");
}

let context;
let profile;

before(async () => {
  profile = mkdtempSync(join(tmpdir(), "tessera-chromium-"));
  // A fresh profile in a temporary folder, removed afterwards.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
    viewport: { width: 1100, height: 800 },
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** A new tab, signed out (scenarios run one after another). */
async function newPage() {
  await context.clearCookies();
  const page = await context.newPage();
  page.on("dialog", (dialog) => {
    throw new Error(`unexpected dialog: ${dialog.message()}`);
  });
  return page;
}

async function signIn(page, username, password, base = BASE) {
  await page.goto(`${base}/login`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/settings/tokens`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function me(token) {
  const response = await fetch(`${BASE}/api/v1/me`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  return response.status;
}

/** Creates a token on the page; returns the secret shown once. */
async function createToken(page, name, expiry) {
  await page.goto(`${BASE}/settings/tokens`);
  await page.getByLabel("Name", { exact: true }).fill(name);
  if (expiry) await page.getByLabel("Expiration").selectOption(expiry);
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = await page.locator("#new-secret").inputValue();
  assert.match(secret, /^tsr_pat_/);
  return secret;
}

/** The API as the admin, signed in with a session (cookie and CSRF header). */
async function adminApi(base = BASE) {
  return api("admin", ADMIN_PASSWORD, base);
}

/** The API as a user, signed in with a session (cookie and CSRF header). */
async function api(username, password, base = BASE) {
  const response = await fetch(`${base}/api/v1/session`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(response.status, 200);
  const cookie = response.headers.get("set-cookie").split(";")[0];
  const { csrf_token: csrf } = await response.json();
  return async (method, path, body) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { Cookie: cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

test("a wrong password shows one message, whatever was wrong", async () => {
  const page = await newPage();
  for (const [user, password] of [["admin", "wrong"], ["nobody-here", "wrong"]]) {
    await page.goto(`${BASE}/login`);
    await page.getByLabel("Username").fill(user);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await assert.doesNotReject(page.locator("#login-error").waitFor());
    assert.equal(
      (await page.locator("#login-error").textContent()).trim(),
      "The username or password is incorrect.",
    );
  }
  await shot(page, "login-failed");
  await page.close();
});

test("create a token: shown once, copied exactly, masked after reload, works, then revoked", async () => {
  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  const secret = await createToken(page, "Laptop CLI");
  await assert.doesNotReject(page.getByText("will not be shown again").waitFor());
  assert.equal(await page.locator("#new-secret").getAttribute("readonly"), "");

  await page.getByRole("button", { name: "Copy" }).click();
  await page.getByText("Copied.").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await shot(page, "token-created");

  const response = await page.reload();
  assert.equal(response.request().method(), "GET");
  assert.equal(await page.locator("#new-secret").count(), 0);
  const html = await page.content();
  assert.ok(!html.includes(secret), "the secret is never shown again");
  const row = page.locator("tr", { has: page.locator(".token-name", { hasText: "Laptop CLI" }) });
  assert.equal(await row.locator("code.masked").textContent(), `${secret.slice(0, 12)}…${secret.slice(-4)}`);
  await shot(page, "settings-tokens");

  assert.equal(await me(secret), 200);
  await row.getByRole("link", { name: /Revoke/ }).click();
  await page.getByRole("heading", { name: "Revoke the token “Laptop CLI”?" }).waitFor();
  await shot(page, "revoke-confirm");
  await page.getByRole("button", { name: "Revoke token" }).click();
  await page.waitForURL(`${BASE}/settings/tokens`);
  assert.equal(await row.locator(".badge").textContent(), "revoked");
  assert.equal(await me(secret), 401);
  await page.close();
});

test("a name with HTML in it renders as text", async () => {
  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  const name = `<img src=x onerror="document.title='pwned'"><b>bold</b>`;
  await createToken(page, name);
  await page.goto(`${BASE}/settings/tokens`);
  const cells = await page.locator("#tokens .token-name").allTextContents();
  assert.ok(cells.includes(name), `the name is shown as typed: ${cells}`);
  assert.equal(await page.locator("#tokens img, #tokens .token-name b").count(), 0);
  assert.notEqual(await page.title(), "pwned");
  await page.close();
});

test("rotate with an overlap shows the new secret once", async () => {
  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  const old = await createToken(page, "Deploy bot");
  await page.goto(`${BASE}/settings/tokens`);
  const row = page.locator("tr", { has: page.locator(".token-name", { hasText: "Deploy bot" }) });
  await row.getByRole("link", { name: /Rotate/ }).click();
  await page.getByLabel("After 1 hour").check();
  await shot(page, "rotate");
  await page.getByRole("button", { name: "Rotate token" }).click();
  const fresh = await page.locator("#new-secret").inputValue();
  assert.notEqual(fresh, old);
  assert.equal(await me(fresh), 200);
  assert.equal(await me(old), 200, "the old secret works during the overlap");
  await page.reload();
  assert.equal(await page.locator("#new-secret").count(), 0);
  await page.close();
});

test("delete all tokens, with a confirmation that says how many", async () => {
  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  const a = await createToken(page, "Throwaway A");
  const b = await createToken(page, "Throwaway B");
  await page.goto(`${BASE}/settings/tokens`);
  const active = await page.locator("#tokens .badge.active").count();
  await page.getByRole("link", { name: "Delete all tokens" }).click();
  const plural = active === 1 ? "token" : "tokens";
  await page.getByRole("heading", { name: `Delete all ${active} active ${plural}?` }).waitFor();
  await page.getByRole("button", { name: `Revoke all ${active} ${plural}` }).click();
  await page.waitForURL(`${BASE}/settings/tokens`);
  assert.equal(await page.locator("#tokens .badge.active").count(), 0);
  assert.equal(await me(a), 401);
  assert.equal(await me(b), 401);
  await page.close();
});

test("API keys: a member without api_keys:manage gets 403; an owner creates one", async () => {
  const api = await adminApi();
  const ws = await api("POST", "/api/v1/workspaces", { name: "Acme <Corp>" });
  const mia = await api("POST", "/api/v1/users", { username: "mia", password: "mia-password-123" });
  const users = await api("GET", "/api/v1/users");
  const admin = users.items.find((u) => u.username === "admin");
  await api("PUT", `/api/v1/workspaces/${ws.id}/members/${mia.id}`, { role: "member" });
  await api("PUT", `/api/v1/workspaces/${ws.id}/members/${admin.id}`, { role: "owner" });
  const path = `${BASE}/settings/workspaces/${ws.id}/api-keys`;

  const member = await newPage();
  await signIn(member, "mia", "mia-password-123");
  const denied = await member.goto(path);
  assert.equal(denied.status(), 403);
  await shot(member, "api-keys-forbidden");
  await member.close();

  const owner = await newPage();
  await signIn(owner, "admin", ADMIN_PASSWORD);
  const allowed = await owner.goto(path);
  assert.equal(allowed.status(), 200);
  await owner.getByRole("heading", { name: "API keys of Acme <Corp>" }).waitFor();
  await owner.getByLabel("Name", { exact: true }).fill("Billing sync");
  await owner.getByLabel("Role").selectOption("viewer");
  await owner.getByRole("button", { name: "Create API key" }).click();
  const key = await owner.locator("#new-secret").inputValue();
  assert.match(key, /^tsr_key_/);
  assert.equal(await me(key), 200);
  await owner.goto(path);
  await shot(owner, "api-keys");
  await owner.close();
});

test("agents: create one, give it a token, lower its role, revoke, remove", async () => {
  const api = await adminApi(GROUPCHAT);
  const ws = await api("POST", "/api/v1/workspaces", { name: "Support" });
  const users = await api("GET", "/api/v1/users");
  const admin = users.items.find((u) => u.username === "admin");
  await api("PUT", `/api/v1/workspaces/${ws.id}/members/${admin.id}`, { role: "owner" });
  // The verify API answers only a verifier: the product's credential.
  const verifier = await api("POST", "/api/v1/verifiers", { name: "browser test product" });
  const verify = async (token, permissions) => {
    const r = await fetch(`${GROUPCHAT}/api/v1/verify`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Tessera-Verifier": verifier.secret },
      body: JSON.stringify({ token, permissions }),
    });
    assert.equal(r.status, 200);
    return (await r.json()).valid;
  };

  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD, GROUPCHAT);
  await page.goto(`${GROUPCHAT}/settings/workspaces`);
  await page.getByRole("link", { name: "Manage agents" }).click();
  await page.getByRole("heading", { name: "Agents of Support" }).waitFor();
  await page.getByLabel("Name", { exact: true }).fill("Triage bot");
  await page.getByLabel("Role").selectOption("member");
  await page.getByRole("button", { name: "Create agent" }).click();

  await page.getByRole("heading", { name: "Agent Triage bot" }).waitFor();
  const agentPage = page.url();
  await page.getByLabel("Name", { exact: true }).fill("triage");
  await page.getByLabel("tasks:read").check();
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = await page.locator("#new-secret").inputValue();
  assert.match(secret, /^gca_/);
  await shot(page, "agent-token-created");
  assert.equal(await verify(secret, ["tasks:read"]), true);
  assert.equal(await verify(secret, ["tasks:write"]), false, "narrowed to tasks:read");

  await page.goto(agentPage);
  assert.equal(await page.locator("#new-secret").count(), 0, "the secret is not shown again");
  await page.getByLabel("Role", { exact: true }).selectOption("guest");
  await page.getByRole("button", { name: "Change role" }).click();
  await page.waitForURL(agentPage);
  assert.equal(await page.getByLabel("Role", { exact: true }).inputValue(), "guest");
  assert.equal(await verify(secret, ["tasks:read"]), true, "a guest still reads tasks");
  await shot(page, "agent");

  await page.getByRole("link", { name: "Revoke triage" }).click();
  await page.getByRole("button", { name: "Revoke token" }).click();
  await page.waitForURL(agentPage);
  assert.equal(await page.locator("#agent-tokens .badge").textContent(), "revoked");
  assert.equal(await verify(secret, []), false);

  await page.getByRole("link", { name: "Remove agent" }).click();
  await page.getByRole("heading", { name: "Remove the agent “Triage bot”?" }).waitFor();
  await page.getByRole("button", { name: "Remove agent" }).click();
  await page.waitForURL(`${GROUPCHAT}/settings/workspaces/${ws.id}/agents`);
  await page.locator("#empty-state").waitFor();
  await page.close();
});

test("admin pages: users and workspaces", async () => {
  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  await page.goto(`${BASE}/admin/users`);
  await page.getByRole("heading", { name: "Users" }).waitFor();
  await shot(page, "admin-users");
  await page.goto(`${BASE}/admin/workspaces`);
  await shot(page, "admin-workspaces");
  await page.getByRole("link", { name: "Acme <Corp>" }).click();
  await page.getByRole("heading", { name: "Members" }).waitFor();
  await shot(page, "admin-workspace");
  await page.close();
});

test("admin pages: a verifier credential made once, used, revoked", async () => {
  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  await page.goto(`${BASE}/admin/verifiers`);
  await page.getByRole("heading", { name: "Verifiers" }).waitFor();
  await page.getByLabel("Name", { exact: true }).fill("Edge gateway");
  await page.getByRole("button", { name: "Create verifier" }).click();
  const secret = await page.locator("#new-secret").inputValue();
  assert.match(secret, /^tsr_vfr_/);
  await shot(page, "admin-verifier-created");
  const ask = () =>
    fetch(`${BASE}/api/v1/verify`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Tessera-Verifier": secret },
      body: JSON.stringify({ token: "tsr_pat_not_a_token" }),
    });
  assert.equal((await ask()).status, 200);
  await page.goto(`${BASE}/admin/verifiers`);
  assert.equal(await page.locator("#new-secret").count(), 0, "the secret is shown once");
  await page.getByRole("link", { name: "Revoke Edge gateway" }).click();
  await page.getByRole("button", { name: "Revoke verifier" }).click();
  await page.getByRole("heading", { name: "Verifiers" }).waitFor();
  assert.equal((await ask()).status, 401);
  await page.close();
});

test("a form posted without the CSRF value is refused", async () => {
  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  await page.getByLabel("Name", { exact: true }).fill("No CSRF");
  await page.evaluate(() => {
    for (const field of document.querySelectorAll("input[name=csrf_token]")) field.remove();
  });
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${BASE}/settings/tokens` && r.request().method() === "POST"),
    page.getByRole("button", { name: "Create token" }).click(),
  ]);
  assert.equal(response.status(), 403);
  await page.getByText("did not come from this site").waitFor();
  await page.goto(`${BASE}/settings/tokens`);
  assert.ok(!(await page.locator("#tokens .token-name").allTextContents()).includes("No CSRF"));
  await page.close();
});

test("narrow screens: the tokens page fits 320 px", async () => {
  const page = await newPage();
  await page.setViewportSize({ width: 320, height: 640 });
  await signIn(page, "admin", ADMIN_PASSWORD);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
  await shot(page, "settings-tokens-320");
  await page.close();
});

test("keyboard: every control is reachable with Tab and shows its focus", async () => {
  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  const seen = new Set();
  for (let i = 0; i < 60; i += 1) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return {
        id: el.id || el.getAttribute("name") || el.textContent.trim(),
        outline: style.outlineStyle,
        width: parseFloat(style.outlineWidth),
      };
    });
    if (focused.id === "token-name" || focused.id === "Create token") {
      assert.notEqual(focused.outline, "none", `${focused.id} shows its focus`);
      assert.ok(focused.width >= 2, `${focused.id}: a visible outline`);
    }
    seen.add(focused.id);
  }
  for (const control of ["Sign out", "token-name", "token-expiry", "Create token"]) {
    assert.ok(seen.has(control), `${control} is reachable by keyboard (saw ${[...seen].join(", ")})`);
  }
  await page.close();
});

test("after a use and a flush, last used shows", async () => {
  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  const secret = await createToken(page, "Last-use probe");
  const row = page.locator("tr", { has: page.locator(".token-name", { hasText: "Last-use probe" }) });
  const lastUsed = row.locator('td[data-label="Last used"]');
  await page.goto(`${BASE}/settings/tokens`);
  assert.equal((await lastUsed.textContent()).trim(), "Never");

  const before = Date.now();
  assert.equal(await me(secret), 200);
  const afterUse = Date.now();
  // The server writes uses every usage.flush_interval (250 ms under run.sh).
  let text = "Never";
  for (let i = 0; i < 20 && text === "Never"; i += 1) {
    await page.waitForTimeout(250);
    await page.reload();
    text = (await lastUsed.textContent()).trim();
  }
  assert.notEqual(text, "Never", "last used shows after the flush");

  const id = await row.getAttribute("data-token-id");
  const view = await (await adminApi())("GET", `/api/v1/tokens/${id}`);
  const title = await lastUsed.locator("time").getAttribute("title");
  assert.equal(title, `${view.last_used_at} from 127.0.0.1`);
  assert.equal(await lastUsed.locator("time").getAttribute("datetime"), view.last_used_at);
  const at = Date.parse(view.last_used_at);
  assert.ok(at >= before - 1000 && at <= afterUse + 1000, `the time of the use: ${view.last_used_at}`);
  await page.close();
});

test("an expired token shows as expired", async () => {
  const admin = await adminApi();
  const expiresAt = new Date(Date.now() + 2000).toISOString();
  const issued = await admin("POST", "/api/v1/tokens", { name: "Short-lived", expires_at: expiresAt });
  assert.equal(issued.status, "active");
  assert.equal(await me(issued.token), 200);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(issued.expires_at) - Date.now()) + 250));

  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  const row = page.locator(`tr[data-token-id="${issued.id}"]`);
  assert.equal(await row.locator(".token-name").textContent(), "Short-lived", "still listed");
  assert.equal(await row.locator(".badge").textContent(), "expired");
  assert.equal(await row.getByRole("link", { name: /Rotate|Revoke/ }).count(), 0);
  assert.equal(await me(issued.token), 401);
  await page.close();
});

test("a suspended user's tokens show as inactive to the admin, and the admin can reactivate", async () => {
  await (await adminApi())("POST", "/api/v1/users", { username: "nora", password: "nora-password-123" });
  const nora = await api("nora", "nora-password-123");
  const { token } = await nora("POST", "/api/v1/tokens", { name: "Nora's script" });
  assert.equal(await me(token), 200);

  const page = await newPage();
  await signIn(page, "admin", ADMIN_PASSWORD);
  await page.goto(`${BASE}/admin/users`);
  const row = page.locator("#users tr", { has: page.locator('td[data-label="Username"]', { hasText: /^nora$/ }) });
  assert.equal(await row.locator(".badge").textContent(), "active");

  await row.getByRole("link", { name: "Suspend nora" }).click();
  await page.getByRole("heading", { name: "Suspend the user “nora”?" }).waitFor();
  await page.getByRole("button", { name: "Suspend nora" }).click();
  await page.waitForURL(`${BASE}/admin/users`);
  assert.equal(await row.locator(".badge").textContent(), "suspended");
  assert.equal(await me(token), 401, "a suspended user's token stops working");
  await shot(page, "admin-user-suspended");

  await row.getByRole("link", { name: "Reactivate nora" }).click();
  await page.getByRole("heading", { name: "Reactivate the user “nora”?" }).waitFor();
  await page.getByRole("button", { name: "Reactivate nora" }).click();
  await page.waitForURL(`${BASE}/admin/users`);
  assert.equal(await row.locator(".badge").textContent(), "active");
  assert.equal(await me(token), 200, "the token works again after reactivation");
  await page.close();
});
