// Issue 14 point 5: reconnecting. A reload mid-build reattaches to the run; after a server
// restart the page comes back with node states from the history; a page holding an old token
// says to open the new URL instead of retrying forever. Build selected builds what is selected
// whatever other nodes lack; the retarget summary follows builds.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { chooseFunction, ensureBuilt, fixture, launch, node, open, repo, screenshot } from "./helpers.js";

let browser: Browser;
let home: string;
let port: number;
let server: { proc: ChildProcess; out: () => string } | null = null;

const TOKEN_A = "0123456789abcdef0123456789abcdef";
const TOKEN_B = "fedcba9876543210fedcba9876543210";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** `bramble serve` on a fixed port, store and token, so a restart is the same URL (or not, with another token). */
async function start(token: string): Promise<void> {
  const proc = spawn(process.execPath, [join(repo, "dist/cli.mjs"), "serve", fixture("studio"), "--port", String(port), "--token", token], {
    env: { ...process.env, BRAMBLE_PATH: home, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += String(d)));
  proc.stderr!.on("data", (d) => (out += String(d)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL:\n${out}`)), 20_000);
    proc.stdout!.on("data", () => out.includes("is running at") && (clearTimeout(timer), resolve()));
    proc.on("exit", (c) => (clearTimeout(timer), reject(new Error(`serve exited ${c}:\n${out}`))));
  });
  server = { proc, out: () => out };
}

async function stop(): Promise<void> {
  if (!server) return;
  const { proc } = server;
  server = null;
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (proc.exitCode === null) proc.kill("SIGKILL");
}

const url = (token: string) => `http://127.0.0.1:${port}/?token=${token}`;

beforeAll(async () => {
  ensureBuilt();
  home = mkdtempSync(join(tmpdir(), "bramble-e2e-reconnect-"));
  port = await freePort();
  [browser] = await Promise.all([launch(), start(TOKEN_A)]);
});
afterAll(async () => {
  await browser?.close();
  await stop();
  rmSync(home, { recursive: true, force: true });
});

describe("reconnecting", () => {
  it("reattaches to a running build after a reload", async () => {
    const { page, context } = await open(browser, url(TOKEN_A));
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "slow");
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.locator('[data-testid="node-slow"][data-state="building"]').waitFor({ timeout: 30_000 });
      await page.reload();
      // the same function (kept in the URL), the run still going, and Cancel works
      await page.locator('[data-testid="node-slow"][data-state="building"]').waitFor({ timeout: 30_000 });
      await expect(page.getByLabel("Function").inputValue()).resolves.toBe(".:slow");
      await expect(page.getByTestId("progress").getAttribute("data-status")).resolves.toBe("running");
      await screenshot(page, "reattached-after-reload");
      await page.getByRole("button", { name: "Cancel" }).click();
      await page.locator('[data-testid="node-slow"][data-state="cancelled"]').waitFor({ timeout: 30_000 });
    } finally {
      await context.close();
    }
  });

  it("a run the server dies in is recorded and shown as interrupted, not left running", async () => {
    const { page, context } = await open(browser, url(TOKEN_A));
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "slow");
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.locator('[data-testid="node-slow"][data-state="building"]').waitFor({ timeout: 30_000 });
      const runId = new URL(page.url()).searchParams.get("run")!;
      expect(runId).toMatch(/^[0-9a-f]{16}$/);
      // The server stops mid-build; its builds die with it.
      await stop();
      await page.getByText("Lost the connection to the service; retrying…").waitFor({ timeout: 20_000 });
      await start(TOKEN_A);
      await page.getByText("Lost the connection to the service; retrying…").waitFor({ state: "detached", timeout: 30_000 });
      // The page reattached to how the run ended: interrupted, nothing running.
      await page.locator('[data-testid="progress"][data-status="interrupted"]').waitFor({ timeout: 30_000 });
      await expect(page.getByTestId("progress").textContent()).resolves.toMatch(/ 0 running/);
      await page.locator('[data-testid="node-slow"][data-state="cancelled"]').waitFor({ timeout: 30_000 });
      await page.getByRole("tab", { name: "Run" }).click();
      await page.locator(`[data-testid="run-view"][data-run="${runId}"][data-status="interrupted"]`).waitFor({ timeout: 30_000 });
      await screenshot(page, "run-interrupted");
      // A new page on the run's URL: the run view says so too, and so does the history.
      const again = await context.newPage();
      await again.goto(page.url());
      const run = again.getByTestId("run-view");
      await run.waitFor({ timeout: 30_000 });
      await again.locator(`[data-testid="run-view"][data-run="${runId}"][data-status="interrupted"]`).waitFor({ timeout: 30_000 });
      await expect(run.getByTestId("run-status").textContent()).resolves.toBe("interrupted");
      await again.getByRole("tab", { name: "History" }).click();
      await expect(again.getByTestId(`history-run-${runId}`).getByTestId("history-run-status").textContent()).resolves.toBe("interrupted");
      await again.close();
    } finally {
      await context.close();
    }
  });

  it("after a restart shows states from the history; with a new token, says to open the new URL and stops retrying", async () => {
    const { page, context } = await open(browser, url(TOKEN_A));
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "broken");
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.locator('[data-testid="node-broken"][data-state="failed"]').waitFor({ timeout: 60_000 });

      await stop();
      await page.getByText("Lost the connection to the service; retrying…").waitFor({ timeout: 20_000 });
      await start(TOKEN_A);
      // back on the same function; the failed node is failed (from the history), not "not built"
      await page.getByText("Lost the connection to the service; retrying…").waitFor({ state: "detached", timeout: 30_000 });
      await expect(page.getByLabel("Function").inputValue()).resolves.toBe(".:broken");
      await page.locator('[data-testid="node-broken"][data-state="failed"]').waitFor({ timeout: 30_000 });
      await expect(page.getByTestId("progress").textContent()).resolves.not.toMatch(/[1-9]\d* running/);
      await screenshot(page, "after-restart");
      // the run's URL survives the restart too: a new page on it shows how the run ended
      expect(page.url()).toMatch(/[?&]run=[0-9a-f]{16}/);
      const again = await context.newPage();
      await again.goto(page.url());
      const run = again.getByTestId("run-view");
      await run.waitFor({ timeout: 30_000 });
      await run.getByTestId("run-failed-broken").waitFor({ timeout: 30_000 });
      await expect(run.getAttribute("data-status")).resolves.toBe("failed");
      await again.close();

      await stop();
      await start(TOKEN_B);
      const stale = page.getByTestId("stale-token");
      await stale.waitFor({ timeout: 30_000 });
      await expect(stale.textContent()).resolves.toBe(
        "The service no longer accepts this page's token: it was restarted. Open the new URL that bramble serve printed.",
      );
      const refusals = () => (server!.out().match(/missing or wrong token/g) ?? []).length;
      const before = refusals();
      await page.waitForTimeout(5000); // more than two of the old retry intervals
      expect(refusals()).toBe(before);
      await screenshot(page, "stale-token");
    } finally {
      await context.close();
      await stop();
      await start(TOKEN_A);
    }
  });
});

describe("build selected and the retarget summary", () => {
  it("builds the selected node although another lacks a backend", async () => {
    const { page, context } = await open(browser, url(TOKEN_A));
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "mixed", "here");
      await node(page, "elsewhere").getByText("no backend").waitFor();
      await node(page, "here").click();
      await page.getByRole("button", { name: "Build selected" }).click();
      await page.locator('[data-testid="node-here"][data-state="built"]').waitFor({ timeout: 60_000 });
      await expect(node(page, "elsewhere").getAttribute("data-state")).resolves.toBe("not-built");
      await screenshot(page, "build-selected");
    } finally {
      await context.close();
    }
  });

  it("updates what would build after a build", async () => {
    const { page, context } = await open(browser, url(TOKEN_A));
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await page.getByLabel("Target").fill("aarch64-linux");
      await page.getByLabel("Target").press("Enter");
      const summary = page.getByTestId("retarget-summary");
      await summary.waitFor({ timeout: 30_000 });
      const before = Number(await summary.getByTestId("rebuild-count").textContent());
      expect(before).toBeGreaterThanOrEqual(1);
      await summary.getByRole("button", { name: "Build for aarch64-linux" }).click();
      await page.locator('[data-testid="node-app"][data-state="built"]').waitFor({ timeout: 60_000 });
      await expect(summary.getByTestId("rebuild-count").textContent()).resolves.toBe("0");
    } finally {
      await context.close();
    }
  });

  it("follows a run another process is doing (a bramble build in a terminal) until it ends", async () => {
    const { page, context } = await open(browser, url(TOKEN_A));
    const cli = spawn(process.execPath, [join(repo, "dist/cli.mjs"), "build", ".:slow"], {
      cwd: fixture("studio"),
      env: { ...process.env, BRAMBLE_PATH: home, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let out = "";
      cli.stdout!.on("data", (d) => (out += String(d)));
      cli.stderr!.on("data", (d) => (out += String(d)));
      const exited = new Promise<number | null>((r) => cli.on("exit", (code) => r(code)));
      await new Promise<void>((resolve, reject) => {
        const check = () => (/building slow/.test(out) ? resolve() : undefined);
        cli.stdout!.on("data", check);
        cli.stderr!.on("data", check);
        void exited.then(() => reject(new Error(`bramble build ended first:\n${out}`)));
      });
      // The page (re)loads on that function while the terminal's build runs: it takes that run over from the database.
      await page.goto(`${url(TOKEN_A)}&fn=.%3Aslow`);
      await page.locator('[data-testid="progress"][data-status="running"]').waitFor({ timeout: 30_000 });
      await page.locator('[data-testid="node-slow"][data-state="building"]').waitFor({ timeout: 30_000 });
      // Ctrl-C in the terminal: the page, which gets no events of that process, follows it to its end.
      cli.kill("SIGINT");
      await exited;
      await page.locator('[data-testid="progress"][data-status="cancelled"]').waitFor({ timeout: 30_000 });
      await page.locator('[data-testid="node-slow"][data-state="cancelled"]').waitFor({ timeout: 30_000 });
    } finally {
      if (cli.exitCode === null) cli.kill("SIGKILL");
      await context.close();
    }
  });
});
