// Every verb that prints survives a reader that went away (`bramble history | head -0`), as a
// program killed by SIGPIPE would: it ends with the exit code it has when its output is read
// (0 here), no EPIPE trace, and what it writes to stderr is a beginning of what it writes there
// when its output is read. The reader is closed before the command starts writing: the pipe's
// read end is closed in this process right after the spawn, long before node has started.
// Left out: run and shell (the program they start owns the pipe, as under nix run), repl and
// serve (interactive, long-running).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureCli, freshHome, repo } from "../helpers/cli.js";

// The package's command (package.json bin): the shell launcher, which runs bin/bramble.mjs.
const BIN = join(repo, "bin/bramble");

interface Result {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { home: string; cwd: string; closed: boolean }): Promise<Result> {
  return new Promise((done) => {
    const child = spawn(BIN, args, { cwd: opts.cwd, env: { ...process.env, BRAMBLE_PATH: opts.home, NO_COLOR: "1" } });
    let stdout = "";
    let stderr = "";
    if (opts.closed) child.stdout.destroy();
    else child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

describe("a closed pipe ends every verb quietly", () => {
  const home = freshHome();
  const root = mkdtempSync(join(tmpdir(), "bramble-pipe-"));
  const paths: Record<string, string> = {};

  beforeAll(async () => {
    ensureCli();
    writeFileSync(join(root, "bramble.toml"), 'sandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n[package]\nname = "pipes"\nversion = "0.1.0"\n');
    writeFileSync(
      join(root, "default.bramble"),
      `"""Derivations whose outputs refer to each other."""

def lib():
    return derivation(name = "liba", builder = "/bin/sh", args = ["-c", "mkdir $out; echo lib > $out/lib"])

def app():
    return derivation(name = "app", builder = "/bin/sh", args = ["-c", "echo building app; mkdir $out; echo ${"$"}lib/lib > $out/uses"], env = {"lib": lib()})

def checks():
    return test(app())

def broken():
    return derivation(name = "broken", builder = "/bin/sh", args = ["-c", "echo about to fail; sleep 1; exit 3"], env = {"app": app()})
`,
    );
    mkdirSync(join(root, "data"));
    writeFileSync(join(root, "data", "file.txt"), "data\n");
    const b = await run(["build", ".:app"], { home, cwd: root, closed: false });
    expect(b.code).toBe(0);
    for (const m of b.stdout.matchAll(/^(\S+): (\S+)$/gm)) paths[m[1]!] = m[2]!;
    expect(Object.keys(paths)).toEqual(["app"]);
  }, 120_000);

  const verbs: [string, () => string[]][] = [
    ["--version", () => ["--version"]],
    ["--help", () => ["--help"]],
    ["help build", () => ["help", "build"]],
    ["build (cached)", () => ["build", ".:app"]],
    ["graph", () => ["graph", ".:app"]],
    ["graph --json", () => ["graph", "--json", ".:app"]],
    ["diff", () => ["diff", ".:app", "--target", "aarch64-linux"]],
    ["ls", () => ["ls", "."]],
    ["test", () => ["test", ".:checks"]],
    ["backends", () => ["backends"]],
    ["starlark", () => ["starlark", "-c", "print('x' * 10)"]],
    ["log", () => ["log", "app"]],
    ["history", () => ["history"]],
    ["history --json", () => ["history", "--json"]],
    ["why-depends", () => ["why-depends", "app", "liba"]],
    ["why-depends --all --precise", () => ["why-depends", "--all", "--precise", "app", "liba"]],
    ["gc --dry-run", () => ["gc", "--dry-run"]],
    ["store path", () => ["store", "path", "app"]],
    ["store closure --size", () => ["store", "closure", "--size", paths.app!]],
    ["store verify", () => ["store", "verify"]],
    ["store add", () => ["store", "add", join(root, "data")]],
    ["store copy", () => ["store", "copy", "--from", "local", "--to", `path:${join(root, "other-store")}`, "app"]],
  ];

  for (const [what, args] of verbs) {
    it(what, async () => {
      const open = await run(args(), { home, cwd: root, closed: false });
      // The verb prints when read (else this test proves nothing) and succeeds.
      expect(open.stdout).not.toBe("");
      expect(open.code).toBe(0);
      const closed = await run(args(), { home, cwd: root, closed: true });
      expect(closed.stderr).not.toMatch(/EPIPE|Error:|at .*\.m?js:\d+/);
      expect(open.stderr.startsWith(closed.stderr)).toBe(true);
      expect({ code: closed.code, signal: closed.signal }).toEqual({ code: 0, signal: null });
    }, 120_000);
  }

  // A verb that does work goes on when its reader leaves and ends with its own status: a failed
  // build is not turned into a success (`set -o pipefail` scripts trust it), and its run is
  // recorded as failed, not left running.
  it("a build whose reader left still fails when the build fails, and its history says so", async () => {
    const open = await run(["build", ".:broken"], { home, cwd: root, closed: false });
    expect(open.code).toBe(1);
    const closed = await run(["build", ".:broken"], { home, cwd: root, closed: true });
    expect(closed.stderr).not.toMatch(/EPIPE|at .*\.m?js:\d+/);
    expect({ code: closed.code, signal: closed.signal }).toEqual({ code: 1, signal: null });
    const history = await run(["history", "--json"], { home, cwd: root, closed: false });
    const rows = JSON.parse(history.stdout) as { name: string; status: string }[];
    expect(rows.filter((r) => r.name === "broken").map((r) => r.status)).toEqual(["failed", "failed"]);
  }, 120_000);
});
