// Issue 14 point 6: the copied `bramble shell` command works as pasted (it names the
// server's BRAMBLE_PATH) and its prompt shows the directory in sh; "Defined at" opens the
// source at its line; at 1024×700 neither the minimap nor the zoom controls cover a node.
import { spawnSync } from "node:child_process";
import { mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { chooseFunction, fixture, node, open, repo, screenshot, servedWithBrowser } from "./helpers.js";

const env = servedWithBrowser(fixture("studio"));

type Box = { x: number; y: number; width: number; height: number };
const overlaps = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
const inside = (a: Box, b: Box) => a.x >= b.x && a.y >= b.y && a.x + a.width <= b.x + b.width && a.y + a.height <= b.y + b.height;

/** Every node lies inside the graph's area and under none of its overlays. */
async function expectNodesUncovered(page: Page, names: string[]) {
  const area = (await page.getByTestId("graph-view").boundingBox())!;
  const overlays = [
    ["minimap", (await page.locator(".react-flow__minimap").boundingBox())!],
    ["controls", (await page.locator(".react-flow__controls").boundingBox())!],
  ] as const;
  for (const name of names) {
    const box = (await node(page, name).boundingBox())!;
    expect(inside(box, area), `${name} ${JSON.stringify(box)} inside the graph ${JSON.stringify(area)}`).toBe(true);
    for (const [what, o] of overlays) expect(overlaps(box, o), `${name} ${JSON.stringify(box)} under the ${what} ${JSON.stringify(o)}`).toBe(false);
  }
}

describe("at 1024×700", () => {
  it("no overlay covers a node, at first and after Fit", async () => {
    const { page, context } = await open(env.browser, env.server.url);
    try {
      await page.setViewportSize({ width: 1024, height: 700 });
      await node(page, "app").waitFor({ timeout: 30_000 });
      await page.waitForTimeout(300); // the first fit, one frame after layout
      await expectNodesUncovered(page, ["tool", "app"]);
      await page.getByRole("button", { name: /zoom in/i }).click();
      await page.getByRole("button", { name: /zoom in/i }).click();
      await page.getByRole("button", { name: /fit view/i }).click();
      await page.waitForTimeout(300); // one Fit animation
      await expectNodesUncovered(page, ["tool", "app"]);
      await screenshot(page, "layout-1024x700");
    } finally {
      await context.close();
    }
  });
});

describe("a failed node's panel", () => {
  it("copies a shell command that works as pasted, with the directory in its prompt, and links to where the node is defined", async () => {
    const { page, context } = await open(env.browser, env.server.url);
    try {
      await node(page, "app").waitFor({ timeout: 30_000 });
      await chooseFunction(page, "broken");
      await page.getByRole("button", { name: "Build", exact: true }).click();
      await page.locator('[data-testid="node-broken"][data-state="failed"]').waitFor({ timeout: 60_000 });
      await node(page, "broken").click();
      const command = (await page.getByTestId("failure").getByTestId("shell-command").textContent())!;
      const hash = (await node(page, "broken").getAttribute("data-hash"))!;
      // The test server's store is not the default one: the command names it.
      expect(command).toBe(`BRAMBLE_PATH=${env.server.home} bramble shell ${hash}`);

      // Paste it into sh as a user would, with `bramble` on PATH and no BRAMBLE_PATH set.
      const bin = mkdtempSync(join(tmpdir(), "bramble-bin-"));
      symlinkSync(join(repo, "bin/bramble.mjs"), join(bin, "bramble"));
      const shellEnv: Record<string, string> = { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME ?? tmpdir() };
      const r = spawnSync("/bin/sh", ["-c", command], { input: "cd /tmp\necho inside-the-sandbox\nexit\n", env: shellEnv, encoding: "utf8", timeout: 60_000 });
      const out = `${r.stdout}${r.stderr}`;
      expect(out, out).toContain("inside-the-sandbox");
      // sh's prompt: the node's name and the directory (dash does not know bash's \w).
      expect(out).toContain("[bramble shell broken] /tmp$ ");
      expect(out).not.toContain("\\w");

      // "Defined at" is a link to the line that made the derivation.
      const definedAt = page.getByTestId("node-panel").getByTestId("defined-at");
      expect(await definedAt.textContent()).toBe(`${fixture("studio")}/default.bramble:29:22`); // starlark-go places a call at its (
      await definedAt.click();
      const source = page.getByTestId("source-view");
      await source.waitFor();
      const current = source.locator("li[data-current=true]");
      await expect(current.locator("code").first().textContent()).resolves.toBe("    return derivation(");
      await screenshot(page, "defined-at-source");
      await page.keyboard.press("Escape");
      await source.waitFor({ state: "detached" });
    } finally {
      await context.close();
    }
  });
});
