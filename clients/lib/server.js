// Starts a real `crmfeed serve` on a free port, on a fresh SQLite file with the demo data, and
// stops it. The command is $CRMFEED_BIN (.ci/run sets it to its virtual environment's
// crmfeed), or the repository's .venv/bin/crmfeed.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CRMFEED_BIN = process.env.CRMFEED_BIN || join(REPO, ".venv", "bin", "crmfeed");
export const DEMO_PASSWORD = "demo-pass-123";

/** A port nobody listens on now (the OS picks it). */
export function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

/**
 * Serve the demo on 127.0.0.1; resolves once /healthz answers. `env` adds settings.
 * Returns { url, graphqlUrl, wsUrl, log(), stop() }.
 */
export async function startServer({ env = {}, within = 90_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "crmfeed-clients-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const settings = {
    ...process.env,
    DATABASE_URL: `sqlite+aiosqlite:///${join(dir, "crmfeed.db")}`,
    SECRET_KEY: randomBytes(32).toString("hex"),
    // Cheap password hashing: the demo hashes 20 passwords at start.
    ARGON2_TIME_COST: "1",
    ARGON2_MEMORY_COST_KIB: "64",
    ...env,
  };
  let output = "";
  let child = null;
  let exited = null;

  const spawnServer = () => {
    const args = ["serve", "--port", String(port), "--demo", "--log-level", "warning"];
    child = spawn(CRMFEED_BIN, args, { cwd: dir, env: settings, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    exited = new Promise((ok) => child.once("exit", (code, signal) => ok({ code, signal })));
  };
  const running = () => child.exitCode === null && child.signalCode === null;
  const halt = async () => {
    if (running()) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const server = {
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    log: () => output,
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const healthy = async () => {
    const deadline = Date.now() + within;
    for (;;) {
      if (!running()) {
        await server.stop();
        throw new Error(`${CRMFEED_BIN} serve exited before it answered:\n${output}`);
      }
      try {
        const response = await fetch(`${url}/healthz`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`${CRMFEED_BIN} serve did not answer /healthz within ${within} ms:\n${output}`);
      }
      await new Promise((ok) => setTimeout(ok, 200));
    }
  };
  spawnServer();
  await healthy();
  return server;
}

/** A demo person's login email, from their name ("Ava Thompson"; `crmfeed demo` lists them). */
export function demoEmail(fullName) {
  return `${fullName.toLowerCase().replace(" ", ".")}@demo.example`;
}
