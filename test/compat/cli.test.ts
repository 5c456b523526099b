// The CLI as a bramble or Nix user types it (issue 15): `ls [path]`, usage errors for bad
// module arguments, a closed pipe, and fetch pins however a fetch is written.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bramble, cli, ensureCli, freshHome } from "../helpers/cli.js";

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "bramble-compat-cli-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const project = () =>
  tree({
    "bramble.toml": '[package]\nname = "example.com/me/proj"\n',
    "default.bramble": '"""Top module.\n\nSecond paragraph."""\nload("example.com/me/proj/lib")\ndef default():\n    return lib.f()\n',
    "lib/default.bramble":
      '"""The lib."""\ndef f(version = "1.2",  flags = ["-O2", "-g"], *rest, **kw):\n    """Makes f."""\n    return derivation(name = "f", builder = "/bin/sh")\n',
  });

describe("bramble ls [path]", () => {
  it("lists only the path given, with defaults as written and the module docstring", () => {
    const root = project();
    const r = bramble(["ls", "./lib"], { home: freshHome(), cwd: root });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('./lib  (lib/default.bramble)\n  The lib.\n  f(version = "1.2", flags = ["-O2", "-g"], *rest, **kw)  Makes f.\n');
    const all = bramble(["ls"], { home: freshHome(), cwd: root });
    expect(all.stdout).toBe(
      '.  (default.bramble)\n  Top module.\n\n  Second paragraph.\n  default()\n./lib  (lib/default.bramble)\n  The lib.\n  f(version = "1.2", flags = ["-O2", "-g"], *rest, **kw)  Makes f.\n',
    );
  });

  it("is a usage error (exit 2) for a path with no module or directory", () => {
    const root = project();
    const r = bramble(["ls", "./nonexistent"], { home: freshHome(), cwd: root });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `bramble ls: no module or directory at ${root}/nonexistent (looked for ${root}/nonexistent/default.bramble, ${root}/nonexistent.bramble and a directory)\n`,
    );
  });
});

describe("module arguments", () => {
  it("an empty or malformed one is a usage error (exit 2), --just-parse included", () => {
    const root = project();
    const empty = bramble(["build", "--just-parse", ""], { home: freshHome(), cwd: root });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/^empty module argument: ""\nmodule arguments take these forms:/);
    const bad = bramble(["build", "./lib:not-a-name"], { home: freshHome(), cwd: root });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^"not-a-name" is not a function name: "\.\/lib:not-a-name"/);
  });

  it("<package>/sub:fn names a module by its package path", () => {
    const root = project();
    const r = bramble(["build", "--just-parse", "example.com/me/proj/lib:f"], { home: freshHome(), cwd: root });
    expect(r.stderr).toBe("parsed 1 module for example.com/me/proj/lib:f\n");
    expect(r.code).toBe(0);
  });
});

describe("a closed pipe", () => {
  it("ends a verb quietly: no EPIPE stack trace", () => {
    ensureCli();
    const fns = Array.from({ length: 3000 }, (_, i) => `def f${i}(a = ${i}):\n    """Function ${i}."""\n    pass\n`).join("");
    const root = tree({ "bramble.toml": '[package]\nname = "big"\n', "default.bramble": fns });
    const r = spawnSync("bash", ["-c", `set -o pipefail; "${process.execPath}" "${cli}" ls | head -1`], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, BRAMBLE_PATH: freshHome() },
    });
    expect(r.stdout).toBe(".  (default.bramble)\n");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("bramble log ID | head -1", () => {
  it("prints the first line and ends quietly", () => {
    const home = freshHome();
    const root = tree({
      "bramble.toml": 'sandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n[package]\nname = "big"\n',
      "default.bramble":
        'def big():\n    return derivation(name = "big", builder = "/bin/sh", args = ["-c", "i=0; while [ $i -lt 50000 ]; do echo line $i; i=$((i+1)); done; echo > $out"])\n',
    });
    expect(bramble(["build", ".:big"], { home, cwd: root }).code).toBe(0);
    const r = spawnSync("bash", ["-c", `set -o pipefail; "${process.execPath}" "${cli}" log big | head -1`], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, BRAMBLE_PATH: home },
    });
    expect(r.stdout).toBe("line 0\n");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("bramble test", () => {
  it("runs a top-level test() of a derivation no function returns", () => {
    const root = tree({
      "bramble.toml": 'sandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n[package]\nname = "example.com/t"\n',
      "lib/default.bramble": 'def tool():\n    return derivation(name = "tool", builder = "/bin/sh", args = ["-c", "echo ok > $out"])\n',
      "tests/default.bramble": 'load("example.com/t/lib")\ntest(lib.tool(), args = ["sh", "-c", "test -f $out"])\n',
    });
    const r = bramble(["test", "./tests"], { home: freshHome(), cwd: root });
    expect(r.stdout).toBe("ok   tool sh -c test -f $out\n1 passed, 0 failed\n");
    expect(r.code).toBe(0);
  });
});

describe('derivation(builder = "fetch_url") is pinned like fetch_url()', () => {
  it("records the hash in bramble.lock and fails on changed content with both hashes", () => {
    const root = tree({ "bramble.toml": '[package]\nname = "pinned"\n' });
    const data = join(root, "data.txt");
    writeFileSync(data, "version one\n");
    writeFileSync(join(root, "default.bramble"), `def src():\n    return derivation(name = "data", builder = "fetch_url", env = {"url": "file://${data}"})\n`);
    const first = bramble(["build", `${root}:src`], { home: freshHome() });
    expect(first.stderr).not.toMatch(/error/i);
    expect(first.code).toBe(0);
    const lock = readFileSync(join(root, "bramble.lock"), "utf8");
    expect(lock).toMatch(new RegExp(`\\[urlhashes\\]\\n"file://${data.replace(/[/.]/g, "\\$&")}" = "sha256:[0-9a-z]{52}"`));
    writeFileSync(data, "version two\n");
    const again = bramble(["build", `${root}:src`], { home: freshHome() });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/sha256:[0-9a-z]{52}[\s\S]*sha256:[0-9a-z]{52}/);
    expect(readFileSync(join(root, "bramble.lock"), "utf8")).toBe(lock);
  });
});
