// The walking skeleton's engine half: a two-node graph builds, is cached, and a failing
// builder leaves nothing behind.
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { nodeOutputs, openEngine } from "../../core/build/engine.js";
import { readLog } from "../../core/store/logs.js";
import { build, cleanupTemps, eventsOf, graph, ref, shDrv, tempEngine } from "./helpers.js";

afterEach(cleanupTemps);

describe("two-node graph", () => {
  it("builds both in dependency order, records them, and is cached the second time", async () => {
    const engine = tempEngine();
    const a = shDrv("a", "echo hello > $out");
    const b = shDrv("b", `mkdir $out; cat ${ref(a)} > $out/greeting; echo building b; ln -s ${ref(a)} $out/link`);
    const { result, events } = await build(engine, graph(a, b), [b]);
    expect(result.status).toBe("built");
    expect(eventsOf(events, "built").map((e) => e.hash)).toEqual([derivationHash(a), derivationHash(b)]);
    const outB = result.outputs.get(derivationHash(b))!.out!;
    const outA = result.outputs.get(derivationHash(a))!.out!;
    expect(readFileSync(`${outB}/greeting`, "utf8")).toBe("hello\n");
    expect(readlinkSync(`${outB}/link`)).toBe(outA);
    expect(outB.startsWith(engine.store.dir + "/")).toBe(true);
    expect(nodeOutputs(engine, derivationHash(b))).toEqual({ out: outB });
    // references, log, history
    expect(engine.db.outputsOf(derivationHash(b))[0]!.references).toEqual([outA]);
    const started = eventsOf(events, "started").find((e) => e.hash === derivationHash(b))!;
    expect(eventsOf(events, "log").map((e) => e.line)).toEqual(["building b"]);
    expect(readLog(engine, started.buildId)).toEqual(["building b"]);
    expect(engine.db.getBuild(started.buildId)!.status).toBe("built");
    expect(engine.db.listBuilds({ drvHash: derivationHash(b) })).toHaveLength(1);
    expect(existsSync(`${engine.store.dir}/${derivationHash(b)}-b.drv`)).toBe(true);

    const again = await build(engine, graph(a, b), [b]);
    expect(again.result.status).toBe("built");
    expect(
      eventsOf(again.events, "cached")
        .map((e) => e.hash)
        .sort(),
    ).toEqual([derivationHash(a), derivationHash(b)].sort());
    expect(eventsOf(again.events, "started")).toHaveLength(0);
    const finished = eventsOf(again.events, "run-finished")[0]!;
    expect(finished).toMatchObject({ status: "built", built: 0, cached: 2, failed: 0 });
    engine.close();

    // A second engine on the same home sees the same state.
    const reopened = openEngine(engine.home);
    expect(nodeOutputs(reopened, derivationHash(b))).toEqual({ out: outB });
    reopened.close();
  });

  it("a failing builder fails with its exit code and log tail, and stores nothing", async () => {
    const engine = tempEngine();
    const a = shDrv("a", "echo hello > $out");
    const bad = shDrv("bad", `mkdir $out; echo partial > $out/x; for i in $(seq 1 30); do echo line $i; done; exit 3`, {
      env: { PATH: "/usr/bin:/bin", A: ref(a) },
    });
    const { result, events } = await build(engine, graph(a, bad), [bad]);
    expect(result.status).toBe("failed");
    expect(result.failed).toEqual([derivationHash(bad)]);
    const f = eventsOf(events, "failed")[0]!;
    expect(f.exitCode).toBe(3);
    expect(f.error).toContain("exited with code 3");
    expect(f.logTail.length).toBeLessThanOrEqual(20);
    expect(f.logTail).toContain("line 30");
    const names = readdirSync(engine.store.dir);
    expect(names.filter((n) => n.endsWith("-bad"))).toEqual([]);
    expect(engine.db.getBuild(f.buildId!)).toMatchObject({ status: "failed", exitCode: 3 });
    expect(nodeOutputs(engine, derivationHash(bad))).toBeUndefined();
    // The temporary build directory is gone too.
    expect(readdirSync(engine.layout.tmpDir)).toEqual([]);
    engine.close();
  });

  it("rebuilds an output deleted from the store by hand, and gc runs beside a running build", async () => {
    const engine = tempEngine();
    const a = shDrv("a", "echo hello > $out");
    const first = await build(engine, graph(a), [a]);
    const out = first.result.outputs.get(derivationHash(a))!.out!;
    rmSync(out);
    const again = await build(engine, graph(a), [a]);
    expect(eventsOf(again.events, "built").map((e) => e.hash)).toEqual([derivationHash(a)]);
    expect(readFileSync(out, "utf8")).toBe("hello\n");

    // gc runs beside a build (temporary roots, test/reliability/temproots.test.ts), and one gc at a time.
    const slow = shDrv("slow", "sleep 0.5; echo > $out");
    const p = build(engine, graph(slow), [slow]);
    await new Promise((r) => setTimeout(r, 200));
    expect(engine.store.gcSync({ roots: [] }).deleted).toContain(out.slice(engine.store.dir.length + 1));
    expect((await p).result.status).toBe("built");
    writeFileSync(join(engine.layout.lockDir, "gc.lock"), `${process.ppid}\n`);
    expect(() => engine.store.gcSync({ roots: [] })).toThrow("another gc is running on this store");
    rmSync(join(engine.layout.lockDir, "gc.lock"));
    expect(engine.store.gcSync({ roots: [], dryRun: true }).deleted.length).toBeGreaterThan(0);
    engine.close();
  });
});
