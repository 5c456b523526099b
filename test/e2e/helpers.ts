// End-to-end helpers: `bramble serve` on a fresh store, Debian's Chromium via playwright-core.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { launchChromium } from "./chromium.js";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const fixture = (name: string) => join(repo, "test/e2e/fixtures", name);
/** Screenshots a run takes go to the build folder; docs/screenshots keeps reviewed copies (copied by hand). */
export const screenshotDir = join(repo, "test-results/screenshots");

/** Build the CLI and renderer when a test is run without `npm test`'s build step. */
export function ensureBuilt(): void {
  if (["dist/cli.mjs", "dist/eval-worker.mjs", "dist/renderer/index.html"].every((f) => existsSync(join(repo, f)))) return;
  const r = spawnSync(process.execPath, [join(repo, "scripts/build.mjs")], { cwd: repo, stdio: "inherit" });
  if (r.status !== 0) throw new Error("npm run build failed");
}

export interface Served {
  url: string;
  origin: string;
  token: string;
  home: string;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Start `bramble serve <project> --port 0` with a temporary BRAMBLE_PATH; resolves once it prints its URL. */
export async function serve(project: string, opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Served> {
  ensureBuilt();
  const home = mkdtempSync(join(tmpdir(), "bramble-e2e-"));
  const proc = spawn(process.execPath, [join(repo, "dist/cli.mjs"), "serve", project, "--port", "0"], {
    cwd: repo,
    env: { ...process.env, BRAMBLE_PATH: home, NO_COLOR: "1", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += String(d)));
  proc.stderr!.on("data", (d) => (out += String(d)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bramble serve printed no URL in time:\n${out}`)), opts.timeoutMs ?? 20_000);
    const check = () => {
      const m = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    };
    proc.stdout!.on("data", check);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`bramble serve exited with ${code}:\n${out}`));
    });
  });
  const u = new URL(url);
  return {
    url,
    origin: u.origin,
    token: u.searchParams.get("token")!,
    home,
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export const launch = launchChromium;

export interface Opened {
  context: BrowserContext;
  page: Page;
  /** console errors and page errors seen so far */
  errors: string[];
}

export async function open(browser: Browser, url: string, opts: { bypassCSP?: boolean } = {}): Promise<Opened> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, bypassCSP: opts.bypassCSP ?? false });
  const page = await context.newPage();
  // Two cores are shared with builds and other suites: be patient, but bounded.
  page.setDefaultTimeout(30_000);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // The CSP's own syntax warnings come from the host's header, not from the page.
    if (m.type() === "error" && !/Content Security Policy directive .* invalid source/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  return { context, page, errors };
}

export const node = (page: Page, name: string) => page.getByTestId(`node-${name}`);

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

/** Pick `<module>:<fn>` in the Function chooser and wait for the node named `waitFor` (default: fn). */
export async function chooseFunction(page: Page, fn: string, waitFor: string | null = fn): Promise<void> {
  const select = page.getByLabel("Function");
  const value = await select
    .locator("option", { hasText: `:${fn}` })
    .first()
    .getAttribute("value");
  await select.selectOption(value!);
  if (waitFor) await node(page, waitFor).waitFor({ timeout: 30_000 });
}

/** For a test file: `bramble serve <project>` and a browser, started before its tests and stopped after. */
export function servedWithBrowser(project: string): { readonly server: Served; readonly browser: Browser } {
  let server: Served | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    [server, browser] = await Promise.all([serve(project), launch()]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });
  return {
    get server() {
      return server!;
    },
    get browser() {
      return browser!;
    },
  };
}
