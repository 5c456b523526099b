// Faults on a real Buildbarn cluster: a worker killed mid-action, the scheduler restarted, the
// CAS losing blobs, an action timing out. Each is retried, or fails naming the backend and
// the action digest; the local store never holds a half-built output.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derivationHash, type Derivation } from "../../core/derivation/derivation.js";
import { ReapiBackend } from "../../core/builders/reapi/backend.js";
import type { Engine } from "../../core/build/engine.js";
import { build, cleanupTemps, eventsOf, graph, ref, tempEngine } from "../engine/helpers.js";
import { bbDrv, hostBusybox } from "../helpers/backend-fixtures.js";
import { startCluster, X86_64_POOL, type Cluster } from "./cluster.js";

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ pools: [X86_64_POOL] });
});
afterAll(async () => {
  await cluster?.stop();
  cleanupTemps();
});

function engineWithReapi(): { engine: Engine; reapi: ReapiBackend } {
  const engine = tempEngine();
  const reapi = new ReapiBackend(engine.store, { name: "bb", endpoint: cluster.endpoint, platformProperties: cluster.platformProperties });
  engine.backends.push(reapi);
  return { engine, reapi };
}

const busybox = hostBusybox();

/** Store entries (valid or not) whose name ends in `-name`. */
function inStore(engine: Engine, name: string): string[] {
  return readdirSync(engine.store.dir).filter((e) => e.endsWith(`-${name}`));
}

const ACTION = /\(action [0-9a-f]{64}\/\d+\)/;

describe("reapi faults on Buildbarn", () => {
  it("an action over its timeout fails naming the backend and the action digest; nothing is stored", async () => {
    const slow = bbDrv("slow", "mkdir -p $out; echo started; sleep 30; echo late > $out/x");
    const { engine } = engineWithReapi();
    const { events } = await build(engine, graph(busybox, slow), [slow], { timeoutMs: 2_000 });
    const failed = eventsOf(events, "failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toMatch(/^reapi backend "bb" \(grpc:\/\/127\.0\.0\.1:\d+\): timed out after 2000 ms/);
    expect(failed[0]!.error).toMatch(ACTION);
    expect(inStore(engine, "slow")).toEqual([]);
    engine.close();
  });

  it("a worker killed mid-action: the action is run again when the worker comes back, and succeeds", async () => {
    const d = bbDrv("survivor", "mkdir -p $out; sleep 3; echo done > $out/x");
    const { engine } = engineWithReapi();
    const run = build(engine, graph(busybox, d), [d]);
    // wait until the action is executing on the runner (its build directory exists), then kill worker and runner
    const buildDir = join(cluster.dir, "x86_64", "build");
    for (let i = 0; i < 200 && !readdirSync(buildDir).length; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    await cluster.kill("worker-x86_64", "SIGKILL");
    await cluster.kill("runner-x86_64", "SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    await cluster.start("runner-x86_64");
    await cluster.start("worker-x86_64");
    const { result, events } = await run;
    expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
    expect(readFileSync(join(result.outputs.get(derivationHash(d))!.out!, "x"), "utf8")).toBe("done\n");
    engine.close();
  }, 150_000);

  it("the scheduler restarted mid-action: the client executes again and succeeds", async () => {
    const d = bbDrv("rescheduled", "mkdir -p $out; sleep 2; echo done > $out/x");
    const { engine } = engineWithReapi();
    const run = build(engine, graph(busybox, d), [d]);
    const buildDir = join(cluster.dir, "x86_64", "build");
    for (let i = 0; i < 200 && !readdirSync(buildDir).length; i++) await new Promise((r) => setTimeout(r, 50));
    await cluster.kill("scheduler", "SIGKILL");
    // the worker is slow to come back: until it has, the new scheduler answers "no workers"
    // (UNAVAILABLE), for longer than a few quick retries last (a loaded CI machine saw 4 run out)
    cluster.pause("worker-x86_64", true);
    await new Promise((r) => setTimeout(r, 300));
    await cluster.start("scheduler");
    await new Promise((r) => setTimeout(r, 4_000));
    cluster.pause("worker-x86_64", false);
    const { result, events } = await run;
    expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
    const retries = eventsOf(events, "log").filter((e) => /^reapi: attempt \d+ failed .*; retrying$/.test(e.line));
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries.some((e) => /No workers exist/.test(e.line))).toBe(true);
    expect(readFileSync(join(result.outputs.get(derivationHash(d))!.out!, "x"), "utf8")).toBe("done\n");
    engine.close();
  }, 150_000);

  it("blobs gone from the CAS: a cached result whose outputs are lost is a miss, inputs are uploaded again", async () => {
    const d = bbDrv("lost", "mkdir -p $out; echo kept > $out/x");
    const first = engineWithReapi();
    const r1 = await build(first.engine, graph(busybox, d), [d]);
    expect(eventsOf(r1.events, "failed").map((e) => e.error)).toEqual([]);
    // the storage loses its whole CAS (the Action Cache stays)
    await cluster.kill("storage");
    rmSync(join(cluster.dir, "storage", "cas"), { recursive: true, force: true });
    await cluster.start("storage");
    const second = engineWithReapi();
    const r2 = await build(second.engine, graph(busybox, d), [d]);
    expect(eventsOf(r2.events, "failed").map((e) => e.error)).toEqual([]);
    const lines = eventsOf(r2.events, "log").map((e) => e.line);
    expect(lines.some((l) => l.startsWith("reapi: cached (remote)"))).toBe(false);
    expect(lines.some((l) => /^reapi: uploaded \d+ blobs$/.test(l))).toBe(true);
    expect(readFileSync(join(r2.result.outputs.get(derivationHash(d))!.out!, "x"), "utf8")).toBe("kept\n");
    first.engine.close();
    second.engine.close();
  }, 150_000);

  it("an unreachable endpoint: the build fails before it starts, naming the backend and why", async () => {
    const engine = tempEngine();
    engine.backends.push(new ReapiBackend(engine.store, { name: "bb", endpoint: "grpc://127.0.0.1:1", platformProperties: cluster.platformProperties }));
    const d = bbDrv("nowhere", "mkdir -p $out");
    const { events } = await build(engine, graph(busybox, d), [d]);
    const failed = eventsOf(events, "failed");
    expect(failed).toHaveLength(1);
    // the planner asks a forced backend first (its probe: GetCapabilities)
    expect(failed[0]!.error).toMatch(
      /^nowhere \([0-9a-z]{32}\) must be built by backend "bb", which is unavailable: grpc:\/\/127\.0\.0\.1:1: GetCapabilities: UNAVAILABLE/,
    );
    expect(eventsOf(events, "started")).toEqual([]);
    expect(inStore(engine, "nowhere")).toEqual([]);
    engine.close();
  }, 60_000);

  it("--keep-going as on local: a failing action does not stop an independent one; its dependent is skipped", async () => {
    const bad = bbDrv("bad", "echo about to fail; exit 3");
    const good = bbDrv("good", "mkdir -p $out; echo fine > $out/x");
    const after: Derivation = { ...bbDrv("after-bad", "mkdir -p $out"), env: { PATH: `${ref(busybox)}/bin`, dep: ref(bad) } };
    const { engine } = engineWithReapi();
    const { result, events } = await build(engine, graph(busybox, bad, good, after), [good, after], { keepGoing: true });
    const failed = eventsOf(events, "failed");
    expect(failed.map((e) => e.hash)).toEqual([derivationHash(bad)]);
    const badFail = failed.find((e) => e.hash === derivationHash(bad))!;
    expect(badFail.error).toMatch(/^reapi backend "bb" \(grpc:\/\/127\.0\.0\.1:\d+\): builder exited with code 3 \(action [0-9a-f]{64}\/\d+\)$/);
    expect(badFail.exitCode).toBe(3);
    expect(badFail.logTail).toContain("about to fail");
    expect(eventsOf(events, "skipped").map((e) => e.hash)).toEqual([derivationHash(after)]);
    expect(readFileSync(join(result.outputs.get(derivationHash(good))!.out!, "x"), "utf8")).toBe("fine\n");
    expect(inStore(engine, "bad")).toEqual([]);
    engine.close();
  }, 60_000);
});
