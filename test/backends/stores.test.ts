// One store per backend: an output built on ssh or docker stays in that backend's store, and
// comes to the local store only when a local step needs it or the user asked for it (with
// its runtime closure); names and hashes are equal in every store.
import { spawnSync } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derivationHash, type Derivation } from "../../core/derivation/derivation.js";
import type { SshBackend } from "../../core/builders/ssh.js";
import { closeMasters } from "../../core/builders/ssh-transport.js";
import type { DockerBackend } from "../../core/builders/docker.js";
import { nodeOutputs, type Engine } from "../../core/build/engine.js";
import { copyClosure } from "../../core/store/copy.js";
import type { RemoteStore } from "../../core/store/remote-store.js";
import { build, cleanupTemps, eventsOf, graph, ref, shDrv, skipReason, tempDir, tempEngine, holds, infoOf, useBackends } from "./helpers.js";
import { sshdUnavailable, startSshd, type TestSshd } from "./sshd.js";
import { podmanUnavailable } from "./podman.js";
import { sshConfig, usePodman, useSsh } from "../helpers/backend-fixtures.js";

/** The store name of a derivation's output, as recorded (in whatever store holds it). */
function outName(engine: Engine, d: Derivation, output = "out"): string {
  const row = engine.db.drvOutputsRecorded([derivationHash(d)]).get(derivationHash(d));
  if (!row?.[output]) throw new Error(`${d.name} has no recorded output ${output}`);
  return row[output]!;
}

/**
 * The 3-node chain: `first` (local) → `middle` (forced to `backend`) → `last` (local). Build
 * the middle as the root with keepRemote: its output is only in the remote store. Then build
 * the last: the middle is cached (not rebuilt) and copied to the local store for it.
 */
async function chainThroughRemote(engine: Engine, remote: RemoteStore, backend: string, path: string) {
  const first = shDrv(`${backend}-first`, "echo first > $out", { env: { PATH: path } });
  const middle = shDrv(`${backend}-middle`, `mkdir $out; cat ${ref(first)} > $out/copy; ln -s ${ref(first)} $out/first; echo middle on $platform`, {
    env: { PATH: path },
    builderBackend: backend,
  });
  const last = shDrv(`${backend}-last`, `cat ${ref(middle)}/copy ${ref(middle)}/first > $out`, { env: { PATH: path } });
  const drvs = graph(first, middle, last);

  const one = await build(engine, drvs, [middle], { keepRemote: true });
  expect(eventsOf(one.events, "failed").map((e) => e.error)).toEqual([]);
  expect(eventsOf(one.events, "started").map((e) => [e.hash, e.backend])).toEqual([
    [derivationHash(first), "local"],
    [derivationHash(middle), backend],
  ]);
  const m = outName(engine, middle);
  const f = outName(engine, first);
  // The middle output is in the backend's store only; its input went there from here.
  expect(engine.store.has(m)).toBe(false);
  expect(engine.store.has(f)).toBe(true);
  await remote.refresh();
  expect(await holds(remote, m)).toBe(true);
  expect((await infoOf(remote, m)).references).toEqual([f]);
  expect(engine.db.storesOf(m)).toEqual([backend]);
  expect(one.result.outputs.get(derivationHash(middle))!.out).toBe(remote.path(m));
  // What --dry-run shows: built (on the backend), so nothing would rebuild.
  expect(nodeOutputs(engine, derivationHash(middle))).toEqual({ out: remote.path(m) });

  // The local step needs it: copied here (with its closure), not rebuilt.
  const two = await build(engine, drvs, [last]);
  expect(eventsOf(two.events, "failed").map((e) => e.error)).toEqual([]);
  expect(eventsOf(two.events, "started").map((e) => [e.hash, e.backend])).toEqual([[derivationHash(last), "local"]]);
  expect(
    eventsOf(two.events, "cached")
      .map((e) => e.hash)
      .sort(),
  ).toEqual([derivationHash(first), derivationHash(middle)].sort());
  expect(engine.store.has(m)).toBe(true);
  expect(engine.store.queryPathInfo(m)!.hash).toBe((await infoOf(remote, m)).hash);
  expect(readlinkSync(join(engine.store.path(m), "first"))).toBe(engine.store.path(f));
  expect(readFileSync(two.result.outputs.get(derivationHash(last))!.out!, "utf8")).toBe("first\nfirst\n");
  expect(await engine.store.verify({})).toEqual([]);
  return { first, middle, last };
}

const whySsh = skipReason("stores (ssh)", sshdUnavailable());

describe.skipIf(whySsh)("one store per backend (ssh)", () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd(tempDir("bramble-sshd-"));
  });
  afterAll(async () => {
    await sshd?.stop();
    cleanupTemps();
  });

  const withSsh = (engine: Engine, extra: Record<string, unknown> = {}): SshBackend => useSsh(engine, sshd, extra);

  it("a chain local → ssh → local: the middle output comes here only because the last step needs it; hashes equal", async () => {
    const engine = tempEngine();
    const box = withSsh(engine);
    const { middle } = await chainThroughRemote(engine, box.store, "box", "/usr/bin:/bin");
    // Same name and hash as building the same recipe locally.
    const local = tempEngine();
    const { builderBackend: _, ...here } = middle;
    const first = shDrv("box-first", "echo first > $out", { env: { PATH: "/usr/bin:/bin" } });
    const r = await build(local, graph(first, here), [here]);
    expect(r.result.status).toBe("built");
    expect(outName(local, here)).toBe(outName(engine, middle));
    expect(local.store.queryPathInfo(outName(local, here))!.hash).toBe(engine.store.queryPathInfo(outName(engine, middle))!.hash);
    engine.close();
    local.close();
  }, 60_000);

  it("a remote-only chain leaves the intermediate outputs in the remote store; only the root comes here", async () => {
    const engine = tempEngine();
    const box = withSsh(engine);
    const x = shDrv("ro-x", "echo x > $out");
    const y = shDrv("ro-y", `mkdir $out; cat ${ref(x)} > $out/x; ln -s ${ref(x)} $out/link`);
    const z = shDrv("ro-z", `cat ${ref(y)}/x > $out; echo z >> $out`);
    const { result, events } = await build(engine, graph(x, y, z), [z], { builder: "box" });
    expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
    expect(eventsOf(events, "started").map((e) => e.backend)).toEqual(["box", "box", "box"]);
    await box.store.refresh();
    for (const d of [x, y, z]) expect(await holds(box.store, outName(engine, d))).toBe(true);
    expect(engine.store.has(outName(engine, x))).toBe(false);
    expect(engine.store.has(outName(engine, y))).toBe(false);
    // The user's root: here, at a local path, same hash as there.
    expect(engine.store.has(outName(engine, z))).toBe(true);
    expect(result.outputs.get(derivationHash(z))!.out).toBe(engine.store.path(outName(engine, z)));
    expect(readFileSync(result.outputs.get(derivationHash(z))!.out!, "utf8")).toBe("x\nz\n");
    expect(engine.store.queryPathInfo(outName(engine, z))!.hash).toBe((await infoOf(box.store, outName(engine, z))).hash);
    // A second run builds nothing and copies nothing more.
    const again = await build(engine, graph(x, y, z), [z], { builder: "box" });
    expect(eventsOf(again.events, "started")).toEqual([]);
    expect(engine.store.has(outName(engine, y))).toBe(false);
    engine.close();
  }, 60_000);

  it("collecting the local copies does not forget the remote ones: the next build copies, not rebuilds", async () => {
    const engine = tempEngine();
    const box = withSsh(engine);
    const g1 = shDrv("gc-one", "echo one > $out");
    const g2 = shDrv("gc-two", `mkdir $out; ln -s ${ref(g1)} $out/one`);
    expect((await build(engine, graph(g1, g2), [g2], { builder: "box" })).result.status).toBe("built");
    const n2 = outName(engine, g2);
    expect(engine.store.has(n2)).toBe(true);
    expect((await engine.store.gc({ roots: [] })).deleted).toContain(n2);
    expect(engine.store.has(n2)).toBe(false);
    expect(engine.db.storesOf(n2)).toEqual(["box"]);
    const again = await build(engine, graph(g1, g2), [g2], { builder: "box" });
    expect(eventsOf(again.events, "started")).toEqual([]);
    expect(engine.store.has(n2)).toBe(true);
    expect(readlinkSync(join(engine.store.path(n2), "one"))).toBe(engine.store.path(outName(engine, g1)));
    await box.store.refresh();
    expect((await infoOf(box.store, n2)).hash).toBe(engine.store.queryPathInfo(n2)!.hash);
    engine.close();
  }, 60_000);

  it("outputs held only by an unreachable backend's store are rebuilt, like a substituter that is down", async () => {
    const engine = tempEngine();
    withSsh(engine);
    const w = shDrv("down-w", "echo w > $out");
    expect((await build(engine, graph(w), [w], { builder: "box", keepRemote: true })).result.status).toBe("built");
    expect(engine.store.has(outName(engine, w))).toBe(false);
    withSsh(engine, { port: 1, connect_timeout: 2 });
    expect(nodeOutputs(engine, derivationHash(w))).toBeUndefined();
    const { events } = await build(engine, graph(w), [w]);
    expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
    expect(eventsOf(events, "started").map((e) => e.backend)).toEqual(["local"]);
    expect(engine.store.has(outName(engine, w))).toBe(true);
    engine.close();
  }, 60_000);

  it("a path the remote store lost is forgotten: that run fails naming the stores, the next one rebuilds it", async () => {
    const engine = tempEngine();
    const box = withSsh(engine);
    const p = shDrv("lost-p", "echo p > $out", { builderBackend: "box" });
    const q = shDrv("lost-q", `cat ${ref(p)} > $out`);
    expect((await build(engine, graph(p, q), [p], { keepRemote: true })).result.status).toBe("built");
    const n = outName(engine, p);
    await box.store.run("wipe", `cd ${box.store.dir} && chmod -R u+w ${n} && rm -rf ${n} .info/${n}.json`);
    await box.store.refresh();
    const bad = await build(engine, graph(p, q), [q]);
    expect(bad.result.status).toBe("failed");
    expect(eventsOf(bad.events, "failed")[0]!.error).toMatch(/from the box store to the local store failed: .*not valid in the box store/);
    const good = await build(engine, graph(p, q), [q]);
    expect(eventsOf(good.events, "failed").map((e) => e.error)).toEqual([]);
    expect(eventsOf(good.events, "started").map((e) => e.backend)).toEqual(["box", "local"]);
    engine.close();
  }, 60_000);

  it("early cutoff across stores: a local input rebuilt to the same bytes does not rebuild its ssh dependent", async () => {
    const engine = tempEngine();
    withSsh(engine);
    const dep1 = shDrv("ec-dep", "echo same > $out", { env: { PATH: "/usr/bin:/bin", salt: "1" } });
    const dep2 = shDrv("ec-dep", "echo same > $out", { env: { PATH: "/usr/bin:/bin", salt: "2" } });
    const top = (d: Derivation) => shDrv("ec-top", `cat ${ref(d)} > $out`, { builderBackend: "box" });
    const one = await build(engine, graph(dep1, top(dep1)), [top(dep1)], { keepRemote: true });
    expect(eventsOf(one.events, "started").map((e) => e.backend)).toEqual(["local", "box"]);
    const two = await build(engine, graph(dep2, top(dep2)), [top(dep2)], { keepRemote: true });
    expect(eventsOf(two.events, "failed").map((e) => e.error)).toEqual([]);
    expect(eventsOf(two.events, "started").map((e) => e.backend)).toEqual(["local"]);
    expect(eventsOf(two.events, "cached").map((e) => e.hash)).toEqual([derivationHash(top(dep2))]);
    expect(outName(engine, top(dep2))).toBe(outName(engine, top(dep1)));
    expect(engine.store.has(outName(engine, top(dep2)))).toBe(false);
    engine.close();
  }, 60_000);

  it("the steps around remote builds share one ssh connection, closed with closeMasters", async () => {
    closeMasters();
    const connections = () =>
      spawnSync("pgrep", ["-P", String(sshd.pid)], { encoding: "utf8" })
        .stdout.split("\n")
        .filter(Boolean).length;
    // Connections that just ended take a moment to go (their sshd child exits after the client).
    const settle = async (atMost: number) => {
      for (let i = 0; i < 100 && connections() > atMost; i++) await new Promise((r) => setTimeout(r, 100));
      return connections();
    };
    expect(await settle(0)).toBe(0);
    const engine = tempEngine();
    const box = withSsh(engine);
    const u = shDrv("cm-u", "echo u > $out");
    const v = shDrv("cm-v", `cat ${ref(u)} > $out`);
    const { result } = await build(engine, graph(u, v), [v], { builder: "box" });
    expect(result.status).toBe("built");
    // The probe, the copies and the outputs: one connection, still open for the next run
    // (each build's command has its own, closed when it ends).
    expect(await settle(1)).toBe(1);
    // A step that times out returns at once, though the shared master still runs it.
    const t0 = Date.now();
    expect((await box.transport.exec("sleep 20", { timeoutMs: 500 })).code).toBe(null);
    expect(Date.now() - t0).toBeLessThan(20_000); // returned before the command's own end
    closeMasters();
    expect(await settle(0)).toBe(0);
    engine.close();
  }, 60_000);

  it("cancelling a run stops the remote build and leaves both stores whole", async () => {
    const engine = tempEngine();
    const box = withSsh(engine);
    const dep = shDrv("cx-dep", "echo dep > $out");
    const slow = shDrv("cx-slow", `mkdir $out; cat ${ref(dep)} > $out/dep; echo started; sleep 47`, { builderBackend: "box" });
    const stop = new AbortController();
    const run = build(engine, graph(dep, slow), [slow], { signal: stop.signal });
    const t0 = Date.now();
    for (;;) {
      const b = engine.db.listBuilds({ drvHash: derivationHash(slow) })[0];
      if (b && readFileSync(b.logFile, "utf8").includes("started")) break;
      if (Date.now() - t0 > 20_000) throw new Error("the remote build did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
    stop.abort();
    const { result, events: ev } = await run;
    expect(result.status).toBe("cancelled");
    expect(Date.now() - t0).toBeLessThan(25_000);
    expect(eventsOf(ev, "cancelled").map((e) => e.hash)).toEqual([derivationHash(slow)]);
    expect(engine.db.listBuilds({ drvHash: derivationHash(slow) })[0]!.status).toBe("cancelled");
    expect(await engine.store.verify({})).toEqual([]);
    await box.store.refresh();
    expect([...(await box.store.closure([outName(engine, dep)]))]).toEqual([outName(engine, dep)]);
    expect(await box.store.run("list", `cd ${box.store.dir} && ls -A .tmp .build; ls | grep cx-slow || true`)).toBe(".build:\n\n.tmp:\n");
    expect(await box.store.run("ps", `ps -eo args | grep -c "[s]leep 47" || true`)).toBe("0\n");
    engine.close();
  }, 60_000);

  it("copies outputs that refer to each other to another store and back, hashes unchanged", async () => {
    const src = tempEngine();
    const pair = shDrv("pair", "mkdir $out $dev; ln -s $dev $out/dev; ln -s $out $dev/out; echo o > $out/f; echo d > $dev/f", { outputs: ["out", "dev"] });
    expect((await build(src, graph(pair), [pair])).result.status).toBe("built");
    const out = outName(src, pair, "out");
    const dev = outName(src, pair, "dev");
    // local → another local store
    const other = tempEngine();
    const c1 = await copyClosure(src.store, other.store, [out]);
    expect(c1.copied.sort()).toEqual([dev, out].sort());
    expect(await other.store.verify({})).toEqual([]);
    expect(readlinkSync(join(other.store.path(out), "dev"))).toBe(other.store.path(dev));
    // local → ssh → a fresh local store
    const box = withSsh(src);
    await copyClosure(src.store, box.store, [dev]);
    const back = tempEngine();
    const box2 = withSsh(back, { store: box.opts.storeRoot });
    const c2 = await copyClosure(box2.store, back.store, [out]);
    expect(c2.copied.sort()).toEqual([dev, out].sort());
    for (const n of [out, dev]) expect(back.store.queryPathInfo(n)!.hash).toBe(src.store.queryPathInfo(n)!.hash);
    expect(await back.store.verify({})).toEqual([]);
    src.close();
    other.close();
    back.close();
  }, 60_000);

  it("verify and gc work on the ssh store: missing and corrupt paths are found and repaired, gc keeps the roots' closures", async () => {
    const engine = tempEngine();
    const box = withSsh(engine);
    const k1 = shDrv("vg-one", "echo one > $out");
    const k2 = shDrv("vg-two", `mkdir $out; ln -s ${ref(k1)} $out/one`);
    const k3 = shDrv("vg-three", "echo three > $out");
    const drvs = graph(k1, k2, k3);
    expect((await build(engine, drvs, [k2, k3], { builder: "box", keepRemote: true })).result.status).toBe("built");
    const [n1, n2, n3] = [k1, k2, k3].map((d) => outName(engine, d)) as [string, string, string];
    expect(await box.store.verify({})).toEqual([]);
    const h3 = (await infoOf(box.store, n3)).hash;
    // Damage the store by hand: one tree gone (its metadata left), one file changed.
    await box.store.run("damage", `cd ${box.store.dir} && chmod -R u+w ${n1} ${n3} && rm -rf ${n1} && echo evil > ${n3}`);
    const problems = await box.store.verify({});
    expect(problems.map((p) => `${p.problem} ${p.name}`).sort()).toEqual([`corrupt ${n3}`, `incomplete-closure ${n2}`, `missing ${n1}`].sort());
    expect(problems.find((p) => p.name === n3)!.expected).toBe(h3);
    expect((await box.store.verify({ repair: true })).length).toBe(3);
    for (const n of [n1, n2, n3]) {
      expect(await holds(box.store, n)).toBe(false);
      expect(engine.db.storesOf(n)).toEqual([]);
    }
    expect(await box.store.verify({})).toEqual([]);
    // Rebuilt there (the store no longer has them), then collected down to k2's closure.
    const again = await build(engine, drvs, [k2, k3], { builder: "box", keepRemote: true });
    expect(
      eventsOf(again.events, "started")
        .map((e) => e.hash)
        .sort(),
    ).toEqual([k1, k2, k3].map((d) => derivationHash(d)).sort());
    const dry = await box.store.gc({ roots: [n2], dryRun: true });
    expect(dry.deleted).toEqual([n3]);
    expect(await holds(box.store, n3)).toBe(true);
    expect((await box.store.gc({ roots: [n2] })).deleted).toEqual([n3]);
    expect(await holds(box.store, n3)).toBe(false);
    expect(engine.db.storesOf(n3)).toEqual([]);
    expect([...(await box.store.closure([n2]))].sort()).toEqual([n1, n2].sort());
    expect(await box.store.run("left", `cd ${box.store.dir} && ls`)).toBe([n1, n2].sort().join("\n") + "\n");
    expect(await box.store.verify({})).toEqual([]);
    engine.close();
  }, 90_000);

  it("--keep-going: a failed remote build skips its dependents, the rest builds, the remote store stays whole", async () => {
    const engine = tempEngine();
    const box = withSsh(engine);
    const ok = shDrv("kg-ok", "echo ok > $out");
    const remote = shDrv("kg-remote", `cat ${ref(ok)} > $out; echo broken; exit 3`, { builderBackend: "box" });
    const after = shDrv("kg-after", `cat ${ref(remote)} > $out`);
    const other = shDrv("kg-other", "echo other > $out");
    const { result, events } = await build(engine, graph(ok, remote, after, other), [after, other], { keepGoing: true, jobs: 1 });
    expect(result.status).toBe("failed");
    const failures = new Map(eventsOf(events, "failed").map((e) => [e.hash, e.error]));
    expect(failures.get(derivationHash(remote))).toMatch(/^ssh backend "box" \(.*\): builder exited with code 3/);
    expect(eventsOf(events, "skipped").find((e) => e.hash === derivationHash(after))!.error).toMatch(/dependency kg-remote .* failed/);
    expect(
      eventsOf(events, "built")
        .map((e) => e.hash)
        .sort(),
    ).toEqual([derivationHash(ok), derivationHash(other)].sort());
    expect(await engine.store.verify({})).toEqual([]);
    await box.store.refresh();
    expect([...(await box.store.closure([outName(engine, ok)]))]).toEqual([outName(engine, ok)]);
    expect(await box.store.run("list", `cd ${box.store.dir} && ls -A .tmp .build`)).toBe(".build:\n\n.tmp:\n");
    engine.close();
  }, 60_000);
});

const whyDocker = skipReason("stores (docker)", podmanUnavailable());

describe.skipIf(whyDocker)("one store per backend (docker)", () => {
  const podman = usePodman("bramble-test-st");

  it("a chain local → docker → local: the middle output comes here only because the last step needs it; hashes equal", async () => {
    const engine = tempEngine();
    const d = podman.docker(engine);
    await chainThroughRemote(engine, d.store, "docker", "/bin:/usr/bin");
    engine.close();
  }, 90_000);

  it.skipIf(whySsh)(
    "docker → ssh: the docker output goes straight to the ssh store (export → import), not into the local store; names and hashes equal",
    async () => {
      const sshd = await startSshd(tempDir("bramble-sshd-"));
      try {
        const engine = tempEngine();
        useBackends(engine, [podman.dockerConfig(), sshConfig(sshd)]);
        const d = engine.backends.find((b) => b.name === "docker") as DockerBackend;
        const box = engine.backends.find((b) => b.name === "box") as SshBackend;
        const made = shDrv("dd-made", "mkdir $out; echo made in a container > $out/f", { env: { PATH: "/bin" }, builderBackend: "docker" });
        const used = shDrv("dd-used", `cat ${ref(made)}/f > $out`, { builderBackend: "box" });
        const { result, events } = await build(engine, graph(made, used), [used], { keepRemote: true });
        expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
        expect(result.status).toBe("built");
        const m = outName(engine, made);
        const u = outName(engine, used);
        await d.store.refresh();
        await box.store.refresh();
        expect(await holds(d.store, m)).toBe(true);
        expect(await holds(box.store, m)).toBe(true);
        expect(await holds(box.store, u)).toBe(true);
        expect(engine.store.has(u)).toBe(false);
        expect(engine.store.has(m)).toBe(false);
        expect((await infoOf(box.store, m)).hash).toBe((await infoOf(d.store, m)).hash);
        expect(await box.store.run("read", `cat ${box.store.path(u)}`)).toBe("made in a container\n");
        expect(engine.db.storesOf(m)).toEqual(expect.arrayContaining(["box", "docker"]));
        engine.close();
      } finally {
        closeMasters();
        await sshd.stop();
      }
    },
    90_000,
  );
});
