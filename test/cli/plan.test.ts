// Planning before building, and the sandboxes the CLI opens for people (run, shell).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bramble, freshHome } from "../helpers/cli.js";

describe("planning", () => {
  const home = freshHome();

  it("refuses a derivation no backend can build before anything builds, naming it, its platform and the backends", () => {
    const r = bramble(["build", "./test/fixtures/platforms:mac"], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no backend can build mac-only \([0-9a-z]{32}\) for platform aarch64-darwin; backends: local \(/);
    expect(r.stderr).not.toMatch(/building tool/);
  });

  it("prints the plan with --dry-run and builds nothing", () => {
    const r = bramble(["build", "./test/fixtures/platforms:mac", "--dry-run"], { home });
    // The fixture's tool runs the host's /bin/sh (sandbox_paths, allowed by the tests' user config): impure, and said so.
    expect(r.stdout).toMatch(/^tool +\S+ +would build on local {2}impure \(host paths \/bin, \/lib, \/lib64, \/usr\)$/m);
    expect(r.stdout).toMatch(/^mac-only +aarch64-darwin +cannot build: no backend can build/m);
    const again = bramble(["build", "./test/fixtures/platforms:tool", "--dry-run"], { home });
    expect(again.stdout).toMatch(/would build on local/);
  });

  it("names a forced backend that does not exist", () => {
    const r = bramble(["build", "./test/fixtures/platforms:tool", "--builder", "nosuch"], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/must be built by backend "nosuch", which does not exist/);
  });
});

describe("bramble run and shell", () => {
  const home = freshHome();

  it("builds a module and runs a program from its outputs in a sandbox", () => {
    const r = bramble(["run", "./test/fixtures/platforms:tool", "say", "hi"], { home });
    expect(r.stdout).toBe("tool says hi\n");
    expect(r.code).toBe(0);
  });

  it("passes the program's exit code through", () => {
    const r = bramble(["run", "./test/fixtures/platforms:tool", "sh", "-c", "exit 5"], { home });
    expect(r.code).toBe(5);
  });

  it("opens a derivation's build sandbox with its environment", () => {
    bramble(["build", "./test/fixtures/failing:ok"], { home });
    const r = bramble(["shell", "./test/fixtures/failing:broken"], {
      home,
      input: 'echo "in=$PWD out=${out:+set} dep=${dep:+set}"; echo "$BRAMBLE_BUILDER"; exit 3\n',
    });
    expect(r.stdout).toMatch(/in=\/build\S* out=set dep=set/);
    expect(r.stdout).toMatch(/^\/bin\/sh$/m);
    expect(r.code).toBe(3);
  });

  it("opens the last failed build's sandbox when given nothing, from any directory", () => {
    expect(bramble(["build", "./test/fixtures/failing:broken"], { home }).code).toBe(1);
    const r = bramble(["shell"], { home, cwd: "/", input: 'echo "dep=${dep:+set}"; ls; exit 0\n' });
    expect(r.stderr).toMatch(/the sandbox of [0-9a-z]{32}/);
    expect(r.stdout).toMatch(/dep=set/);
    expect(r.code).toBe(0);
  });
});

describe("bramble test", () => {
  it("builds what test() declares, runs each test command, and fails when one fails", () => {
    const r = bramble(["test", "./test/fixtures/platforms:checks"], { home: freshHome() });
    expect(r.stdout).toMatch(/^ok {3}tool say hello$/m);
    expect(r.stdout).toMatch(/^FAIL tool sh -c .*default\.bramble:12:\d+\): exit code 9$/m);
    expect(r.stdout).toMatch(/checking \/\S+-tool/);
    expect(r.stdout).toMatch(/^1 passed, 1 failed$/m);
    expect(r.code).toBe(1);
  });

  it("evaluates the project once: the service's evaluation builds the tests and lists them", () => {
    const dir = mkdtempSync(join(tmpdir(), "bramble-once-"));
    try {
      writeFileSync(join(dir, "bramble.toml"), readFileSync(join(__dirname, "../fixtures/platforms/bramble.toml")));
      writeFileSync(
        join(dir, "default.bramble"),
        [
          'print("evaluating the module")',
          "",
          "def checks():",
          '    t = derivation(name = "once", builder = "/bin/sh", args = ["-c", "echo hi > $out"])',
          "    test(t)",
          "    return [t]",
          "",
        ].join("\n"),
      );
      const r = bramble(["test", ".:checks"], { home: freshHome(), cwd: dir });
      expect(r.stdout.split("\n").filter((l) => l === "evaluating the module")).toHaveLength(1);
      expect(r.stdout).toMatch(/^ok {3}once$/m);
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
