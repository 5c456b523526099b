// Issue 14 point 1: edits picked up on save. `bramble serve` watches the project's .bramble
// files and bramble.toml, re-evaluates itself (the pages ask for nothing) and sends the new
// graph to every page, which keeps its function and selection and marks what changed; a
// rebuild builds the new derivation. Syntax errors (in the root module and
// in a loaded one) show their own file, line, column and source line, with a working link.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { fixture, launch, node, open, screenshot, serve, type Served } from "./helpers.js";

let dir: string;
let server: Served;
let browser: Browser;
beforeAll(async () => {
  // A copy of the fixture the test may edit.
  dir = mkdtempSync(join(tmpdir(), "bramble-edits-"));
  cpSync(fixture("edits"), dir, { recursive: true });
  [server, browser] = await Promise.all([serve(dir), launch()]);
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string) => join(dir, name);
const rewrite = (name: string, from: string, to: string) => {
  const text = readFileSync(file(name), "utf8");
  expect(text).toContain(from);
  writeFileSync(file(name), text.replace(from, to));
};

describe("edits picked up on save", () => {
  it("re-evaluates on save, keeps function and selection, marks the changed node, rebuilds the new derivation; syntax errors point at their place", async () => {
    const { page, context, errors } = await open(browser, server.url);
    const other = await open(browser, server.url);
    try {
      // What the page asks the service for, from its (re)load on.
      const asked: string[] = [];
      page.on("websocket", (ws) =>
        ws.on("framesent", (f) => {
          const m = /"method":"([\w.]+)"/.exec(String(f.payload));
          if (m) asked.push(m[1]!);
        }),
      );
      await page.reload();
      await node(page, "app").waitFor({ timeout: 30_000 });
      await node(other.page, "app").waitFor({ timeout: 30_000 });
      const fn = await page.getByLabel("Function").inputValue();
      expect(fn).toBe(".:default");
      await node(page, "app").click();
      const oldApp = (await node(page, "app").getAttribute("data-hash"))!;
      const tool = (await node(page, "tool").getAttribute("data-hash"))!;

      // Save an edit of the app's builder: only app changes.
      expect(asked).toContain("graph.evaluate");
      asked.length = 0;
      rewrite("default.bramble", 'say("version one")', 'say("version two")');
      await page.locator('[data-testid="node-app"][data-edited="true"]').waitFor({ timeout: 30_000 });
      // The service re-evaluated: this page asked for no evaluation and no function list.
      expect(asked.filter((m) => m.startsWith("graph.") || m === "project.open")).toEqual([]);
      // And the other page, which asked for nothing either, got the same graph and marks.
      await other.page.locator('[data-testid="node-app"][data-edited="true"]').waitFor({ timeout: 30_000 });
      await expect(other.page.getByTestId("edit-notice").textContent()).resolves.toBe(
        "Re-evaluated after an edit of default.bramble: 1 node changed (outlined).",
      );
      const newApp = (await node(page, "app").getAttribute("data-hash"))!;
      expect(newApp).not.toBe(oldApp);
      expect(await node(other.page, "app").getAttribute("data-hash")).toBe(newApp);
      expect(await node(page, "tool").getAttribute("data-hash")).toBe(tool);
      expect(await node(page, "tool").getAttribute("data-edited")).toBeNull();
      await expect(page.getByTestId("edit-notice").textContent()).resolves.toBe("Re-evaluated after an edit of default.bramble: 1 node changed (outlined).");
      await expect(page.getByLabel("Function").inputValue()).resolves.toBe(".:default");
      // the selection followed the node to its new derivation
      const panel = page.getByTestId("node-panel");
      await panel.getByRole("heading", { level: 2, name: "app" }).waitFor();
      await panel.getByText(newApp, { exact: true }).waitFor();
      await screenshot(page, "edit-picked-up");

      // Rebuilding builds the new derivation.
      await panel.getByRole("button", { name: "Rebuild node" }).click();
      await page.locator('[data-testid="node-app"][data-state="built"]').waitFor({ timeout: 60_000 });
      await page.getByTestId("log-view").getByText("version two").first().waitFor({ timeout: 20_000 });

      // The derivation just built is in the history; after another edit the graph no longer has
      // it, and it opens in the graph from the service's records, with what it needs.
      rewrite("default.bramble", 'say("version two")', 'say("version three")');
      await page.locator(`[data-testid="node-app"][data-edited="true"]:not([data-hash="${newApp}"])`).waitFor({ timeout: 30_000 });
      const newerApp = (await node(page, "app").getAttribute("data-hash"))!;
      await page.getByRole("tab", { name: "History" }).click();
      await page.getByTestId("history-panel").getByRole("button", { name: "app", exact: true }).first().click();
      await page.getByRole("tab", { name: "Node" }).click();
      await panel.getByTestId("not-in-graph").waitFor();
      await panel.getByRole("button", { name: "Open in graph" }).click();
      await page.getByTestId("historic-notice").waitFor();
      await expect(node(page, "app").getAttribute("data-hash")).resolves.toBe(newApp);
      await expect(node(page, "app").getAttribute("data-state")).resolves.toBe("built");
      await expect(node(page, "tool").getAttribute("data-hash")).resolves.toBe(tool);
      await expect(panel.getByTestId("not-in-graph").count()).resolves.toBe(0);
      await screenshot(page, "history-derivation-in-graph");
      await page.getByTestId("historic-notice").getByRole("button", { name: "Back to .:default" }).click();
      await page.getByTestId("historic-notice").waitFor({ state: "detached" });
      await page.locator(`[data-testid="node-app"][data-hash="${newerApp}"]`).waitFor({ timeout: 30_000 });

      // A syntax error in a loaded module: its own file, line, column and source line.
      rewrite("lib/util.bramble", "    return 'echo ' + word", "    x = (1 +\n    return 'echo ' + word");
      const err = page.getByTestId("eval-error");
      await err.waitFor({ timeout: 30_000 });
      await expect(page.getByTestId("eval-error-place").textContent()).resolves.toBe(`${file("lib/util.bramble")}:6:5`);
      await expect(err.locator(".source-line").textContent()).resolves.toBe("    return 'echo ' + word\n    ^");
      await page.getByTestId("eval-error-place").click();
      const source = page.getByTestId("source-view");
      await expect(source.locator("li[data-current=true] code").first().textContent()).resolves.toBe("    return 'echo ' + word");
      await screenshot(page, "edit-error-loaded-module");
      await page.keyboard.press("Escape");
      await source.waitFor({ state: "detached" });

      // Fixed: the graph comes back.
      rewrite("lib/util.bramble", "    x = (1 +\n", "");
      await err.waitFor({ state: "detached", timeout: 30_000 });
      await node(page, "app").waitFor();

      // A syntax error in the root module, also after a reload (the function list is then empty).
      rewrite("default.bramble", "def default():", "def default(:");
      await err.waitFor({ timeout: 30_000 });
      await expect(page.getByTestId("eval-error-place").textContent()).resolves.toBe(`${file("default.bramble")}:5:14`);
      await page.reload();
      await err.waitFor({ timeout: 30_000 });
      await expect(page.getByTestId("eval-error-place").textContent()).resolves.toBe(`${file("default.bramble")}:5:14`);
      await expect(err.locator(".source-line").textContent()).resolves.toBe("def default(:\n             ^");
      await page.getByTestId("eval-error-place").click();
      await expect(page.getByTestId("source-view").locator("li[data-current=true] code").first().textContent()).resolves.toBe("def default(:");
      await screenshot(page, "edit-error-root-module");
      await page.keyboard.press("Escape");

      // bramble.toml is watched too: fixing the module and changing the toml re-evaluates.
      rewrite("default.bramble", "def default(:", "def default():");
      await err.waitFor({ state: "detached", timeout: 30_000 });
      await node(page, "app").waitFor({ timeout: 30_000 });
      writeFileSync(file("bramble.toml"), `${readFileSync(file("bramble.toml"), "utf8")}# touched\n`);
      await page.getByTestId("edit-notice").getByText("Re-evaluated after an edit of bramble.toml: 0 nodes changed (outlined).").waitFor({ timeout: 30_000 });
      expect(errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
      expect(other.errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
    } finally {
      await other.context.close();
      await context.close();
    }
  });
});
