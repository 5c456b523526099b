// `npm run bench -- ui`: opens a generated 5,000-node graph in the app (real `bramble serve`,
// Debian's Chromium) and prints the time to first render and frame times while panning.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

// Two levels below the repo both as bench/ui/index.ts and as dist/bench/ui.mjs.
const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** A project whose `default` returns the last of `layers` layers of `width` derivations, each depending on two of the layer before. */
function generateProject(dir: string, layers: number, width: number): void {
  writeFileSync(join(dir, "bramble.toml"), `[package]\nname = "bench-ui"\nversion = "0.1.0"\n[build]\nsandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n`);
  writeFileSync(
    join(dir, "default.bramble"),
    `def default():
    prev = []
    for layer in range(${layers}):
        cur = []
        for i in range(${width}):
            env = {}
            if prev:
                env["a"] = prev[i].out
                env["b"] = prev[(i * 7 + 3) % ${width}].out
            cur.append(derivation(
                name = "n" + str(layer) + "-" + str(i),
                builder = "/bin/sh",
                args = ["-c", "mkdir -p $out"],
                env = env,
            ))
        prev = cur
    return prev
`,
  );
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

export async function run(): Promise<void> {
  const layers = Number(process.env.BENCH_UI_LAYERS ?? 50);
  const width = Number(process.env.BENCH_UI_WIDTH ?? 100);
  const project = mkdtempSync(join(tmpdir(), "bramble-bench-ui-"));
  const home = mkdtempSync(join(tmpdir(), "bramble-bench-home-"));
  generateProject(project, layers, width);
  // Its derivations borrow the host's /bin/sh: the bench's own user config allows it (host paths are the user's decision).
  writeFileSync(join(home, "config.toml"), '[sandbox]\nallowed_paths = ["/bin", "/usr", "/lib", "/lib64"]\n');
  const proc = spawn(process.execPath, [join(repo, "dist/cli.mjs"), "serve", project, "--port", "0"], {
    env: { ...process.env, BRAMBLE_PATH: home, BRAMBLE_CONFIG: join(home, "config.toml") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout.on("data", (d) => (out += String(d)));
  proc.stderr.on("data", (d) => (out += String(d)));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
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
    await page.locator('[data-testid^="node-"]').first().waitFor({ timeout: 300_000 });
    const firstRender = Date.now() - t0;
    // The renderer marks when it asked for the graph, got it, and laid it out.
    const marks = await page.evaluate<Record<string, number>>(
      `Object.fromEntries(performance.getEntriesByType("mark").filter((m) => m.name.startsWith("bramble:")).map((m) => [m.name.slice(8), m.startTime]))`,
    );
    const phase = (a: string, b: string) => (marks[a] !== undefined && marks[b] !== undefined ? `${Math.round(marks[b]! - marks[a]!)} ms` : "n/a");
    const count = await page.evaluate<number>(`document.querySelectorAll("[data-testid^='node-n']").length`);
    const total = layers * width;

    // Zoom to a readable level, then pan with the mouse while recording frame times.
    const pane = page.locator(".react-flow__pane");
    const box = (await pane.boundingBox())!;
    for (let i = 0; i < 4; i++) await page.getByRole("button", { name: /zoom in/i }).click();
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
      for (let s = 1; s <= 40; s++) await page.mouse.move(cx + dir * s * 12, cy + dir * s * 4);
      await page.mouse.up();
    }
    const frames = await page.evaluate<number[]>(`(window.__stop = true, window.__frames.slice(1))`);
    const rendered = await page.evaluate<number>(`document.querySelectorAll(".react-flow__node").length`);
    console.log(`graph: ${total} nodes requested, ${count} rendered at first paint (only visible nodes are mounted)`);
    console.log(`time to first render: ${firstRender} ms (evaluation, layout and paint)`);
    console.log(`  graph.evaluate round trip ${phase("evaluate-start", "graph-received")}, layout ${phase("graph-received", "layout-done")}`);
    console.log(
      `panning: ${frames.length} frames, median ${pct(frames, 50).toFixed(1)} ms, p95 ${pct(frames, 95).toFixed(1)} ms, max ${Math.max(...frames).toFixed(1)} ms; ${rendered} nodes mounted after panning`,
    );
  } finally {
    await browser.close();
    proc.kill("SIGTERM");
    rmSync(project, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
}
