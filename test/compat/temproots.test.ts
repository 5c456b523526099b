// A running build holds its already-built inputs as temporary gc roots (var/temproots/<pid>),
// released when the run finishes (issue 15).
import { existsSync, readFileSync } from "node:fs";
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
    const file = join(engine.layout.varDir, "temproots", String(process.pid));
    const running = build(engine, graph(dep, slow), [slow]);
    let seen = "";
    while (!seen.includes(depOut)) {
      await new Promise((r) => setTimeout(r, 25));
      if (existsSync(file)) seen = readFileSync(file, "utf8");
      if (!seen.includes(depOut) && (await Promise.race([running.then(() => true), Promise.resolve(false)]))) break;
    }
    expect(seen.split("\n")).toContain(depOut);
    expect((await running).result.status).toBe("built");
    expect(existsSync(file) ? readFileSync(file, "utf8") : "").not.toContain(depOut);
    engine.close();
  });
});
