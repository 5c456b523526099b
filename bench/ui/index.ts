// `npm run bench -- ui`: opens a generated 5,000-node graph in the app (real `bramble serve`,
// Debian's Chromium) and prints the time to first render and frame times while panning at Fit,
// far (the canvas with names), mid and near zoom (requestAnimationFrame timestamps during scripted drags of the pane).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { launchChromium } from "../../test/e2e/chromium.js";
import { generateProject } from "../../test/e2e/generated.js";

// Two levels below the repo both as bench/ui/index.ts and as dist/bench/ui.mjs.
const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/** The graph's zoom, from the viewport's transform. */
const zoomOf = (page: Page): Promise<number> =>
  page.evaluate<number>(`new DOMMatrix(getComputedStyle(document.querySelector(".react-flow__viewport")).transform).a`);

/** Drag the pane back and forth (4 sweeps of 40 steps) while recording frame times; returns them in ms. */
async function panFrames(page: Page): Promise<number[]> {
  const box = (await page.locator(".react-flow__pane").boundingBox())!;
  // Page-side code as strings: this file is type-checked without the DOM library.
  await page.evaluate(`(() => {
    window.__frames = [];
    window.__stop = false;
    let last = performance.now();
    const tick = (t) => {
      window.__frames.push(t - last);
      last = t;
      if (!window.__stop) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })()`);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  for (let sweep = 0; sweep < 4; sweep++) {
    await page.mouse.move(cx, cy);
    await page.mouse.down();
    const dir = sweep % 2 ? 1 : -1;
    for (let s = 1; s <= 40; s++) await page.mouse.move(cx + dir * s * 6, cy + dir * s * 2);
    await page.mouse.up();
  }
  return page.evaluate<number[]>(`(window.__stop = true, window.__frames.slice(1))`);
}

/** Click "zoom in" until the zoom is at least `z` (each step animates; the next starts where it ends). */
async function zoomTo(page: Page, z: number): Promise<void> {
  for (let i = 0; i < 40 && (await zoomOf(page)) < z; i++) {
    await page.getByRole("button", { name: /zoom in/i }).click();
    await page.waitForTimeout(350);
  }
}

export async function run(): Promise<void> {
  const cpus = availableParallelism();
  const modules = Number(process.env.BENCH_UI_MODULES ?? 5);
  const layers = Number(process.env.BENCH_UI_LAYERS ?? 10);
  const width = Number(process.env.BENCH_UI_WIDTH ?? 100);
  const project = mkdtempSync(join(tmpdir(), "bramble-bench-ui-"));
  const home = mkdtempSync(join(tmpdir(), "bramble-bench-home-"));
  generateProject(project, { modules, layers, width });
  const total = modules * layers * width;
  // Its derivations borrow the host's /bin/sh: the bench's own user config allows it (host paths are the user's decision).
  writeFileSync(join(home, "config.toml"), '[sandbox]\nallowed_paths = ["/bin", "/usr", "/lib", "/lib64"]\n');
  const proc = spawn(process.execPath, [join(repo, "dist/cli.mjs"), "serve", project, "--port", "0"], {
    env: { ...process.env, BRAMBLE_PATH: home, BRAMBLE_CONFIG: join(home, "config.toml") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout.on("data", (d) => (out += String(d)));
  proc.stderr.on("data", (d) => (out += String(d)));
  const browser = await launchChromium();
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL from bramble serve:\n${out}`)), 30_000);
      const check = () => {
        const m = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[0]);
        }
      };
      proc.stdout.on("data", check);
      check();
      proc.on("exit", (c) => reject(new Error(`bramble serve exited ${c}:\n${out}`)));
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    const t0 = Date.now();
    await page.goto(url);
    // a graph of several modules opens with them collapsed, one node each
    await page.locator('[data-testid^="cluster-"], [data-testid^="node-"]').first().waitFor({ timeout: 300_000 });
    const firstRender = Date.now() - t0;
    // The renderer marks when it asked for the graph, got it, and laid it out.
    const marks = await page.evaluate<Record<string, number>>(
      `Object.fromEntries(performance.getEntriesByType("mark").filter((m) => m.name.startsWith("bramble:")).map((m) => [m.name.slice(8), m.startTime]))`,
    );
    const phase = (a: string, b: string) => (marks[a] !== undefined && marks[b] !== undefined ? `${Math.round(marks[b]! - marks[a]!)} ms` : "n/a");
    const clusters = await page.locator('[data-testid^="cluster-"]').count();
    console.log(`graph: ${total} derivations in ${modules} modules; opened as ${clusters} clusters`);
    console.log(`time to first render: ${firstRender} ms (evaluation, layout and paint)`);
    console.log(`  graph.evaluate round trip ${phase("evaluate-start", "graph-received")}, layout ${phase("graph-received", "layout-done")}`);

    // Every derivation shown, then Fit: the whole graph in the window, drawn on the canvas.
    const t1 = Date.now();
    if (clusters) await page.getByRole("button", { name: "Expand all" }).click();
    await page.locator('[data-testid^="node-"]').first().waitFor({ timeout: 300_000 });
    console.log(`expand all: ${Date.now() - t1} ms to lay out and show ${total} derivations`);
    await page.getByRole("button", { name: /fit view/i }).click();
    await page.getByTestId("far-canvas").waitFor();
    // The renderer's main-thread work (Chromium's TaskDuration: script, style, layout, paint) per
    // frame: what the page itself costs, which a loaded machine inflates far less than frame intervals.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const taskSeconds = async () => {
      const { metrics } = await cdp.send("Performance.getMetrics");
      return metrics.find((m) => m.name === "TaskDuration")?.value ?? Number.NaN;
    };
    const rows: { at: string; zoom: number; frames: number[]; dom: number; work: number }[] = [];
    const measure = async (at: string) => {
      const zoom = await zoomOf(page);
      const before = await taskSeconds();
      const frames = await panFrames(page);
      const work = ((await taskSeconds()) - before) * 1000;
      const dom = await page.evaluate<number>(`document.querySelectorAll(".react-flow__node").length`);
      rows.push({ at, zoom, frames, dom, work });
    };
    await measure("Fit");
    // far: the canvas with names (from zoom 0.25 up to 0.5)
    await zoomTo(page, 0.3);
    await measure("far");
    // mid: just past the canvas (zoom 0.5), where the most DOM nodes are in view
    await zoomTo(page, 0.5);
    await measure("mid");
    await zoomTo(page, 1);
    await measure("near");
    console.log(`panning (rAF frame times while dragging the pane; 50 fps = 20 ms; load average ${loadavg()[0]!.toFixed(1)} on ${cpus} CPUs):`);
    for (const r of rows) {
      const med = pct(r.frames, 50);
      console.log(
        `  ${r.at.padEnd(5)} zoom ${r.zoom.toFixed(3).padStart(5)}: ${String(r.frames.length).padStart(4)} frames, median ${med.toFixed(1)} ms (${(1000 / med).toFixed(0)} fps), p95 ${pct(r.frames, 95).toFixed(1)} ms (${(1000 / pct(r.frames, 95)).toFixed(0)} fps); main thread busy ${(r.work / r.frames.length).toFixed(1)} ms per frame; ${r.dom} DOM nodes`,
      );
    }
    console.log("  before (issue 14's measurement, 5,000 nodes at Fit, 1,711 DOM nodes): 6 fps");
  } finally {
    await browser.close();
    proc.kill("SIGTERM");
    rmSync(project, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
}
