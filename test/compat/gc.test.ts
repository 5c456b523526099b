// gc keeps the .drv files that live derivations reach, not whichever deriver was recorded
// first for an output two derivations share (issue 15).
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bramble, freshHome } from "../helpers/cli.js";

const recipe = (v: string) =>
  `def f():\n    return derivation(name = "same", builder = "/bin/sh", env = {"V": "${v}"}, args = ["-c", "echo identical > $out"])\n`;

describe("gc and derivation files", () => {
  it("keeps the live derivation's .drv when an older derivation made the same bytes first", () => {
    const home = freshHome();
    const root = mkdtempSync(join(tmpdir(), "bramble-compat-gc-"));
    writeFileSync(join(root, "bramble.toml"), 'sandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n[package]\nname = "gc"\n');
    writeFileSync(join(root, "default.bramble"), recipe("1"));
    const first = bramble(["build", ".:f"], { home, cwd: root });
    expect(first.code).toBe(0);
    const drvs = () =>
      readdirSync(join(home, "store"))
        .filter((e) => e.endsWith(".drv"))
        .sort();
    const [oldDrv] = drvs();
    writeFileSync(join(root, "default.bramble"), recipe("2"));
    const second = bramble(["build", ".:f"], { home, cwd: root });
    expect(second.code).toBe(0);
    // one output path for both: identical bytes
    expect(second.stdout).toBe(first.stdout);
    const newDrv = drvs().find((d) => d !== oldDrv)!;
    expect(newDrv).toMatch(/^[0-9a-z]{32}-same\.drv$/);
    const gc = bramble(["gc"], { home });
    expect(gc.code).toBe(0);
    expect(drvs()).toEqual([newDrv]);
    expect(gc.stdout).toMatch(new RegExp(`^deleted \\S+/${oldDrv!.replace(".", "\\.")}$`, "m"));
    expect(gc.stdout).not.toMatch(/-same$/m);
  });
});
