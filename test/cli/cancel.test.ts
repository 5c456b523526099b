// Ctrl-C during `bramble build`: the sandbox's whole process tree dies, nothing is
// stored, and the build is recorded as cancelled.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bramble, cli, ensureCli, freshHome, repo } from "../helpers/cli.js";

function sleepers(): string[] {
  const ps = spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).stdout;
  return ps.split("\n").filter((l) => /\bsleep 317[12]\b/.test(l));
}

describe("Ctrl-C", () => {
  it("cancels the build cleanly", async () => {
    ensureCli();
    const home = freshHome();
    const child = spawn(process.execPath, [cli, "build", "./test/fixtures/failing:slow"], {
      cwd: repo,
      env: { ...process.env, BRAMBLE_PATH: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d) => (err += String(d)));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const deadline = Date.now() + 30_000;
    while (!/building slow/.test(err) || sleepers().length < 2) {
      if (Date.now() > deadline) throw new Error(`the build did not start:\n${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGINT");
    const code = await exited;
    expect(code).toBe(1);
    expect(err).toMatch(/cancelled slow/);
    // The sandbox's pid namespace is torn down by the kernel once its init dies: give it
    // a moment on a loaded machine, but a process that survives is a leak.
    const gone = Date.now() + 10_000;
    while (sleepers().length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
    expect(sleepers()).toEqual([]);
    expect(readdirSync(join(home, "store")).filter((n) => n.includes("slow") && !n.endsWith(".drv"))).toEqual([]);
    const history = bramble(["history"], { home });
    expect(history.stdout).toMatch(/cancelled.*slow/);
  });
});
