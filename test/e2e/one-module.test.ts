// Issue 14 point 2: a 300-node graph made by ONE module is readable at Fit. No clusters help here
// (one module), and at Fit its nodes' own names would be a few pixels high: the graph writes names
// as maps do, at 12 px on screen, for as many nodes as fit without overlapping — the roots first,
// then by fan-in — and the hovered or selected node and its neighbours always get theirs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateProject } from "./generated.js";
import { launch, node, open, type Served, screenshot, serve } from "./helpers.js";

let dir: string;
let server: Served;
let browser: Browser;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bramble-one-module-"));
  // one module of 15 layers of 20: 300 derivations m0_<layer>_<i>; the last layer's 20 are the roots
  generateProject(dir, { modules: 1, layers: 15, width: 20 });
  [server, browser] = await Promise.all([serve(dir), launch()]);
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Shown {
  name: string;
  font: number;
  box: { left: number; top: number; right: number; bottom: number };
}

/** The map labels on screen: name, font size in screen pixels (the layer is not scaled), box. */
async function labels(page: Page): Promise<Shown[]> {
  return page.locator(".map-label").evaluateAll((ls) =>
    ls.map((l) => {
      const r = l.getBoundingClientRect();
      // the font as drawn: its computed size times any scale of the layers above it
      let scale = 1;
      for (let e: Element | null = l.parentElement; e; e = e.parentElement) {
        const t = getComputedStyle(e).transform;
        if (t && t !== "none") scale *= new DOMMatrix(t).a;
      }
      return {
        name: l.textContent ?? "",
        font: Number.parseFloat(getComputedStyle(l).fontSize) * scale,
        box: { left: r.left, top: r.top, right: r.right, bottom: r.bottom },
      };
    }),
  );
}

/** Pairs of labels whose boxes overlap. */
function overlaps(ls: Shown[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ls.length; i++)
    for (let j = i + 1; j < ls.length; j++) {
      const a = ls[i]!.box;
      const b = ls[j]!.box;
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) out.push(`${ls[i]!.name} × ${ls[j]!.name}`);
    }
  return out;
}

const zoomOf = (page: Page) => page.locator(".react-flow__viewport").evaluate((v) => new DOMMatrix(getComputedStyle(v).transform).a);

describe("a 300-node graph of one module", () => {
  it("is readable at Fit: names at 12 px for the roots and as many others as fit, none overlapping; the rest on hover", async () => {
    const { page, context, errors } = await open(browser, server.url);
    try {
      await node(page, "m0_14_19").waitFor({ timeout: 60_000 });
      await expect(page.locator(".react-flow__node").count()).resolves.toBe(300);
      // one module: no clusters, no modules bar
      await expect(page.getByTestId("modules-bar").count()).resolves.toBe(0);
      await page.locator(".map-label").first().waitFor();
      // Fit: all 300 in view, at a zoom where a node's own name (14 px × at most 3.2) is under 11 px on screen
      const zoom = await zoomOf(page);
      expect(zoom).toBeLessThan(11 / (14 * 3.2));
      const shown = await labels(page);
      await screenshot(page, "one-module-300");
      // every label shown is 12 px on screen, and no two overlap
      expect(shown.filter((l) => Math.abs(l.font - 12) > 0.01).map((l) => `${l.name}: ${l.font}`)).toEqual([]);
      expect(overlaps(shown)).toEqual([]);
      // all 20 roots are named, and many more besides (a third of the graph or more)
      const names = new Set(shown.map((l) => l.name));
      expect(Array.from({ length: 20 }, (_, i) => `m0_14_${i}`).filter((n) => !names.has(n))).toEqual([]);
      expect(shown.length).toBeGreaterThanOrEqual(100);
      expect(shown.length).toBeLessThan(300);
      // each label is on its node or touches it (as maps put a name beside its place)
      const far: string[] = [];
      for (const l of shown) {
        const b = (await node(page, l.name).boundingBox())!;
        const dx = Math.max(0, l.box.left - (b.x + b.width), b.x - l.box.right);
        const dy = Math.max(0, l.box.top - (b.y + b.height), b.y - l.box.bottom);
        if (dx > 1 || dy > 1) far.push(`${l.name}: ${dx}, ${dy}`);
      }
      expect(far).toEqual([]);
      // the nodes' own names give way (too small to read)
      await expect(
        node(page, "m0_0_0")
          .locator(".drv-name")
          .evaluate((e) => getComputedStyle(e).visibility),
      ).resolves.toBe("hidden");

      // Hovering a node whose name is not shown shows it, and its neighbours' names
      const unnamed = Array.from({ length: 15 }, (_, l) => Array.from({ length: 20 }, (_, i) => `m0_${l}_${i}`))
        .flat()
        .find((n) => !names.has(n))!;
      expect(unnamed).toBeDefined();
      await node(page, unnamed).hover();
      await page.locator(`.map-label[data-node="${unnamed}"]`).waitFor();
      expect(overlaps(await labels(page))).toEqual([]);

      // Selecting a node names it and its dependencies and dependents: m0_7_5 needs m0_6_5 and m0_6_18
      // (i % 20 and (i * 7 + 3) % 20 of the layer before)
      await page.mouse.move(5, 5);
      await page.getByLabel("Search nodes by name").fill("m0_7_5");
      await page.getByLabel("Search nodes by name").press("Enter");
      await page.getByLabel("Search nodes by name").fill("");
      await expect(page.getByTestId("node-panel").getByRole("heading", { level: 2, name: "m0_7_5" }).count()).resolves.toBe(1);
      // the search centres it at zoom 0.8 where names are readable in the nodes: zoom back out to Fit
      await page.getByRole("button", { name: "fit view" }).click();
      await expect.poll(() => zoomOf(page)).toBeLessThan(11 / (14 * 3.2));
      await page.locator('.map-label[data-node="m0_7_5"]').waitFor();
      const selected = new Set((await labels(page)).map((l) => l.name));
      expect(["m0_7_5", "m0_6_5", "m0_6_18"].filter((n) => !selected.has(n))).toEqual([]);
      await expect(page.locator(".map-label-selected").allTextContents()).resolves.toEqual(["m0_7_5"]);
      expect(overlaps(await labels(page))).toEqual([]);

      // Zoomed in to 0.8 the nodes' own names are readable: no map labels
      await page.getByRole("button", { name: "zoom in" }).click();
      await page.getByRole("button", { name: "zoom in" }).click();
      await page.getByRole("button", { name: "zoom in" }).click();
      await page.getByRole("button", { name: "zoom in" }).click();
      await page.getByRole("button", { name: "zoom in" }).click();
      await page.getByRole("button", { name: "zoom in" }).click();
      await expect.poll(() => page.locator(".map-label").count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
