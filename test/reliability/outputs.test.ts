// Two outputs of one derivation with the same content (and, the first output not being
// `out`, the same name) are one store path: the build does not wait on its own path lock.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bramble, freshHome } from "../helpers/cli.js";

describe("outputs with equal content", () => {
  it("build at once into one path", () => {
    const dir = mkdtempSync(join(tmpdir(), "bramble-twins-"));
    writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "twins"\nversion = "0.1.0"\n[build]\nsandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n');
    writeFileSync(
      join(dir, "default.bramble"),
      'def default():\n    return derivation(name = "twins", builder = "/bin/sh", args = ["-c", "echo same > $out; echo same > $bin"], outputs = ["bin", "out"])\n',
    );
    const r = bramble(["build", ".:default"], { home: freshHome(), cwd: dir, timeoutMs: 50_000 });
    expect(r.stderr).not.toMatch(/timed out waiting for the lock/);
    expect(r.code).toBe(0);
    const bin = /^twins\.bin: (\S+)$/m.exec(r.stdout)?.[1];
    const out = /^twins: (\S+)$/m.exec(r.stdout)?.[1];
    expect(bin).toMatch(/-twins$/);
    expect(out).toBe(bin);
  });
});
