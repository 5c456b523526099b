// Builds everything a checkout runs: the CLI bundle, Electron main + preload, the renderer.
import { build } from "esbuild";
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const only = process.argv[2];
const common = { bundle: true, platform: "node", target: "node20", sourcemap: true, packages: "external", logLevel: "warning" };

// Packages the CLI loads when a command first uses them, not at start-up (issue 17): Docker's
// client (and the ssh2 it pulls in), the server's WebSocket, SQLite, tar. Each import of one of
// them becomes a stand-in that requires the package on its first call, `new` or property read.
// Only for packages whose imports are used that way (classes and functions, never at a
// module's top level); `npm run bench -- startup` shows what they cost.
const LAZY = ["dockerode", "ws", "better-sqlite3", "tar", "yauzl", "xz-decompress", "fzstd"];
const lazyPackages = {
  name: "lazy-packages",
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${LAZY.join("|")})$`) }, (a) =>
      a.namespace === "lazy" ? { path: a.path, external: true } : { path: a.path, namespace: "lazy" },
    );
    b.onLoad({ filter: /.*/, namespace: "lazy" }, async (a) => {
      const { createRequire } = await import("node:module");
      const real = createRequire(join(root, "package.json"))(a.path);
      const names = Object.keys(real).filter((n) => n !== "default" && /^[A-Za-z_$][\w$]*$/.test(n));
      const lines = [
        `import { createRequire } from "node:module";`,
        `let mod;`,
        `const load = () => (mod ??= createRequire(import.meta.url)(${JSON.stringify(a.path)}));`,
        `const lazy = (get) => {`,
        `  let v;`,
        `  const t = () => (v ??= get());`,
        `  const p = new Proxy(function () {}, {`,
        `    get: (_, k) => Reflect.get(t(), k),`,
        `    has: (_, k) => Reflect.has(t(), k),`,
        `    set: (_, k, x) => Reflect.set(t(), k, x),`,
        `    apply: (_, self, args) => Reflect.apply(t(), self, args),`,
        `    construct: (_, args, nt) => Reflect.construct(t(), args, nt === p ? t() : nt),`,
        `    getPrototypeOf: () => Reflect.getPrototypeOf(t()),`,
        `  });`,
        `  return p;`,
        `};`,
        `export default lazy(() => load());`,
        ...names.map((n) => `export const ${n} = lazy(() => load()[${JSON.stringify(n)}]);`),
      ];
      return { contents: lines.join("\n"), loader: "js", resolveDir: root };
    });
  },
};

// The pure-JavaScript packages every command loads go into the CLI bundle itself (issue 17):
// resolving and compiling zod's hundred ESM files and commander's CommonJS through Node's module
// loader cost more start-up than the rest of the bundle. zod's locales but English (a quarter of
// a megabyte nothing here uses) are left out. Native and heavy packages stay outside (LAZY).
const BUNDLED = ["zod", "commander", "smol-toml"];
const bundlePackages = {
  name: "bundle-packages",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (a) => {
      if (a.namespace === "lazy" || a.namespace === "zod-locales") return undefined;
      const name = a.path
        .split("/")
        .slice(0, a.path.startsWith("@") ? 2 : 1)
        .join("/");
      return BUNDLED.includes(name) || LAZY.includes(name) ? undefined : { path: a.path, external: true };
    });
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (a) =>
      /[/\\]node_modules[/\\]zod[/\\]/.test(a.importer) ? { path: join(a.resolveDir, a.path), namespace: "zod-locales" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (a) => ({
      contents: `export { default as en } from ${JSON.stringify(join(dirname(a.path), "en.js"))};`,
      loader: "js",
      resolveDir: dirname(a.path),
    }));
  },
};
// Bundled CommonJS (commander) requires Node's modules: a require for the ES module bundle.
const cjsRequire = { js: 'import { createRequire as __brambleRequire } from "node:module"; const require = __brambleRequire(import.meta.url);' };

if (!only || only === "cli") {
  // Split where core/cli/main.ts imports the service, the project's loader and the server
  // dynamically: dist/cli.mjs holds commander, the verbs' definitions and the Starlark
  // interpreter; --help, starlark and repl load nothing more. The chunks lie beside cli.mjs (code
  // in them finds dist/ files from import.meta.url, as cli.mjs's does).
  const cli = await build({
    ...common,
    packages: undefined,
    entryPoints: { cli: join(root, "core/cli/main.ts") },
    outdir: join(root, "dist"),
    outExtension: { ".js": ".mjs" },
    splitting: true,
    chunkNames: "cli-[hash]",
    metafile: true,
    format: "esm",
    minify: true,
    keepNames: true,
    banner: cjsRequire,
    plugins: [bundlePackages, lazyPackages],
  });
  // Chunks of earlier builds go an hour later: a process loads its chunks while it starts, but
  // another build (a test's) may have replaced cli.mjs after this process read it.
  const made = new Set(Object.keys(cli.metafile.outputs).map((f) => basename(f).replace(/\.map$/, "")));
  for (const f of readdirSync(join(root, "dist"))) {
    const chunk = f.replace(/\.map$/, "");
    if (/^cli-[A-Z0-9]+\.mjs$/.test(chunk) && !made.has(chunk) && Date.now() - statSync(join(root, "dist", f)).mtimeMs > 3_600_000)
      rmSync(join(root, "dist", f), { force: true });
  }
  // The programs in C, when there is a C compiler; static if the C library allows.
  const compileC = (src, out, without) => {
    const srcPath = join(root, src);
    const outPath = join(root, out);
    if (process.platform !== "linux" || (existsSync(outPath) && statSync(srcPath).mtimeMs <= statSync(outPath).mtimeMs)) return;
    const cc = (args) => spawnSync("cc", ["-O2", "-Wall", ...args, "-o", `${outPath}.tmp`, srcPath], { stdio: ["ignore", "ignore", "pipe"] });
    const r = cc(["-static"]).status === 0 ? { status: 0 } : cc([]);
    if (r.status === 0) renameSync(`${outPath}.tmp`, outPath);
    else console.warn(`build: no C compiler for ${out}; ${without}`);
  };
  // The sandbox's store-view helper (core/builders/store-view.ts).
  compileC("core/builders/store-view-helper.c", "dist/store-view-helper", "the sandbox will use its perl helper");
  // bin/bramble's client of the Starlark server (core/cli/starlark-server.ts).
  compileC("core/cli/starlark-client.c", "dist/starlark-client", "bramble starlark will start node for every run");
  // What bin/bramble.mjs runs for --version (the version alone) and starlark: no service, store or DB to load.
  await build({ ...common, entryPoints: [join(root, "core/version.ts")], outfile: join(root, "dist/version.mjs"), format: "esm" });
  // and as text, which bin/bramble prints for --version without starting node
  const { VERSION } = await import(`${pathToFileURL(join(root, "dist/version.mjs")).href}?${Date.now()}`);
  writeFileSync(join(root, "dist/version.txt"), `${VERSION}\n`);
  await build({ ...common, entryPoints: [join(root, "core/cli/fast.ts")], outfile: join(root, "dist/fast.mjs"), format: "esm", minify: true });
  // The same as CommonJS for bin/bramble-fast.cjs, which runs it with V8's code cache (made at
  // its first run, named by the bundle's size and time; the old ones go here).
  await build({
    ...common,
    entryPoints: [join(root, "core/cli/fast.ts")],
    outfile: join(root, "dist/fast.cjs"),
    format: "cjs",
    minify: true,
    // import.meta.url made when read (only -recursion's worker reads it): loading node:url for it
    // at start-up cost about 1 ms of every `bramble starlark`
    define: { "import.meta.url": "__bramble.url" },
    banner: { js: 'var __bramble = { get url() { return require("node:url").pathToFileURL(__filename).href; } };' },
  });
  for (const f of readdirSync(join(root, "dist"))) if (/^fast\.cjs\..*\.v8cache/.test(f)) rmSync(join(root, "dist", f), { force: true });
  // The evaluation and output-hashing workers of `bramble serve` and of the app's service process.
  await build({ ...common, entryPoints: [join(root, "core/api/eval-worker.ts")], outfile: join(root, "dist/eval-worker.mjs"), format: "esm" });
  await build({ ...common, entryPoints: [join(root, "core/store/hash-worker.ts")], outfile: join(root, "dist/hash-worker.mjs"), format: "esm" });
}
if ((!only || only === "electron") && existsSync(join(root, "electron/main.ts"))) {
  await build({
    ...common,
    entryPoints: [join(root, "electron/main.ts")],
    outfile: join(root, "dist/electron/main.mjs"),
    format: "esm",
    external: ["electron"],
  });
  // The service's utility process; it evaluates in dist/eval-worker.mjs (built with the CLI).
  await build({
    ...common,
    entryPoints: [join(root, "electron/service-process.ts")],
    outfile: join(root, "dist/electron/service.mjs"),
    format: "esm",
    external: ["electron"],
  });
  if (only === "electron") {
    await build({ ...common, entryPoints: [join(root, "core/api/eval-worker.ts")], outfile: join(root, "dist/eval-worker.mjs"), format: "esm" });
    await build({ ...common, entryPoints: [join(root, "core/store/hash-worker.ts")], outfile: join(root, "dist/hash-worker.mjs"), format: "esm" });
  }
  // A sandboxed preload cannot be an ES module.
  await build({
    ...common,
    entryPoints: [join(root, "electron/preload.ts")],
    outfile: join(root, "dist/electron/preload.cjs"),
    format: "cjs",
    external: ["electron"],
  });
}
if ((!only || only === "renderer") && existsSync(join(root, "renderer/index.html"))) {
  const { build: viteBuild } = await import("vite");
  await viteBuild({ configFile: join(root, "renderer/vite.config.ts"), logLevel: "error" });
}
