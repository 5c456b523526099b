// Package names are paths (bramble's docs: "a package is named like a Go module", and a
// load names a package followed by a directory in it). Written from that behaviour; no
// third-party files copied. The project below is laid out like bramble's own repository: a
// root package named like a repository URL, lib/ with nested packages loading each other by
// full path, tests/ loading lib/, and a dependency whose name extends this project's name.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createContext, evaluate } from "../../core/project/evaluate.js";
import { parseModuleArg } from "../../core/project/module-args.js";
import { resolvePackage } from "../../core/project/packages.js";
import { readProject } from "../../core/project/project.js";

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "bramble-compat-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const sh = 'builder = "/bin/sh"';
const PKG = "example.com/me/proj";

function layout(): { root: string; plugins: string } {
  const plugins = tree({
    "bramble.toml": `[package]\nname = "${PKG}/plugins"\nversion = "0.1.0"\n`,
    "fmt/default.bramble": `load("${PKG}/plugins/fmt/inner")\ndef fmt():\n    return inner.mk("fmt")\n`,
    "fmt/inner.bramble": `def mk(n):\n    return derivation(name = n, ${sh})\n`,
  });
  const root = tree({
    // [module], as bramble's own bramble.toml names the table, with its read_only_paths and hidden_paths
    "bramble.toml": `[module]\nname = "${PKG}"\nversion = "0.0.1"\nread_only_paths = ["./"]\nhidden_paths = ["./lib"]\n\n[dependencies]\n"${PKG}/plugins" = { path = "${plugins}" }\n`,
    "lib/default.bramble": `"""The standard library."""\nload("${PKG}/lib/std")\ndef busybox():\n    return std.mk("busybox")\n`,
    "lib/std/default.bramble": `def mk(n):\n    return derivation(name = n, ${sh})\n`,
    "lib/nix_seed.bramble": `load("${PKG}/lib")\ndef seed():\n    return lib.busybox()\n`,
    // a directory that the dependency's name also covers: the dependency must win
    "plugins/fmt/default.bramble": `def fmt():\n    fail("the project's own plugins/ was loaded, not the dependency")\n`,
    "tests/default.bramble": `
load("${PKG}/lib")
load(seed = "${PKG}/lib/nix_seed")
load("${PKG}/plugins/fmt")
load("${PKG}/lib/std", "mk")

def all():
    return [lib.busybox(), seed.seed(), fmt.fmt(), mk("direct")]
`,
    "tests/errors/unknown.bramble": `load("example.org/other/x")\ndef f():\n    pass\n`,
    "tests/errors/missing.bramble": `\n\nload("${PKG}/lib/nothing")\ndef f():\n    pass\n`,
    "tests/errors/dots.bramble": `load("${PKG}/../x")\ndef f():\n    pass\n`,
    "tests/errors/seeds.bramble": `load("seeds", "busybox")\ndef f():\n    return busybox()\n`,
  });
  return { root, plugins };
}

function names(root: string, arg: string): string[] {
  const ev = evaluate(createContext(readProject(root), { host: "x86_64-linux" }), [arg], root);
  return [...ev.drvs.values()].map((d) => d.name).sort();
}

function errorOf(root: string, arg: string): string {
  try {
    names(root, arg);
  } catch (err) {
    return (err as { format?: () => string }).format?.() ?? (err as Error).message;
  }
  throw new Error("expected an error");
}

describe("package names are paths, longest match wins", () => {
  const { root, plugins } = layout();

  it("resolves the project, a dependency whose name extends the project's, and the seed library", () => {
    const p = readProject(root);
    expect(resolvePackage(p, `${PKG}/lib/std`)).toEqual({ pkg: PKG, root, sub: "lib/std" });
    expect(resolvePackage(p, PKG)).toEqual({ pkg: PKG, root, sub: "" });
    expect(resolvePackage(p, `${PKG}/plugins/fmt`)).toEqual({ pkg: `${PKG}/plugins`, root: plugins, sub: "fmt" });
    // a name that only shares a prefix that does not end at "/" is not the package
    expect(() => resolvePackage(p, `${PKG}-tools/x`)).toThrow(/unknown package in "example.com\/me\/proj-tools\/x"/);
    expect(resolvePackage(p, "seeds/debian").pkg).toBe("seeds");
  });

  it("evaluates a repository-shaped project: nested packages, alias loads, a dependency's own loads", () => {
    expect(names(root, "./tests:all")).toEqual(["busybox", "direct", "fmt"]);
  });

  it("takes <package>/sub:fn module arguments, for this project and for a dependency", () => {
    const p = readProject(root);
    expect(parseModuleArg(`${PKG}/lib:busybox`, root, p)).toEqual([{ file: join(root, "lib/default.bramble"), fn: "busybox" }]);
    expect(parseModuleArg(`${PKG}/lib/std:mk`, root, p)).toEqual([{ file: join(root, "lib/std/default.bramble"), fn: "mk" }]);
    expect(parseModuleArg(`${PKG}/plugins/fmt:fmt`, root, p)).toEqual([{ file: join(plugins, "fmt/default.bramble"), fn: "fmt" }]);
    expect(names(root, `${PKG}/tests:all`)).toEqual(["busybox", "direct", "fmt"]);
    expect(names(root, `${PKG}/plugins/fmt:fmt`)).toEqual(["fmt"]);
  });

  it("names the load statement and the known packages when a load cannot be resolved", () => {
    const unknown = errorOf(root, "./tests/errors/unknown:f");
    expect(unknown).toMatch(/unknown\.bramble:1:\d+: .*unknown package in "example\.org\/other\/x"/);
    expect(unknown).toMatch(/known packages: "seeds", "example\.com\/me\/proj\/plugins", "example\.com\/me\/proj"/);
    const missing = errorOf(root, "./tests/errors/missing:f");
    expect(missing).toMatch(/missing\.bramble:3:\d+: .*no module "example\.com\/me\/proj\/lib\/nothing" \(package "example\.com\/me\/proj" at /);
    expect(errorOf(root, "./tests/errors/dots:f")).toMatch(
      /"example\.com\/me\/proj\/\.\.\/x" is not a package path \(segments may not be empty, "\." or "\.\."\)/,
    );
  });

  it('keeps load("seeds") working beside path-named packages', () => {
    expect(names(root, "./tests/errors/seeds:f")).toContain("busybox");
  });
});
