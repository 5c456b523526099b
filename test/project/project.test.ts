// bramble.toml, bramble.lock and module arguments.
import { spawn } from "node:child_process";
import { build } from "esbuild";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readLock, recordLockEntries } from "../../core/project/lock.js";
import { parseModuleArg } from "../../core/project/module-args.js";
import { findProjectRoot, readProject } from "../../core/project/project.js";
import { checkSystem } from "../../core/derivation/systems.js";

function project(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "bramble-project-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe("bramble.toml", () => {
  it("is found at or above a directory", () => {
    const root = project({ "bramble.toml": '[package]\nname = "p"\nversion = "1.2.3"\n', "a/b/x.bramble": "" });
    expect(findProjectRoot(join(root, "a/b"))).toBe(root);
    const p = readProject(root);
    expect([p.name, p.version]).toEqual(["p", "1.2.3"]);
  });

  it("says when none is found", () => {
    const dir = mkdtempSync(join(tmpdir(), "bramble-none-"));
    expect(() => findProjectRoot(dir)).toThrow(/no bramble\.toml found in .* or any directory above it/);
  });

  it("reads dependencies by version or local path", () => {
    const root = project({ "bramble.toml": '[package]\nname = "p"\n[dependencies]\nlib = "1.0"\nlocal = { path = "../other" }\n' });
    const deps = readProject(root).dependencies;
    expect(deps.get("lib")).toEqual({ name: "lib", version: "1.0" });
    expect(deps.get("local")!.path).toBe(join(root, "../other"));
  });

  it("reports malformed TOML with file, line and column", () => {
    const root = project({ "bramble.toml": '[package]\nname = "p"\nversion = = 1\n' });
    expect(() => readProject(root)).toThrow(/bramble\.toml:3:\d+: /);
  });

  it("names the field that has the wrong type", () => {
    const root = project({ "bramble.toml": "[package]\nname = 5\n" });
    expect(() => readProject(root)).toThrow(/package\.name must be a string/);
    const root2 = project({ "bramble.toml": '[package]\nname = "x"\n[build]\nsandbox_paths = ["relative"]\n' });
    expect(() => readProject(root2)).toThrow(/sandbox_paths must be a list of absolute paths/);
  });
});

describe("bramble.lock", () => {
  it("keeps every entry when two processes write at once", async () => {
    const root = project({ "bramble.toml": '[package]\nname = "p"\n' });
    // Bundle the lock module so two real node processes can run it.
    const bundle = join(root, "lock.mjs");
    await build({
      entryPoints: [new URL("../../core/project/lock.ts", import.meta.url).pathname],
      outfile: bundle,
      bundle: true,
      platform: "node",
      format: "esm",
      logLevel: "error",
    });
    const run = (tag: string) =>
      new Promise<void>((resolve, reject) => {
        const script = `import { recordLockEntries } from ${JSON.stringify(bundle)};
          for (let i = 0; i < 30; i++) await recordLockEntries(${JSON.stringify(root)}, new Map([["https://x/${tag}" + i, "h${tag}" + i]]));`;
        const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "inherit" });
        child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}`))));
      });
    await Promise.all([run("a"), run("b")]);
    const entries = readLock(root).urlhashes;
    expect(entries.size).toBe(60);
    expect(entries.get("https://x/a7")).toBe("ha7");
    expect(entries.get("https://x/b29")).toBe("hb29");
  });
});

describe("module arguments", () => {
  const root = project({
    "bramble.toml": '[package]\nname = "proj"\n',
    "default.bramble": "",
    "lib/default.bramble": "",
    "tools.bramble": "",
    "deep/a.bramble": "",
    "deep/more/b.bramble": "",
    "deep/nested/bramble.toml": '[package]\nname = "n"\n',
    "deep/nested/c.bramble": "",
  });
  const p = readProject(root);

  it("resolves ./path:fn to dir/default.bramble, else path.bramble", () => {
    expect(parseModuleArg("./lib:build", root, p)).toEqual([{ file: join(root, "lib/default.bramble"), fn: "build" }]);
    expect(parseModuleArg("./tools:x", root, p)).toEqual([{ file: join(root, "tools.bramble"), fn: "x" }]);
    expect(parseModuleArg("./tools.bramble:x", root, p)).toEqual([{ file: join(root, "tools.bramble"), fn: "x" }]);
    expect(parseModuleArg(".:x", root, p)).toEqual([{ file: join(root, "default.bramble"), fn: "x" }]);
  });

  it("takes every public function when no function is named", () => {
    expect(parseModuleArg("./lib", root, p)).toEqual([{ file: join(root, "lib/default.bramble"), fn: undefined }]);
  });

  it("resolves <package>/sub:fn", () => {
    expect(parseModuleArg("proj/lib:x", root, p)).toEqual([{ file: join(root, "lib/default.bramble"), fn: "x" }]);
  });

  it("walks ./dir/... and stops at nested projects", () => {
    expect(parseModuleArg("./deep/...", root, p).map((s) => s.file)).toEqual([join(root, "deep/a.bramble"), join(root, "deep/more/b.bramble")]);
  });

  it("explains the forms that work when the form is wrong", () => {
    expect(() => parseModuleArg("./lib:not-a-name", root, p)).toThrow(/module arguments take these forms/);
    expect(() => parseModuleArg("other/lib:x", root, p)).toThrow(
      /unknown package in "other\/lib": no known package is "other\/lib" or a prefix of it \(known packages: "seeds", "proj"\)/,
    );
    expect(() => parseModuleArg("./missing:x", root, p)).toThrow(/no module at/);
    expect(() => parseModuleArg("./deep/...:x", root, p)).toThrow(/cannot name a function/);
  });
});

describe("systems", () => {
  it("accepts <arch>-<os> and suggests a fix for typos", () => {
    expect(checkSystem("aarch64-linux")).toBeUndefined();
    expect(checkSystem("x86_64-windows")).toBeUndefined();
    expect(checkSystem("aarch46-linux")).toMatch(/did you mean "aarch64"/);
    expect(checkSystem("linux")).toMatch(/a system is <arch>-<os>/);
  });
});
