// The browser test: twinhub's pages in headless Debian Chromium, driven by playwright-core.
// Flow: sign in, publish two versions of an interface, open the model page, run the diff,
// deprecate, administration (token, namespace, audit log), sign out — plus the read-only pages. Every page visited is saved as a PNG under
// target/ui-screenshots/ (desktop width, and phone width for a few), for people to look at.
//
// Usage: node tests/browser/flow.mjs   (TWINHUB_BIN defaults to target/debug/twinhub)
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import assert from "node:assert/strict";

const root = resolve(import.meta.dirname, "../..");
const target = process.env.CARGO_TARGET_DIR ?? join(root, "target");
const bin = process.env.TWINHUB_BIN ?? join(target, "debug/twinhub");
const shots = join(target, "ui-screenshots");
const token = "browser-test-admin-token-0123456789";
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });

const freePort = () =>
  new Promise((done) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const work = mkdtempSync(join(tmpdir(), "twinhub-browser-"));
const server = spawn(bin, ["serve", "--no-hub", "--bind", `127.0.0.1:${port}`, "--database-url", `sqlite://${work}/twinhub.db`, "--admin-token", token], {
  stdio: ["ignore", "inherit", "inherit"],
  env: { ...process.env, TWINHUB_LOG: process.env.TWINHUB_LOG ?? "warn" },
});
const stop = () => { server.kill("SIGTERM"); rmSync(work, { recursive: true, force: true }); };

async function ready() {
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("twinhub did not become ready");
}

const v1 = {
  "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
  "@id": "dtmi:com:example:browser:Thermostat;1",
  "@type": "Interface",
  displayName: "Browser Thermostat",
  description: "Reports temperature and takes a target; used by the browser test.",
  contents: [
    { "@type": ["Telemetry", "Temperature"], name: "temperature", schema: "double", unit: "degreeCelsius" },
    { "@type": "Property", name: "targetTemperature", schema: "double", writable: true },
    { "@type": "Property", name: "mode", schema: { "@type": "Enum", valueSchema: "string", enumValues: [
      { name: "heat", enumValue: "heat" }, { name: "cool", enumValue: "cool" } ] } },
    { "@type": "Command", name: "getReport",
      request: { name: "since", schema: "dateTime" },
      response: { name: "report", schema: { "@type": "Object", fields: [
        { name: "maxTemp", schema: "double" },
        { name: "readings", schema: { "@type": "Map",
          mapKey: { name: "hour", schema: "string" },
          mapValue: { name: "value", schema: { "@type": "Array", elementSchema: "double" } } } } ] } } },
  ],
};
const v2 = structuredClone(v1);
v2["@id"] = "dtmi:com:example:browser:Thermostat;2";
v2.contents[1].writable = false;
v2.contents[0].unit = "degreeFahrenheit";
v2.contents[2].schema.enumValues.push({ name: "auto", enumValue: "auto" });
v2.contents.push({ "@type": "Command", name: "reboot" });
const controller = {
  "@context": "dtmi:dtdl:context;3",
  "@id": "dtmi:com:example:browser:Controller;1",
  "@type": "Interface",
  displayName: "Browser Controller",
  contents: [{ "@type": "Component", name: "thermostat", schema: "dtmi:com:example:browser:Thermostat;2" }],
};

let browser;
let step = 0;
try {
  await ready();
  const created = await fetch(`${base}/api/v1/users`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "alice", password: "correct horse battery", grants: [{ role: "admin", namespace: "*" }] }),
  });
  assert.equal(created.status, 201, await created.text());

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // Deliberate 404/422 answers log "Failed to load resource"; anything else is a script error.
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });
  const shot = async (name) => {
    step += 1;
    const file = join(shots, `${String(step).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`screenshot ${file}`);
  };

  await page.goto(`${base}/`);
  await shot("home-empty");
  await page.getByRole("link", { name: "Sign in" }).click();
  await shot("login");
  await page.getByLabel("User name").fill("alice");
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  assert.match(await page.textContent("header"), /Signed in as\s+alice/);

  // Version 1: paste, check, publish.
  await page.getByRole("link", { name: "Publish", exact: true }).click();
  await page.getByLabel("Model JSON").fill(JSON.stringify(v1, null, 2));
  await shot("publish-form");
  await page.getByRole("button", { name: "Check and preview" }).click();
  assert.match(await page.textContent("main"), /New interface: no earlier version is stored/);
  await shot("publish-preview-v1");
  await page.getByRole("button", { name: "Publish", exact: true }).click();
  await page.waitForURL(/\/models\/dtmi:com:example:browser:Thermostat%3B1\?done=published/);
  assert.match(await page.textContent(".flash"), /Published/);
  await shot("model-v1");

  // A broken document: the error sits beside its line.
  await page.goto(`${base}/publish`);
  await page.getByLabel("Model JSON").fill(JSON.stringify({ ...v1, "@id": "dtmi:com:example:browser:Broken;1", contents: [{ "@type": "Telemetry", name: "bad name", schema: "double" }] }, null, 2));
  await page.getByRole("button", { name: "Check and preview" }).click();
  assert.equal(await page.locator("tr.bad").count() > 0, true, "the offending line is marked");
  await shot("publish-invalid");

  // Version 2 and a model using it.
  await page.goto(`${base}/publish`);
  await page.getByLabel("Model JSON").fill(JSON.stringify([v2, controller], null, 2));
  await page.getByRole("button", { name: "Check and preview" }).click();
  assert.match(await page.textContent(".preview"), /breaks devices and solutions/);
  await shot("publish-preview-v2");
  await page.getByRole("button", { name: "Publish", exact: true }).click();
  await page.waitForURL(/done=published/);

  await page.goto(`${base}/models/dtmi:com:example:browser:Thermostat%3B2`);
  assert.match(await page.textContent("main"), /Used by/);
  assert.equal(await page.locator("svg[role=img] rect").count(), 2, "the controller above, the model");
  await shot("model-v2");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("model-v2-phone");
  await page.setViewportSize({ width: 1280, height: 900 });

  // The diff, from the model page's version picker.
  await page.getByLabel("Compare with").selectOption("dtmi:com:example:browser:Thermostat;1");
  await page.getByRole("button", { name: "Show changes" }).click();
  await page.waitForURL(/\/diff\//);
  assert.match(await page.textContent(".verdict"), /breaks devices and solutions/);
  assert.match(await page.textContent("main"), /targetTemperature\/writable/);
  await shot("diff");

  await page.goto(`${base}/models/dtmi:com:example:browser:Controller%3B1`);
  await shot("model-controller");

  // Deprecate version 1 after the confirmation.
  await page.goto(`${base}/models/dtmi:com:example:browser:Thermostat%3B1`);
  await page.getByRole("link", { name: "Deprecate…" }).click();
  await shot("deprecate-confirm");
  await page.getByRole("button", { name: "Yes, deprecate it" }).click();
  await page.waitForURL(/done=deprecated/);
  assert.match(await page.textContent(".flash"), /deprecated/);
  await shot("model-v1-deprecated");

  await page.goto(`${base}/models/dtmi:com:example:browser:Thermostat%3B2/lifecycle?action=delete`);
  assert.match(await page.textContent("main"), /cannot be deleted while 1 model/);
  await shot("delete-blocked");

  // Administration: a token shown once, a private namespace, the audit log.
  await page.getByRole("link", { name: "Administration" }).click();
  await page.waitForURL(`${base}/admin`);
  await page.locator("#token-name").fill("ci-browser");
  await page.locator("#token-ns").fill("dtmi:com:example:browser");
  await page.getByRole("button", { name: "Create token" }).click();
  assert.match(await page.textContent(".secret"), /shown only this once/);
  await shot("admin-token-created");
  await page.locator("#ns-prefix").fill("dtmi:com:example:secret");
  await page.locator("#ns-vis").selectOption("private");
  await page.getByRole("button", { name: "Save namespace" }).click();
  await page.waitForURL(/done=namespace-saved/);
  await shot("admin");
  await page.getByRole("link", { name: "audit log" }).click();
  assert.match(await page.textContent("main"), /tokens\.create|token/);
  await shot("audit-log");

  await page.goto(`${base}/search?capability=Command`);
  await shot("search-facets");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("search-phone");
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${base}/namespaces/dtmi:com:example`);
  await shot("namespaces");
  await page.goto(`${base}/`);
  await shot("home");
  await page.goto(`${base}/models/dtmi:com:example:Nothing%3B1`);
  await shot("not-found");

  await page.goto(`${base}/search`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${base}/`);
  assert.match(await page.textContent("header"), /Sign in/);
  await shot("signed-out");
  assert.deepEqual(errors, [], "no script errors");
  console.log(`browser flow passed: ${step} screenshots in ${shots}`);
} finally {
  await browser?.close();
  stop();
}
