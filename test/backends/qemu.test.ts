// The qemu backend: an aarch64 binary cross-compiled on `local` with the seed library's C
// toolchain runs in a derivation with platform aarch64-linux, which the planner sends to qemu;
// child processes work too. No host path is in any sandbox.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hostSystem } from "../../core/builders/backend.js";
import { emulationStatus } from "../../core/builders/qemu.js";
import { planGraph } from "../../core/build/plan.js";
import { createContext, evaluate } from "../../core/project/evaluate.js";
import { readProject } from "../../core/project/project.js";
import { build, cleanupTemps, eventsOf, graph, shDrv, skipReason, tempDir, tempEngine } from "./helpers.js";

afterEach(cleanupTemps);

const st = emulationStatus("aarch64-linux");
const why = skipReason(
  "qemu backend",
  hostSystem() === "aarch64-linux"
    ? "the host is aarch64-linux already"
    : !st.binfmt
      ? `binfmt_misc is not registered for aarch64 (${st.reason ?? "only qemu-aarch64-static found"})`
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
    writeFileSync(join(project, "bramble.toml"), '[package]\nname = "forker"\n');
    writeFileSync(
      join(project, "default.bramble"),
      `
load("seeds", "shell")
load("seeds/cc", "cc")

def forker():
    return shell(
        name = "forker",
        script = "mkdir -p $out/bin && aarch64-linux-gnu-gcc -static -O1 -o $out/bin/forker forker.c",
        sources = files(["forker.c"]),
        path = [cc("aarch64-linux").out + "/bin"],
        platform = "x86_64-linux",
        system = "aarch64-linux",
    )

def run():
    binary = forker()
    return derivation(name = "forker-run", builder = binary.out + "/bin/forker", platform = "aarch64-linux", system = "aarch64-linux")
`,
    );
    const ev = evaluate(createContext(readProject(project), { host: "x86_64-linux" }), [".:run"], project);
    const byName = (name: string) => [...ev.drvs.entries()].find(([, d]) => d.name === name)!;
    const [compileHash] = byName("forker");
    const [runHash] = byName("forker-run");
    const plan = planGraph(engine.backends, ev.drvs);
    expect(plan.get(compileHash)!.backend).toBe("local");
    expect(plan.get(runHash)!.backend).toBe("qemu");
    const roots = [ev.drvs.get(runHash)!];
    const { result, events } = await build(engine, ev.drvs, roots, { projectRoot: project, sandboxPaths: [] });
    const failures = eventsOf(events, "failed").map((e) => e.error);
    expect(failures).toEqual([]);
    expect(result.status).toBe("built");
    const out = result.outputs.get(runHash)!.out!;
    expect(readFileSync(join(out, "child.txt"), "utf8")).toBe("child on aarch64\n");
    expect(eventsOf(events, "log").map((e) => e.line)).toContain("parent: child exited 0");
    expect(eventsOf(events, "started").find((e) => e.hash === runHash)!.backend).toBe("qemu");
    engine.close();
  }, 900_000);

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
