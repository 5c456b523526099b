// Builds everything a checkout runs: the CLI bundle, Electron main + preload, the renderer.
import { build } from "esbuild";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const only = process.argv[2];
const common = { bundle: true, platform: "node", target: "node20", sourcemap: true, packages: "external", logLevel: "warning" };

if (!only || only === "cli") {
  await build({ ...common, entryPoints: [join(root, "core/cli/main.ts")], outfile: join(root, "dist/cli.mjs"), format: "esm" });
  // The evaluation worker of `bramble serve` and of the app's service process.
  await build({ ...common, entryPoints: [join(root, "core/api/eval-worker.ts")], outfile: join(root, "dist/eval-worker.mjs"), format: "esm" });
}
if ((!only || only === "electron") && existsSync(join(root, "electron/main.ts"))) {
  await build({ ...common, entryPoints: [join(root, "electron/main.ts")], outfile: join(root, "dist/electron/main.mjs"), format: "esm", external: ["electron"] });
  // The service's utility process; it evaluates in dist/eval-worker.mjs (built with the CLI).
  await build({ ...common, entryPoints: [join(root, "electron/service-process.ts")], outfile: join(root, "dist/electron/service.mjs"), format: "esm", external: ["electron"] });
  if (only === "electron") {
    await build({ ...common, entryPoints: [join(root, "core/api/eval-worker.ts")], outfile: join(root, "dist/eval-worker.mjs"), format: "esm" });
  }
  // A sandboxed preload cannot be an ES module.
  await build({ ...common, entryPoints: [join(root, "electron/preload.ts")], outfile: join(root, "dist/electron/preload.cjs"), format: "cjs", external: ["electron"] });
}
if ((!only || only === "renderer") && existsSync(join(root, "renderer/index.html"))) {
  const { build: viteBuild } = await import("vite");
  await viteBuild({ configFile: join(root, "renderer/vite.config.ts"), logLevel: "error" });
}
