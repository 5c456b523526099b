// Start-up (issue 17 point 4): `bramble --version` and `bramble starlark` answer from
// dist/fast.mjs, which loads the Starlark interpreter and nothing else, exactly as the full CLI
// would; the full CLI loads Docker's client, the WebSocket server, SQLite and tar only when a
// command uses them. (How fast: `npm run bench -- startup`; no timed test.)
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cli, freshHome, repo } from "../helpers/cli.js";

const bin = join(repo, "bin/bramble.mjs");
const fast = join(repo, "dist/fast.mjs");

function run(file: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [file, ...args], { encoding: "utf8", env: { ...process.env, BRAMBLE_PATH: freshHome() } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The static imports at the top level of a bundle: what loading it loads. */
function topLevelImports(file: string): string[] {
  const src = readFileSync(file, "utf8");
  return [...src.matchAll(/(?:^|;)import\s*(?:[^"';]*?from\s*)?"([^"]+)"/gm)].map((m) => m[1]!).sort();
}

beforeAll(() => {
  const r = spawnSync(process.execPath, [join(repo, "scripts/build.mjs"), "cli"], { cwd: repo, stdio: "inherit" });
  if (r.status !== 0) throw new Error("building the CLI failed");
});

describe("start-up", () => {
  it("answers --version and -V from the fast path, as the full CLI does", () => {
    expect(existsSync(fast)).toBe(true);
    expect(run(bin, ["--version"])).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
    expect(run(bin, ["-V"])).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
    expect(run(cli, ["--version"])).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
  });

  it("runs starlark from the fast path with the full CLI's output and exit codes", () => {
    const dir = freshHome();
    const ok = join(dir, "ok.star");
    const bad = join(dir, "bad.star");
    writeFileSync(ok, 'print("hello", 1 + 2)\n');
    writeFileSync(bad, 'x = 1\nfail("no: %d" % x)\n');
    for (const args of [
      ["starlark", ok],
      ["starlark", bad],
      ["starlark", "-c", "print(len('abc'))"],
      ["starlark", join(dir, "missing.star")],
    ]) {
      expect(run(bin, args)).toEqual(run(cli, args));
    }
    expect(run(bin, ["starlark", ok])).toEqual({ code: 0, stdout: "hello 3\n", stderr: "" });
    expect(run(bin, ["starlark", bad]).code).toBe(1);
  });

  it("the fast path and the full CLI load only Node's own modules at start-up; the service, Docker, ws, SQLite, tar and the unpackers on first use", () => {
    expect(topLevelImports(fast)).toContain("node:fs");
    expect(topLevelImports(fast).filter((m) => !m.startsWith("node:"))).toEqual([]);
    // zod, commander and smol-toml are bundled in (scripts/build.mjs); cli.mjs imports its own
    // chunks and Node's modules, nothing else.
    const full = topLevelImports(cli);
    expect(full).toContain("node:fs");
    expect(full.filter((m) => !m.startsWith("node:") && !/^\.\/cli-[A-Z0-9]+\.mjs$/.test(m))).toEqual([]);
    // What loading cli.mjs loads (it and the chunks it imports, transitively) holds commander
    // and the verbs, not the service, the project's loader, the server or the Starlark
    // interpreter: those chunks load when a command runs (core/cli/command-modules.ts).
    const loaded = new Set<string>();
    const visit = (file: string) => {
      if (loaded.has(file)) return;
      loaded.add(file);
      for (const m of topLevelImports(file)) if (m.startsWith("./")) visit(join(dirname(file), m));
    };
    visit(cli);
    const atStart = [...loaded].map((f) => readFileSync(f, "utf8")).join("\n");
    // Everything this build of the CLI can load: static and dynamic imports of its chunks.
    const all = new Set<string>();
    const visitAll = (file: string) => {
      if (all.has(file)) return;
      all.add(file);
      const src = readFileSync(file, "utf8");
      const dynamic = [...src.matchAll(/import\("(\.\/cli-[A-Z0-9]+\.mjs)"\)/g)].map((m) => m[1]!);
      for (const m of [...topLevelImports(file), ...dynamic]) if (m.startsWith("./")) visitAll(join(dirname(file), m));
    };
    visitAll(cli);
    const everything = [...all].map((f) => readFileSync(f, "utf8")).join("\n");
    expect(all.size).toBeGreaterThan(loaded.size);
    expect(atStart).toContain('"makeProgram"');
    for (const name of ['"createService"', '"startServer"', '"loadProject"', '"toApiError"', '"starlarkMain"']) {
      expect(everything).toContain(name);
      expect(atStart).not.toContain(name);
    }
    for (const lazy of ["dockerode", "ws", "better-sqlite3", "tar", "yauzl", "xz-decompress", "fzstd"]) {
      expect(everything).toMatch(new RegExp(`\\(import\\.meta\\.url\\)\\("${lazy}"\\)`));
    }
    // zod's locales but English are left out: its German messages are not in the bundle.
    expect(everything).not.toContain("Eingabe: erwartet");
  });

  it("a command loads the packages it uses: gc opens SQLite and never loads Docker's client; backends does", () => {
    // A preload that records which packages node loads (the lazy stand-ins require them).
    const dir = freshHome();
    const hook = join(dir, "record.cjs");
    writeFileSync(
      hook,
      `const M = require("node:module"); const fs = require("node:fs"); const seen = new Set(); const load = M._load;
M._load = function (req, ...rest) { if (!req.startsWith("node:") && !req.startsWith(".") && !req.startsWith("/")) seen.add(req); return load.call(this, req, ...rest); };
process.on("exit", () => fs.writeFileSync(${JSON.stringify(join(dir, "loaded.txt"))}, [...seen].sort().join("\\n")));`,
    );
    const loaded = (args: string[]) => {
      const r = spawnSync(process.execPath, ["--require", hook, cli, ...args], { encoding: "utf8", env: { ...process.env, BRAMBLE_PATH: join(dir, "home") } });
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(join(dir, "loaded.txt"), "utf8").split("\n");
    };
    const gc = loaded(["gc", "--dry-run"]);
    expect(gc).toContain("better-sqlite3");
    for (const p of ["dockerode", "ssh2", "ws", "tar", "@grpc/grpc-js"]) expect(gc).not.toContain(p);
    expect(loaded(["backends", "--json"])).toContain("dockerode");
  });

  it("the full CLI still opens SQLite, loaded lazily: gc --dry-run on a new store", () => {
    const home = freshHome();
    const r = spawnSync(process.execPath, [cli, "store", "--help"], { encoding: "utf8", env: { ...process.env, BRAMBLE_PATH: home } });
    expect(r.status).toBe(0);
    const gc = spawnSync(process.execPath, [cli, "gc", "--dry-run"], { encoding: "utf8", env: { ...process.env, BRAMBLE_PATH: home } });
    expect(gc.stderr).toBe("");
    expect(gc.status).toBe(0);
    expect(existsSync(join(home, "var"))).toBe(true);
  });
});
