// Module-argument forms as bramble documents them, and sources in nested directories
// (issue 15), written from the documented behaviour.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createContext, evaluate } from "../../core/project/evaluate.js";
import { ModuleArgError, parseModuleArg } from "../../core/project/module-args.js";
import { readProject } from "../../core/project/project.js";

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "bramble-compat-args-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const sh = 'builder = "/bin/sh"';
const root = tree({
  "bramble.toml": '[package]\nname = "github.com/me/repo"\n',
  "default.bramble": `def default():\n    return derivation(name = "top", ${sh})\ndef with_param(x):\n    pass\ndef _private():\n    pass\n`,
  "tests/default.bramble": `def a():\n    return derivation(name = "a", ${sh})\ndef b():\n    return derivation(name = "b", ${sh})\n`,
  "tests/extra.bramble": `def c():\n    return derivation(name = "c", ${sh})\n`,
  "tests/nested/bramble.toml": '[package]\nname = "github.com/me/nested"\n',
  "tests/nested/default.bramble": "def n():\n    pass\n",
  "src/deep/er/file.txt": "deep",
  "src/deep/top.txt": "top",
  "src/build.bramble": `def nested():\n    return derivation(name = "n", ${sh}, sources = files(["deep/**"]))\n`,
});
const p = readProject(root);
const rel = (sel: { file: string; fn?: string }[]) => sel.map((s) => ({ file: s.file.slice(root.length + 1), fn: s.fn }));

describe("module-argument forms", () => {
  it("./path:fn, ./path, ./file.bramble:fn, <package>/path:fn, ./dir/... and a bare existing path", () => {
    expect(rel(parseModuleArg("./tests:a", root, p))).toEqual([{ file: "tests/default.bramble", fn: "a" }]);
    expect(rel(parseModuleArg("./tests", root, p))).toEqual([{ file: "tests/default.bramble", fn: undefined }]);
    expect(rel(parseModuleArg("./tests/extra.bramble:c", root, p))).toEqual([{ file: "tests/extra.bramble", fn: "c" }]);
    expect(rel(parseModuleArg("./tests/extra:c", root, p))).toEqual([{ file: "tests/extra.bramble", fn: "c" }]);
    expect(rel(parseModuleArg("github.com/me/repo/tests:b", root, p))).toEqual([{ file: "tests/default.bramble", fn: "b" }]);
    expect(rel(parseModuleArg("github.com/me/repo:default", root, p))).toEqual([{ file: "default.bramble", fn: "default" }]);
    expect(rel(parseModuleArg("tests:a", root, p))).toEqual([{ file: "tests/default.bramble", fn: "a" }]);
    expect(rel(parseModuleArg("./...", root, p))).toEqual([
      { file: "default.bramble", fn: undefined },
      { file: "src/build.bramble", fn: undefined },
      { file: "tests/default.bramble", fn: undefined },
      { file: "tests/extra.bramble", fn: undefined },
    ]);
  });

  it("a module without a function calls its public functions without parameters", () => {
    const ev = evaluate(createContext(p, { host: "x86_64-linux" }), ["."], root);
    expect([...ev.drvs.values()].map((d) => d.name)).toEqual(["top"]);
  });

  it("explains each wrong form and lists the forms that work", () => {
    const cases: [string, RegExp][] = [
      ["", /^empty module argument: ""/],
      [":a", /^missing module path before ':': ":a"/],
      ["./tests:a-b", /^"a-b" is not a function name: "\.\/tests:a-b"/],
      ["./tests/...:a", /^a '\.\.\.' pattern cannot name a function/],
      ["./nothing:a", /^no module at .*\/nothing \(looked for .*\/nothing\/default\.bramble and .*\/nothing\.bramble\)/],
      ["../elsewhere:a", /is outside the project at /],
      ["github.com/other/repo:a", /^unknown package in "github\.com\/other\/repo": no known package is "github\.com\/other\/repo" or a prefix of it/],
    ];
    for (const [arg, why] of cases) {
      let err: unknown;
      try {
        parseModuleArg(arg, root, p);
      } catch (e) {
        err = e;
      }
      expect(err, arg).toBeInstanceOf(ModuleArgError);
      expect((err as Error).message, arg).toMatch(why);
      expect((err as Error).message).toMatch(/module arguments take these forms:\n {2}\.\/path:fn/);
    }
  });
});

describe("nested sources", () => {
  it("files() with ** lists files in nested directories, relative to the module, recorded from the project root", () => {
    const ctx = createContext(p, { host: "x86_64-linux" });
    const ev = evaluate(ctx, ["./src/build:nested"], root);
    expect([...ev.drvs.values()][0]!.sources).toMatchObject({ dir: "src", files: ["src/deep/er/file.txt", "src/deep/top.txt"] });
  });
});
