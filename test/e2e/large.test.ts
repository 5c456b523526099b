// Issue 14 point 2, large graphs: a generated 5,000-node graph (5 modules of 10 layers of 100, each
// node needing two of the layer before) opens as one cluster per module; expanded, it fits the window
// at Fit, drawn on one canvas rather than as thousands of DOM nodes; zooming in brings the DOM nodes
// (names, badges) back. Frame times are `npm run bench -- ui`'s (no timed tests).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { generateProject } from "./generated.js";
import { launch, open, screenshot, serve, type Served } from "./helpers.js";

const LAYERS = 50;
const WIDTH = 100;
let dir: string;
let server: Served;
let browser: Browser;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bramble-large-"));
  generateProject(dir, { modules: 5, layers: LAYERS / 5, width: WIDTH });
  [server, browser] = await Promise.all([serve(dir), launch()]);
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("a 5,000-node graph", () => {
  it("fits the window at Fit on a canvas, and shows DOM nodes again zoomed in", async () => {
    const { page, context } = await open(browser, server.url);
    try {
      // opens as one cluster per module; expanded, zoomed in on its roots (the last layer), as DOM nodes
      await page.getByTestId("cluster-m4").waitFor({ timeout: 120_000 }); // evaluating 5,000 derivations on a loaded machine
      await expect(page.locator(".react-flow__node").count()).resolves.toBe(5);
      await page.getByTestId("modules-bar").getByRole("button", { name: "Expand all" }).click();
      await page.locator('[data-testid^="node-m4_9_"]').first().waitFor({ timeout: 60_000 });
      expect(await page.locator(".react-flow__node").count()).toBeLessThan(200);
      await page.getByRole("button", { name: /fit view/i }).click();
      const canvas = page.getByTestId("far-canvas");
      await canvas.waitFor();
      await expect(canvas.getAttribute("data-nodes")).resolves.toBe("5000");
      await expect(page.locator(".react-flow__node").count()).resolves.toBe(0);
      // The layered layout spans 50 columns of 240 px with 70 between, 100 rows of 78 with 24 between.
      const width = 49 * 310 + 240;
      const height = 99 * 102 + 78;
      const t = await page.locator(".react-flow__viewport").evaluate((el) => new DOMMatrix(getComputedStyle(el).transform));
      const area = (await page.getByTestId("graph-view").boundingBox())!;
      expect(t.a).toBeLessThan(0.3);
      expect(t.e).toBeGreaterThanOrEqual(0);
      expect(t.f).toBeGreaterThanOrEqual(0);
      expect(t.e + width * t.a).toBeLessThanOrEqual(area.width);
      expect(t.f + height * t.a).toBeLessThanOrEqual(area.height);
      // the canvas has drawn something where the first column is
      const painted = await canvas.evaluate(
        (c: HTMLCanvasElement, p) => {
          const ctx = c.getContext("2d")!;
          const dpr = window.devicePixelRatio || 1;
          const px = ctx.getImageData(Math.round((p.x + 2) * dpr), Math.round((p.y + 2) * dpr), 1, 1).data;
          return px[3];
        },
        { x: t.e, y: t.f },
      );
      expect(painted).toBeGreaterThan(0);
      await screenshot(page, "large-fit");
      // a click on a rectangle selects that node: the first column's top one is in the first layer of m0;
      // the rest of that layer (neither its dependencies nor its dependents) fades, as the DOM nodes dim
      const alphaAt = (x: number, y: number) =>
        canvas.evaluate(
          (c: HTMLCanvasElement, p) => {
            const dpr = window.devicePixelRatio || 1;
            return c.getContext("2d")!.getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data[3];
          },
          { x, y },
        );
      const lastRow = { x: t.e + 4, y: t.f + 99 * 102 * t.a + 1.5 };
      expect(await alphaAt(lastRow.x, lastRow.y)).toBe(255);
      await page.mouse.click(area.x + t.e + 4, area.y + t.f + 1.5);
      await expect(page.getByTestId("node-panel").getByRole("heading", { level: 2 }).textContent()).resolves.toMatch(/^m0_0_\d+$/);
      await expect.poll(() => alphaAt(lastRow.x, lastRow.y)).toBeLessThan(100);
      // dragged by (60, 40), the drawing (one bitmap copied at the new offset) follows: the first column is
      // painted where it now is, and the old corner (now left of and above the graph) is empty
      const pane = (await page.locator(".react-flow__pane").boundingBox())!;
      await page.mouse.move(pane.x + pane.width / 2, pane.y + pane.height / 2);
      await page.mouse.down();
      await page.mouse.move(pane.x + pane.width / 2 + 30, pane.y + pane.height / 2 + 20);
      await page.mouse.move(pane.x + pane.width / 2 + 60, pane.y + pane.height / 2 + 40);
      await page.mouse.up();
      await expect
        .poll(async () => (await page.locator(".react-flow__viewport").evaluate((el) => new DOMMatrix(getComputedStyle(el).transform))).e)
        .toBeCloseTo(t.e + 60, 0);
      await expect.poll(() => alphaAt(t.e + 62, t.f + 42)).toBeGreaterThan(0);
      expect(await alphaAt(t.e + 2, t.f + 2)).toBe(0);
      // the overview is a canvas too (not 5,000 SVG rectangles), its viewport box around the whole graph
      await expect(page.locator(".react-flow__minimap svg").count()).resolves.toBe(0);
      const view = (await page.getByTestId("large-minimap").locator(".large-minimap-view").boundingBox())!;
      expect(view.width).toBeGreaterThanOrEqual(150);
      expect(view.height).toBeGreaterThanOrEqual(99);

      await page.keyboard.press("Escape"); // clear the selection: nothing dimmed
      await expect.poll(() => alphaAt(t.e + 64, t.f + 50 * 102 * t.a + 41.5)).toBe(255);
      // zoom in to 0.3: still the canvas (no DOM nodes), now with each node's name written on it
      const zoom = () => page.locator(".react-flow__viewport").evaluate((el) => new DOMMatrix(getComputedStyle(el).transform).a);
      for (let i = 0; i < 20 && (await zoom()) < 0.3; i++) {
        await page.getByRole("button", { name: /zoom in/i }).click();
        await page.waitForTimeout(300);
      }
      expect(await zoom()).toBeLessThan(0.5);
      await expect(page.locator(".react-flow__node").count()).resolves.toBe(0);
      await screenshot(page, "large-far-names");

      // zoom in: past the canvas threshold the nodes are DOM nodes again
      for (let i = 0; i < 20 && (await canvas.count()) > 0; i++) {
        await page.getByRole("button", { name: /zoom in/i }).click();
        await page.waitForTimeout(300); // each zoom step animates; the next starts from where it ends
      }
      await canvas.waitFor({ state: "detached" });
      await page.locator(".react-flow__node").first().waitFor();
      expect(await page.locator(".react-flow__node").count()).toBeLessThan(1000);
      // xyflow holds only the nodes around the view (and the far ends of their edges), not all 5,000
      const held = Number(await page.locator(".react-flow").first().getAttribute("data-window"));
      expect(held).toBeGreaterThan(0);
      expect(held).toBeLessThan(2000);
    } finally {
      await context.close();
    }
  }, 180_000);
});
