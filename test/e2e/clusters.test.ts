// Issue 14 point 2: a 300-node graph readable at Fit. A generated project of 6 modules (m0..m5, each
// 5 layers of 10 derivations) opens with its modules collapsed, one readable cluster each, the edges
// between them bundled with their counts; a module expands (its button, or a search that lands in
// it) and collapses again, and the layout still fits with names readable.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateProject } from "./generated.js";
import { launch, node, open, repo, type Served, screenshot, serve } from "./helpers.js";

let dir: string;
let server: Served;
let browser: Browser;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bramble-clusters-"));
  generateProject(dir, { modules: 6, layers: 5, width: 10 });
  [server, browser] = await Promise.all([serve(dir), launch()]);
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The height in screen pixels of text in `el` (its font size times the graph's zoom). */
async function screenFontPx(page: Page, el: Locator): Promise<number> {
  const zoom = await page.locator(".react-flow__viewport").evaluate((v) => new DOMMatrix(getComputedStyle(v).transform).a);
  const font = await el.evaluate((e) => Number.parseFloat(getComputedStyle(e).fontSize));
  return font * zoom;
}

/** Every node of the graph lies inside the graph's area (the view fits). */
async function allInside(page: Page): Promise<boolean> {
  const area = (await page.getByTestId("graph-view").boundingBox())!;
  const boxes = await page.locator(".react-flow__node").evaluateAll((ns) => ns.map((n) => n.getBoundingClientRect().toJSON() as DOMRect));
  return boxes.every((b) => b.left >= area.x - 1 && b.top >= area.y - 1 && b.right <= area.x + area.width + 1 && b.bottom <= area.y + area.height + 1);
}

describe("a 300-node graph in six modules", () => {
  it("opens as one readable cluster per module, expands and collapses them", async () => {
    const { page, context, errors } = await open(browser, server.url);
    try {
      const bar = page.getByTestId("modules-bar");
      await page.getByTestId("cluster-m5").waitFor({ timeout: 60_000 });
      await expect(bar.textContent()).resolves.toContain("Modules: 6, 6 collapsed");
      for (let k = 0; k < 6; k++) await expect(page.getByTestId(`cluster-m${k}`).getAttribute("data-members")).resolves.toBe("50");
      await expect(page.locator(".react-flow__node").count()).resolves.toBe(6);
      await expect(page.locator('[data-testid^="node-m"]').count()).resolves.toBe(0);
      await expect(page.getByTestId("cluster-m0").textContent()).resolves.toContain("50 derivations");
      // m<k>'s last layer (10 nodes) feeds m<k+1>'s first layer twice per node: 5 bundled edges of 20
      await expect(page.locator(".react-flow__edge-text").allTextContents()).resolves.toEqual(["×20", "×20", "×20", "×20", "×20"]);
      // readable at Fit: the module names are at least 12 px on screen, and everything is in view
      expect(await screenFontPx(page, page.getByTestId("cluster-m3").locator(".cluster-name"))).toBeGreaterThanOrEqual(12);
      expect(await allInside(page)).toBe(true);
      await screenshot(page, "clusters-300");

      // Expand m5 (the module with the roots) with a click: its 50 derivations and the 5 other clusters, fitted.
      await page.getByTestId("cluster-m5").click();
      await node(page, "m5_4_9").waitFor();
      await page.getByTestId("cluster-m5").waitFor({ state: "detached" });
      await expect(page.locator(".react-flow__node").count()).resolves.toBe(55);
      await expect(bar.textContent()).resolves.toContain("Modules: 6, 5 collapsed");
      await expect.poll(() => allInside(page)).toBe(true);
      // the names survive the zoom Fit needs: shown larger, at least 10 px on screen
      expect(await screenFontPx(page, node(page, "m5_2_5").locator(".drv-name"))).toBeGreaterThanOrEqual(10);
      await expect(page.locator(".react-flow__edge-text").allTextContents()).resolves.toContain("×20");
      // selecting a node in m5 marks the clusters it needs (all of m0..m4) as its dependencies
      await node(page, "m5_0_0").click();
      await expect(page.getByTestId("cluster-m4").getAttribute("class")).resolves.toContain("role-dep");
      await expect(page.getByTestId("cluster-m0").getAttribute("class")).resolves.toContain("role-dep");
      await screenshot(page, "cluster-expanded");

      // Focus mode shows derivations, never clusters: m5_0_0 and its neighbours, m4_4_0 and m4_4_3 among them.
      await page.getByTestId("node-panel").getByRole("button", { name: "Focus" }).click();
      await page.getByTestId("focus-bar").waitFor();
      await node(page, "m4_4_3").waitFor();
      await expect(node(page, "m4_4_0").isVisible()).resolves.toBe(true);
      await expect(page.locator('[data-testid^="cluster-"]').count()).resolves.toBe(0);
      await expect(node(page, "m5_4_9").isVisible()).resolves.toBe(false);
      await expect.poll(() => allInside(page)).toBe(true);
      await page.getByTestId("focus-bar").getByRole("button", { name: "Show all" }).click();
      await page.getByTestId("cluster-m4").waitFor();
      await expect(page.locator(".react-flow__node").count()).resolves.toBe(55);

      // A search that lands in a collapsed module expands it and centres the node.
      await page.getByLabel("Search nodes by name").fill("m2_3_4");
      await page.getByLabel("Search nodes by name").press("Enter");
      await node(page, "m2_3_4").waitFor();
      await expect(page.getByTestId("node-panel").getByRole("heading", { level: 2, name: "m2_3_4" }).count()).resolves.toBe(1);
      await expect(bar.textContent()).resolves.toContain("Modules: 6, 4 collapsed");
      await page.getByLabel("Search nodes by name").fill("");

      // Collapse m2 again from the bar, then expand everything and collapse everything.
      await page.getByLabel("Collapse module").selectOption("m2");
      await page.getByTestId("cluster-m2").waitFor();
      await expect(node(page, "m2_3_4").count()).resolves.toBe(0);
      await bar.getByRole("button", { name: "Expand all" }).click();
      await node(page, "m0_0_0").waitFor();
      await expect(page.locator(".react-flow__node").count()).resolves.toBe(300);
      await bar.getByRole("button", { name: "Collapse all" }).click();
      await page.getByTestId("cluster-m5").waitFor();
      await expect(page.locator(".react-flow__node").count()).resolves.toBe(6);

      // An edit of m4's file keeps the clusters and says how many derivations it made anew: all of
      // m4's and, as their hashes follow, all of m5's; m0..m3 are untouched.
      const file = join(dir, "m4", "default.bramble");
      writeFileSync(file, readFileSync(file, "utf8").replace("mkdir -p $out", "mkdir -p $out && true"));
      await expect.poll(() => page.getByTestId("cluster-m4").getAttribute("data-edited"), { timeout: 30_000 }).toBe("50");
      await expect(page.getByTestId("cluster-m5").getAttribute("data-edited")).resolves.toBe("50");
      await expect(page.getByTestId("cluster-m3").getAttribute("data-edited")).resolves.toBe(null);
      await expect(page.getByTestId("cluster-m4").textContent()).resolves.toContain("50 edited");
      await expect(page.locator(".react-flow__node").count()).resolves.toBe(6);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("has no serious axe violations with clusters, and Enter on a focused cluster expands it", async () => {
    // axe is injected as a script, which the page's CSP would block: this context bypasses it
    const { page, context } = await open(browser, server.url, { bypassCSP: true });
    try {
      await page.getByTestId("cluster-m5").waitFor({ timeout: 60_000 });
      await page.addScriptTag({ path: join(repo, "node_modules/axe-core/axe.min.js") });
      const serious = await page.evaluate(async () => {
        type Result = { violations: { id: string; impact: string | null; nodes: { target: string[] }[] }[] };
        const axe = (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<Result> } }).axe;
        const r = await axe.run(document.querySelector('[data-testid="graph-view"]'), { resultTypes: ["violations"] });
        return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.nodes[0]?.target.join(" ")}`);
      });
      expect(serious).toEqual([]);
      await page.locator(".react-flow__node", { has: page.getByTestId("cluster-m2") }).focus();
      await page.keyboard.press("Enter");
      await node(page, "m2_0_0").waitFor();
      await expect(page.getByTestId("cluster-m2").count()).resolves.toBe(0);
    } finally {
      await context.close();
    }
  });
});
