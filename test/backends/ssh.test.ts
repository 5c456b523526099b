// The ssh backend against a real sshd on 127.0.0.1: builds go over the connection into the
// host's own store with the same output hashes as local builds; closures copy both ways;
// an unreachable host and a lost connection fail the build naming the backend and the cause.
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import type { SshBackend } from "../../core/builders/ssh.js";
import { copyClosure } from "../../core/store/copy.js";
import type { Engine } from "../../core/build/engine.js";
import { build, cleanupTemps, eventsOf, graph, ref, shDrv, skipReason, tempDir, tempEngine, holds } from "./helpers.js";
import { freePort, sshdUnavailable, startSshd, type TestSshd } from "./sshd.js";
import { useSsh } from "../helpers/backend-fixtures.js";

const why = skipReason("ssh backend", sshdUnavailable());

describe.skipIf(why)("ssh backend", () => {
  let sshd: TestSshd;
  let remoteRoot: string;
  let sshdDir: string;
  const keep: string[] = [];

  beforeAll(async () => {
    sshdDir = tempDir("bramble-sshd-");
    keep.push(sshdDir);
    remoteRoot = join(tempDir("bramble-rs-"), "r");
    sshd = await startSshd(sshdDir);
  });
  afterAll(async () => {
    await sshd?.stop();
    cleanupTemps();
  });
  afterEach(() => undefined);

  const withSsh = (engine: Engine, extra: Record<string, unknown> = {}): SshBackend => useSsh(engine, sshd, { store: remoteRoot, ...extra });

  const a = shDrv("ssh-a", "echo hello from $system > $out");
  const b = shDrv("ssh-b", `mkdir $out; cat ${ref(a)} > $out/greeting; ln -s ${ref(a)} $out/link; echo building b on $platform`);

  it("is listed with the host's system and available", async () => {
    const engine = tempEngine();
    const box = withSsh(engine);
    // Not known until the probe (in the background, never in the planner's way) answers.
    expect(box.availability()).toMatchObject({ available: false, probing: true });
    await box.probe();
    expect(box.info()).toMatchObject({ name: "box", kind: "ssh", platforms: ["x86_64-linux"], available: true });
    engine.close();
  });

  it("builds a graph on the host with the same output hashes as a local build, in both stores", async () => {
    const local = tempEngine();
    const l = await build(local, graph(a, b), [b]);
    expect(l.result.status).toBe("built");

    const engine = tempEngine();
    const box = withSsh(engine);
    const { result, events } = await build(engine, graph(a, b), [b], { builder: "box" });
    expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
    expect(result.status).toBe("built");
    expect(eventsOf(events, "started").map((e) => e.backend)).toEqual(["box", "box"]);
    expect(eventsOf(events, "log").map((e) => e.line)).toContain("building b on x86_64-linux");
    for (const d of [a, b]) {
      const here = engine.db.outputsOf(derivationHash(d))[0]!;
      const there = local.db.outputsOf(derivationHash(d))[0]!;
      expect(basename(here.path)).toBe(basename(there.path));
      expect(here.hash).toBe(there.hash);
    }
    // Back here, relocated to this store.
    const outB = result.outputs.get(derivationHash(b))!.out!;
    expect(readFileSync(join(outB, "greeting"), "utf8")).toBe("hello from x86_64-linux\n");
    expect(readlinkSync(join(outB, "link"))).toBe(result.outputs.get(derivationHash(a))!.out!);
    // And valid in the host's store, at its own directory.
    await box.store.refresh();
    const nameB = basename(engine.db.outputsOf(derivationHash(b))[0]!.path);
    expect(await holds(box.store, nameB)).toBe(true);
    expect(readlinkSync(join(box.store.dir, nameB, "link"))).toBe(box.store.path(basename(engine.db.outputsOf(derivationHash(a))[0]!.path)));
    // Nothing left over on the other side.
    expect(await box.store.run("list", `cd ${box.store.dir} && ls -A .tmp .build`)).toBe(".build:\n\n.tmp:\n");
    local.close();
    engine.close();
  });

  it("copies closures both ways with copyClosure, keeping names and hashes", async () => {
    const src = tempEngine();
    const c = shDrv("ssh-c", "echo c > $out");
    const d = shDrv("ssh-d", `mkdir $out; ln -s ${ref(c)} $out/c`);
    await build(src, graph(c, d), [d]);
    const nameD = basename(src.db.outputsOf(derivationHash(d))[0]!.path);
    const nameC = basename(src.db.outputsOf(derivationHash(c))[0]!.path);
    const box = withSsh(src, { store: join(tempDir("bramble-rs2-"), "r") });
    const up = await copyClosure(src.store, box.store, [nameD]);
    expect(up.copied.sort()).toEqual([nameC, nameD].sort());
    expect((await copyClosure(src.store, box.store, [nameD])).copied).toEqual([]);

    const dst = tempEngine();
    const box2 = withSsh(dst, { store: box.opts.storeRoot });
    const down = await copyClosure(box2.store, dst.store, [nameD]);
    expect(down.copied.sort()).toEqual([nameC, nameD].sort());
    expect(dst.store.queryPathInfo(nameD)!.hash).toBe(src.store.queryPathInfo(nameD)!.hash);
    expect(readlinkSync(join(dst.store.path(nameD), "c"))).toBe(dst.store.path(nameC));
    expect(await dst.store.verify({})).toEqual([]);
    src.close();
    dst.close();
  });

  it("an unreachable host fails the build before it starts, naming the backend and the cause", async () => {
    const engine = tempEngine();
    const dead = await freePort();
    withSsh(engine, { port: dead, connect_timeout: 2 });
    await engine.backends.find((x) => x.name === "box")!.probe!();
    const info = engine.backends.find((x) => x.name === "box")!.info();
    expect(info.available).toBe(false);
    expect(info.reason).toMatch(/cannot reach .*127\.0\.0\.1.*refused/i);
    const x = shDrv("ssh-x", "echo x > $out");
    const { result, events } = await build(engine, graph(x), [x], { builder: "box" });
    expect(result.status).toBe("failed");
    expect(eventsOf(events, "failed")[0]!.error).toMatch(/backend "box".*unavailable.*refused/i);
    engine.close();
  });

  it("a lost connection fails that build with the cause and leaves both stores whole", async () => {
    const engine = tempEngine();
    const box = withSsh(engine);
    const slow = shDrv("ssh-slow", "mkdir $out; echo started; echo partial > $out/x; sleep 30; echo never");
    const timer = setInterval(() => undefined, 1000);
    const started = new Promise<void>((res) => {
      const t = setInterval(() => {
        if (seen) {
          clearInterval(t);
          res();
        }
      }, 50);
    });
    let seen = false;
    const run = build(engine, graph(slow), [slow], { builder: "box" });
    // Watch the log through the events by polling the DB's builds.
    const poll = setInterval(() => {
      const builds = engine.db.listBuilds({ drvHash: derivationHash(slow) });
      if (builds.length && existsSync(builds[0]!.logFile) && readFileSync(builds[0]!.logFile, "utf8").includes("started")) seen = true;
    }, 50);
    await started;
    clearInterval(poll);
    sshd.dropSessions();
    const { result, events } = await run;
    clearInterval(timer);
    expect(result.status).toBe("failed");
    const err = eventsOf(events, "failed")[0]!.error;
    expect(err).toMatch(/ssh backend "box" \(.*127\.0\.0\.1.*\): lost the connection/);
    expect(engine.db.outputsOf(derivationHash(slow))).toEqual([]);
    expect(await engine.store.verify({})).toEqual([]);
    await box.store.refresh();
    expect(await box.store.verify({})).toEqual([]);
    expect(await box.store.run("list", `cd ${box.store.dir} && ls -A .info | grep slow || true`)).toBe("");
    engine.close();
  }, 40_000);
});
