// `bramble starlark` on a terminal shows what a program prints as it prints it: output held
// until the end (as it is for a pipe or a file) showed a long program's progress only when it
// finished, and none of it when it was interrupted. The program here never ends: its first
// line must reach the terminal (a pty made by script(1)) while it runs.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { repo } from "../helpers/cli.js";

const BIN = join(repo, "bin/bramble");
const hasScript = spawnSync("script", ["--version"]).status === 0;

describe("bramble starlark on a terminal", () => {
  let group: number | undefined;
  // Also when the test fails by its timeout (the promise below never settles).
  afterEach(() => {
    try {
      if (group) process.kill(-group, "SIGKILL");
    } catch {
      /* gone */
    }
  });
  beforeAll(() => {
    const r = spawnSync(process.execPath, [join(repo, "scripts/build.mjs"), "cli"], { cwd: repo, stdio: "inherit" });
    expect(r.status).toBe(0);
  }, 120_000);

  it.skipIf(!hasScript)(
    "prints each line when it is printed, before the program ends",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "bramble-tty-"));
      const prog = join(dir, "forever.star");
      writeFileSync(prog, 'print("started")\ndef spin():\n    while True:\n        pass\nspin()\n');
      // script runs the command on a pty of its own, in a session of its own; afterEach kills its group.
      const child = spawn("script", ["-qfc", `${BIN} starlark -recursion ${prog}`, "/dev/null"], { detached: true, stdio: ["pipe", "pipe", "inherit"] });
      group = child.pid;
      const seen = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("started")) resolve(out);
        });
        child.on("exit", (code, signal) => reject(new Error(`ended (${signal ?? code}) before printing: ${JSON.stringify(out)}`)));
      });
      expect(seen.replace(/\r/g, "")).toBe("started\n");
    },
    30_000,
  );
});
