// A running build holds its already-built inputs as temporary gc roots (var/temproots/<pid>),
// released when the run finishes (issue 15).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openEngine } from "../../core/build/engine.js";
import { derivationHash } from "../../core/derivation/derivation.js";
import { build, cleanupTemps, graph, ref, shDrv, tempDir } from "../engine/helpers.js";

afterEach(() => cleanupTemps());

describe("temporary roots of a running build", () => {
  it("holds the inputs built before while the run lasts, and releases them after", async () => {
    const engine = openEngine(join(tempDir(), "home"));
    const dep = shDrv("dep", "echo dep > $out");
    expect((await build(engine, graph(dep), [dep])).result.status).toBe("built");
    const depOut = engine.db.drvOutputs(derivationHash(dep))!.out!;
    // A build that uses dep; the roots are written when its run starts, before anything builds.
    const slow = shDrv("slow", `cat ${ref(dep)} > $out; sleep 2`);
    // This process's file: var/temproots/<pid>-<start time>.
    const dir = join(engine.layout.varDir, "temproots");
    const mine = () => (existsSync(dir) ? readdirSync(dir).filter((e) => e.startsWith(`${process.pid}-`)) : []);
    const running = build(engine, graph(dep, slow), [slow]);
    let done = false;
    void running.then(() => (done = true));
    let seen = "";
    while (!seen.includes(depOut) && !done) {
      await new Promise((r) => setTimeout(r, 25));
      for (const f of mine()) seen = readFileSync(join(dir, f), "utf8");
    }
    expect(seen.split("\n")).toContain(depOut);
    expect((await running).result.status).toBe("built");
    expect(mine()).toEqual([]);
    engine.close();
  });
});
