// Scheduling: parallelism, failure policy, kept build directories, cancellation, early
// cutoff, planning errors, timeouts and the log cap.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { BuildEvent } from "../../core/api/schema.js";
import { derivationHash } from "../../core/derivation/derivation.js";
import { planGraph } from "../../core/build/plan.js";
import { runBuild } from "../../core/build/scheduler.js";
import { BuildLog } from "../../core/store/logs.js";
import { build, cleanupTemps, eventsOf, graph, ref, SANDBOX_PATHS, shDrv, tempDir, tempEngine } from "./helpers.js";

afterEach(cleanupTemps);

/** The most builds running at once, from started/built/failed events and their times. */
function maxConcurrency(timed: { t: number; e: BuildEvent }[]): number {
  let now = 0;
  let max = 0;
  for (const { e } of timed) {
    if (e.type === "started") max = Math.max(max, ++now);
    if (e.type === "built" || e.type === "failed" || e.type === "cancelled") now--;
  }
  return max;
}

describe("scheduler", () => {
  it("runs independent derivations in parallel, up to jobs", async () => {
    const engine = tempEngine();
    const leaves = [1, 2, 3, 4].map((i) => shDrv(`leaf${i}`, `sleep 1; echo ${i} > $out`));
    const top = shDrv("top", `cat ${leaves.map((l) => ref(l)).join(" ")} > $out`);
    const drvs = graph(...leaves, top);
    const timed: { t: number; e: BuildEvent }[] = [];
    const res = await runBuild(
      engine,
      { runId: "par", drvs, roots: [derivationHash(top)], projectRoot: tempDir(), sandboxPaths: SANDBOX_PATHS, jobs: 4 },
      (e) => timed.push({ t: Date.now(), e }),
    );
    expect(res.status).toBe("built");
    expect(maxConcurrency(timed)).toBe(4); // all four sleeps at once, not in sequence
    expect(readFileSync(res.outputs.get(derivationHash(top))!.out!, "utf8")).toBe("1\n2\n3\n4\n");

    const engine2 = tempEngine();
    const timed2: { t: number; e: BuildEvent }[] = [];
    await runBuild(engine2, { runId: "par2", drvs, roots: [derivationHash(top)], projectRoot: tempDir(), sandboxPaths: SANDBOX_PATHS, jobs: 2 }, (e) =>
      timed2.push({ t: Date.now(), e }),
    );
    expect(maxConcurrency(timed2)).toBe(2);
    engine.close();
    engine2.close();
  });

  it("stops at the first failure, cancelling what runs; --keep-going builds the rest", async () => {
    const engine = tempEngine();
    const bad = shDrv("bad", "exit 1");
    const slow = shDrv("slow", "sleep 60; echo > $out");
    const after = shDrv("after", `cat ${ref(bad)} > $out`);
    const top = shDrv("top", `cat ${ref(after)} ${ref(slow)} > $out`);
    const drvs = graph(bad, slow, after, top);
    const t0 = Date.now();
    const r = await build(engine, drvs, [top], { jobs: 2 });
    expect(Date.now() - t0).toBeLessThan(60_000); // slow was stopped, not waited for
    expect(r.result.status).toBe("failed");
    expect(r.result.failed).toEqual([derivationHash(bad)]);
    const cancelled = eventsOf(r.events, "cancelled").map((e) => e.hash);
    expect(cancelled).toEqual([derivationHash(slow)]);
    // What needs the failure is skipped (not cancelled), and the history says so.
    const skipped = eventsOf(r.events, "skipped");
    expect(skipped.map((e) => e.hash).sort()).toEqual([derivationHash(after), derivationHash(top)].sort());
    expect(skipped.map((e) => e.dependency)).toEqual([derivationHash(bad), derivationHash(bad)]);
    expect(engine.db.getBuild(skipped[0]!.buildId!)).toMatchObject({ status: "skipped", error: `dependency bad (${derivationHash(bad)}) failed` });
    const slowBuild = eventsOf(r.events, "started").find((e) => e.hash === derivationHash(slow))!;
    expect(engine.db.getBuild(slowBuild.buildId)!.status).toBe("cancelled");

    const fast = shDrv("fast", "echo > $out");
    const top2 = shDrv("top2", `cat ${ref(after)} ${ref(fast)} > $out`);
    const r2 = await build(engine, graph(bad, fast, after, top2), [top2, fast], { keepGoing: true, jobs: 1 });
    expect(r2.result.status).toBe("failed");
    expect(eventsOf(r2.events, "built").map((e) => e.hash)).toEqual([derivationHash(fast)]);
    expect(eventsOf(r2.events, "failed").map((e) => e.hash)).toEqual([derivationHash(bad)]);
    const skipped2 = eventsOf(r2.events, "skipped");
    expect(skipped2.find((e) => e.hash === derivationHash(after))!.error).toBe(`dependency bad (${derivationHash(bad)}) failed`);
    expect(skipped2.find((e) => e.hash === derivationHash(top2))).toBeDefined();
    engine.close();
  });

  it("keeps a failed build's directory with keepFailed", async () => {
    const engine = tempEngine();
    const d = shDrv("keep", "echo evidence > /build/notes; exit 7");
    const r = await build(engine, graph(d), [d], { keepFailed: true });
    const f = eventsOf(r.events, "failed")[0]!;
    expect(f.exitCode).toBe(7);
    expect(f.keptDir).toBeDefined();
    expect(readFileSync(join(f.keptDir!, "notes"), "utf8")).toBe("evidence\n");
    expect(engine.db.getBuild(f.buildId!)!.keptDir).toBe(f.keptDir);
    // It survives the next start's cleanup of temporary directories.
    engine.close();
    const { openEngine } = await import("../../core/build/engine.js");
    openEngine(engine.home).close();
    expect(existsSync(join(f.keptDir!, "notes"))).toBe(true);
  });

  it("cancels on abort: the sandbox's process tree is killed and the build recorded cancelled", async () => {
    const engine = tempEngine();
    const marker = 900000 + Math.floor(Math.random() * 90000);
    const d = shDrv("forever", `sleep ${marker} & sleep ${marker + 1}; echo > $out`);
    const ac = new AbortController();
    const events: BuildEvent[] = [];
    const p = runBuild(
      engine,
      { runId: "cancel", drvs: graph(d), roots: [derivationHash(d)], projectRoot: tempDir(), sandboxPaths: SANDBOX_PATHS, signal: ac.signal },
      (e) => {
        events.push(e);
        if (e.type === "started") setTimeout(() => ac.abort(), 300);
      },
    );
    const res = await p;
    expect(res.status).toBe("cancelled");
    const started = eventsOf(events, "started")[0]!;
    expect(engine.db.getBuild(started.buildId)!.status).toBe("cancelled");
    expect(eventsOf(events, "cancelled").map((e) => e.hash)).toEqual([derivationHash(d)]);
    await new Promise((r) => setTimeout(r, 200));
    const ps = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
    expect(ps).not.toContain(`sleep ${marker}`);
    expect(engine.store.has).toBeDefined();
    expect(eventsOf(events, "run-finished")[0]!.status).toBe("cancelled");
    engine.close();
  });

  it("early cutoff: a dependency rebuilt to the same bytes does not rebuild its dependents", async () => {
    const engine = tempEngine();
    const a1 = shDrv("a", "echo same > $out", { env: { PATH: "/usr/bin:/bin", VERSION: "1" } });
    const a2 = shDrv("a", "echo same > $out", { env: { PATH: "/usr/bin:/bin", VERSION: "2" } });
    const b1 = shDrv("b", `cat ${ref(a1)} > $out; echo b built`);
    const b2 = shDrv("b", `cat ${ref(a2)} > $out; echo b built`);
    expect(derivationHash(b1)).not.toBe(derivationHash(b2));
    const r1 = await build(engine, graph(a1, b1), [b1]);
    const r2 = await build(engine, graph(a2, b2), [b2]);
    expect(eventsOf(r2.events, "built").map((e) => e.hash)).toEqual([derivationHash(a2)]);
    expect(eventsOf(r2.events, "cached").map((e) => e.hash)).toEqual([derivationHash(b2)]);
    expect(r2.result.outputs.get(derivationHash(b2))).toEqual(r1.result.outputs.get(derivationHash(b1)));
    engine.close();
  });

  it("a platform no backend offers is an error before anything builds", async () => {
    const engine = tempEngine();
    const a = shDrv("fine", "echo > $out");
    const d = shDrv("mac-only", `cat ${ref(a)} > $out`, { platform: "aarch64-darwin", system: "aarch64-darwin" });
    const plan = planGraph(engine.backends, graph(a, d));
    expect(plan.get(derivationHash(a))!.backend).toBe("local");
    const err = plan.get(derivationHash(d))!.error!;
    expect(err).toContain("mac-only");
    expect(err).toContain("aarch64-darwin");
    expect(err).toContain("local (");
    const r = await build(engine, graph(a, d), [d]);
    expect(r.result.status).toBe("failed");
    expect(eventsOf(r.events, "started")).toEqual([]);
    expect(planGraph(engine.backends, graph(a), { builder: "nosuch" }).get(derivationHash(a))!.error).toContain(`"nosuch", which does not exist`);
    engine.close();
  });

  it("times out a build that runs too long", async () => {
    const engine = tempEngine();
    const d = shDrv("slow", "sleep 10; echo > $out");
    const r = await build(engine, graph(d), [d], { timeoutMs: 300 });
    expect(r.result.status).toBe("failed");
    expect(eventsOf(r.events, "failed")[0]!.error).toContain("timed out");
    engine.close();
  });

  it("streams log lines as they are written and caps the log file", async () => {
    const engine = tempEngine();
    const d = shDrv("chatty", "echo first; sleep 0.5; echo second >&2; echo > $out");
    const times: Record<string, number> = {};
    const t0 = Date.now();
    await runBuild(engine, { runId: "log", drvs: graph(d), roots: [derivationHash(d)], projectRoot: tempDir(), sandboxPaths: SANDBOX_PATHS }, (e) => {
      if (e.type === "log") times[e.line] = Date.now() - t0;
    });
    expect(Object.keys(times)).toEqual(["first", "second"]);
    expect(times.second! - times.first!).toBeGreaterThan(300);

    const file = join(tempDir(), "capped.log");
    const log = new BuildLog(file, 100);
    for (let i = 0; i < 50; i++) log.write(`line ${i}`);
    log.close();
    const text = readFileSync(file, "utf8");
    expect(text.length).toBeLessThan(200);
    expect(text).toContain("[bramble: log capped at 100 bytes");
    expect(log.tail.at(-1)).toBe("line 49");
    engine.close();
  });

  it("only: builds just the named derivations and what they need", async () => {
    const engine = tempEngine();
    const a = shDrv("a", "echo a > $out");
    const b = shDrv("b", `cat ${ref(a)} > $out`);
    const c = shDrv("c", `cat ${ref(b)} > $out`);
    const r = await build(engine, graph(a, b, c), [c], { only: [derivationHash(b)] });
    expect(r.result.status).toBe("built");
    expect(eventsOf(r.events, "built").map((e) => e.hash)).toEqual([derivationHash(a), derivationHash(b)]);
    expect(r.result.outputs.has(derivationHash(c))).toBe(false);
    expect(eventsOf(r.events, "run-started")[0]!.total).toBe(2);
    engine.close();
  });
});
