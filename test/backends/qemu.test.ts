// The qemu backend: an aarch64 binary cross-compiled on `local` runs in a derivation with
// platform aarch64-linux, which the planner sends to qemu; child processes work too.
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { hostSystem } from "../../core/builders/backend.js";
import { hashSources } from "../../core/store/sources.js";
import { emulationStatus } from "../../core/builders/qemu.js";
import { planGraph } from "../../core/build/plan.js";
import { build, cleanupTemps, eventsOf, graph, ref, shDrv, skipReason, tempDir, tempEngine } from "./helpers.js";

afterEach(cleanupTemps);

const st = emulationStatus("aarch64-linux");
const cc = ["/usr/bin/aarch64-linux-gnu-gcc"].find((p) => existsSync(p));
const why = skipReason(
  "qemu backend",
  hostSystem() === "aarch64-linux"
    ? "the host is aarch64-linux already"
    : !st.binfmt
      ? `binfmt_misc is not registered for aarch64 (${st.reason ?? "only qemu-aarch64-static found"})`
      : !cc
        ? "gcc-aarch64-linux-gnu is not installed"
        : null,
);

describe.skipIf(why)("qemu backend", () => {
  it("is listed, offers aarch64-linux and is available", () => {
    const engine = tempEngine();
    const q = engine.backends.find((b) => b.kind === "qemu");
    expect(q).toBeDefined();
    expect(q!.info()).toMatchObject({ name: "qemu", kind: "qemu", available: true });
    expect(q!.platforms()).toContain("aarch64-linux");
    engine.close();
  });

  it("runs a cross-compiled aarch64 program and its child process; the planner picks qemu", async () => {
    const engine = tempEngine();
    const project = tempDir();
    copyFileSync(join(import.meta.dirname, "fixtures/forker.c"), join(project, "forker.c"));
    const compile = shDrv("forker", "mkdir -p $out/bin && aarch64-linux-gnu-gcc -static -O1 -o $out/bin/forker forker.c", {
      sources: { files: ["forker.c"], hash: hashSources(project, ["forker.c"]), dir: "." },
      system: "aarch64-linux",
    });
    const run = {
      ...shDrv("forker-run", ""),
      builder: `${ref(compile)}/bin/forker`,
      args: [],
      env: {},
      platform: "aarch64-linux",
      system: "aarch64-linux",
    };
    const g = graph(compile, run);
    const plan = planGraph(engine, g);
    expect(plan.get(derivationHash(compile))!.backend).toBe("local");
    expect(plan.get(derivationHash(run))!.backend).toBe("qemu");
    const { result, events } = await build(engine, g, [run], { projectRoot: project });
    const failures = eventsOf(events, "failed").map((e) => e.error);
    expect(failures).toEqual([]);
    expect(result.status).toBe("built");
    const out = result.outputs.get(derivationHash(run))!.out!;
    expect(readFileSync(join(out, "child.txt"), "utf8")).toBe("child on aarch64\n");
    expect(eventsOf(events, "log").map((e) => e.line)).toContain("parent: child exited 0");
    expect(eventsOf(events, "started").find((e) => e.hash === derivationHash(run))!.backend).toBe("qemu");
    engine.close();
  });

  it("an unknown system fails before anything builds, naming the platform and the backends", async () => {
    const engine = tempEngine();
    const d = shDrv("weird", "echo hi > $out", { platform: "mips-plan9", system: "mips-plan9" });
    const { result, events } = await build(engine, graph(d), [d]);
    expect(result.status).toBe("failed");
    const err = eventsOf(events, "failed")[0]!.error;
    expect(err).toContain("mips-plan9");
    expect(err).toContain("qemu");
    expect(eventsOf(events, "started")).toHaveLength(0);
    engine.close();
  });
});
