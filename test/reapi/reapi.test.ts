// The reapi backend against a real Buildbarn cluster on loopback (test/reapi/cluster.ts):
// derivations become Actions, run hermetically on the x86_64 and the aarch64 (qemu-user)
// worker pools, and come back with the same output names as local builds.
import { copyFileSync, existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { derivationHash, type Derivation } from "../../core/derivation/derivation.js";
import { hostSystem } from "../../core/builders/backend.js";
import { ReapiBackend } from "../../core/builders/reapi/backend.js";
import type { Engine } from "../../core/build/engine.js";
import { hashSources } from "../../core/store/sources.js";
import { build, cleanupTemps, eventsOf, graph, ref, shDrv, tempDir, tempEngine } from "../engine/helpers.js";
import { bbDrv, hostBusybox } from "../helpers/backend-fixtures.js";
import { startCluster, type Cluster } from "./cluster.js";

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster?.stop();
  cleanupTemps();
});

function engineWithReapi(extra: Partial<ConstructorParameters<typeof ReapiBackend>[1]> = {}): { engine: Engine; reapi: ReapiBackend } {
  const engine = tempEngine();
  const reapi = new ReapiBackend(engine.store, { name: "bb", endpoint: cluster.endpoint, platformProperties: cluster.platformProperties, ...extra });
  engine.backends.push(reapi);
  return { engine, reapi };
}

/** Static busybox with its applets, put in the store by a local (impure) build: the only tool the actions get. */
const busybox = hostBusybox();

const local = (d: Derivation): Derivation => {
  const { builderBackend: _, ...rest } = d;
  return rest;
};

describe("reapi backend on Buildbarn", () => {
  it("builds a derivation as an Action, with the same output name as a local build", async () => {
    const script = [
      "set -e",
      "mkdir -p $out",
      "echo hello from $system on $platform > $out/greeting",
      "ln -s $busybox/bin/busybox $out/sh",
      "pwd > $out/pwd",
      'echo "$TMPDIR $HOME" > $out/dirs',
      "echo scratch > $TMPDIR/x && cat $TMPDIR/x >> $out/dirs",
      // empty things have zero-size digests (which protobuf leaves out)
      "mkdir -p $out/empty/nested && : > $out/empty-file",
    ].join("\n");
    const hello = bbDrv("hello", script, { env: { PATH: `${ref(busybox)}/bin`, busybox: ref(busybox) } });
    const { engine } = engineWithReapi();
    const { result, events } = await build(engine, graph(busybox, hello), [hello]);
    expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
    expect(
      eventsOf(events, "started")
        .map((e) => e.backend)
        .sort(),
    ).toEqual(["bb", "local"]);
    const out = result.outputs.get(derivationHash(hello))!.out!;
    expect(readFileSync(join(out, "greeting"), "utf8")).toBe(`hello from ${hostSystem()} on ${hostSystem()}\n`);
    expect(readFileSync(join(out, "pwd"), "utf8")).toBe("/build\n");
    expect(readFileSync(join(out, "dirs"), "utf8")).toBe("/tmp /homeless-shelter\nscratch\n");
    expect(readdirSync(join(out, "empty"))).toEqual(["nested"]);
    expect(readFileSync(join(out, "empty-file"), "utf8")).toBe("");
    // the reference to busybox came back relocated into this store
    const bbOut = result.outputs.get(derivationHash(busybox))!.out!;
    expect(readlinkSync(join(out, "sh"))).toBe(`${bbOut}/bin/busybox`);

    // the same derivation built locally (another BRAMBLE_PATH): the same output name
    const other = tempEngine();
    const l = local(hello);
    const r2 = await build(other, graph(busybox, l), [l]);
    expect(eventsOf(r2.events, "failed").map((e) => e.error)).toEqual([]);
    const localOut = r2.result.outputs.get(derivationHash(l))!.out!;
    expect(localOut.split("/").pop()).toBe(out.split("/").pop());
    engine.close();
    other.close();
  });

  it("runs hermetically: the action sees its input root, not the worker's file system", async () => {
    const script = [
      "mkdir -p $out",
      "for p in /etc /bin /lib /home /root /proc; do [ -e $p ] && echo $p >> $out/visible; done",
      "ls / > $out/root; ls /usr/bin > $out/usrbin; ls /dev > $out/dev",
      "true",
    ].join("\n");
    const view = bbDrv("view", script);
    const { engine } = engineWithReapi();
    const { result, events } = await build(engine, graph(busybox, view), [view]);
    expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
    const out = result.outputs.get(derivationHash(view))!.out!;
    expect(existsSync(join(out, "visible"))).toBe(false);
    expect(readFileSync(join(out, "root"), "utf8")).toBe("bramble\nbuild\ndev\ntmp\nusr\n");
    expect(readFileSync(join(out, "usrbin"), "utf8")).toBe("env\n");
    expect(readFileSync(join(out, "dev"), "utf8")).toBe("full\nnull\nrandom\nurandom\nzero\n");
    engine.close();
  });

  it("sends aarch64-linux derivations to the aarch64 pool, whose runner runs them under qemu-user", async () => {
    const project = tempDir();
    // forker.c is the qemu backend test's program (one copy, in test/backends/fixtures).
    copyFileSync(join(import.meta.dirname, "../backends/fixtures/forker.c"), join(project, "forker.c"));
    copyFileSync(join(import.meta.dirname, "fixtures/env.c"), join(project, "env.c"));
    // cross-compiled here (local, with the host's aarch64 gcc), run there
    const tools = shDrv("aarch64-tools", "mkdir -p $out/bin && for p in forker env; do aarch64-linux-gnu-gcc -static -O1 -o $out/bin/$p $p.c; done", {
      sources: { files: ["forker.c", "env.c"], hash: hashSources(project, ["forker.c", "env.c"]), dir: "." },
      system: "aarch64-linux",
    });
    const run: Derivation = {
      name: "forker-run",
      builder: `${ref(tools)}/bin/forker`,
      args: [],
      env: {},
      outputs: ["out"],
      network: false,
      platform: "aarch64-linux",
      system: "aarch64-linux",
      builderBackend: "bb", // qemu (on this machine) would be planned first
    };
    const { engine, reapi } = engineWithReapi();
    const { result, events } = await build(engine, graph(tools, run), [run], { projectRoot: project });
    expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
    expect(eventsOf(events, "started").map((e) => e.backend)).toEqual(["local", "bb"]);
    const out = result.outputs.get(derivationHash(run))!.out!;
    expect(readFileSync(join(out, "child.txt"), "utf8")).toBe("child on aarch64\n");
    expect(eventsOf(events, "log").map((e) => e.line)).toContain("parent: child exited 0");
    const info = [...reapi.actions.values()].pop()!;
    expect(JSON.parse(info.worker!)).toMatchObject({ pool: "aarch64" });
    engine.close();
  });

  it("is a shared cache: a fresh BRAMBLE_PATH downloads every output of the tree and builds nothing", async () => {
    const step = bbDrv("cache-step", "mkdir -p $out && echo step > $out/a && ln -s $busybox/bin/sh $out/sh", {
      env: { PATH: `${ref(busybox)}/bin`, busybox: ref(busybox) },
    });
    // a local step after the remote one: uploaded by the local build (remote_cache)
    const after = { ...local(bbDrv("cache-after", "mkdir -p $out && cat $step/a > $out/b", { env: { PATH: `${ref(busybox)}/bin`, step: ref(step) } })) };
    const g = graph(busybox, step, after);
    const first = engineWithReapi({ uploadLocalResults: true });
    const r1 = await build(first.engine, g, [after]);
    expect(eventsOf(r1.events, "failed").map((e) => e.error)).toEqual([]);
    expect(eventsOf(r1.events, "built").length).toBe(3);
    expect(
      eventsOf(r1.events, "log")
        .map((e) => e.line)
        .filter((l) => l.startsWith("bramble: uploaded to the remote cache bb")),
    ).toHaveLength(2);

    const second = engineWithReapi({ uploadLocalResults: true });
    const r2 = await build(second.engine, g, [after]);
    expect(eventsOf(r2.events, "failed").map((e) => e.error)).toEqual([]);
    expect(eventsOf(r2.events, "built")).toEqual([]);
    const cached = eventsOf(r2.events, "cached");
    expect(cached.map((e) => e.remote)).toEqual(["bb", "bb", "bb"]);
    for (const d of [busybox, step, after]) {
      const a = r1.result.outputs.get(derivationHash(d))!.out!;
      const b = r2.result.outputs.get(derivationHash(d))!.out!;
      expect(b.split("/").pop()).toBe(a.split("/").pop());
      expect(existsSync(b)).toBe(true);
    }
    const out = r2.result.outputs.get(derivationHash(after))!.out!;
    expect(readFileSync(join(out, "b"), "utf8")).toBe("step\n");
    first.engine.close();
    second.engine.close();
  });

  it("speaks TLS and sends the configured headers: a bearer token the storage checks", async () => {
    const d = bbDrv("over-tls", "mkdir -p $out; echo secure > $out/x");
    const engine = tempEngine();
    const opts = { name: "bb", endpoint: cluster.tls.endpoint, tls: { ca: cluster.tls.ca }, platformProperties: cluster.platformProperties };
    engine.backends.push(new ReapiBackend(engine.store, { ...opts, headers: { authorization: cluster.tls.authorization } }));
    const { result, events } = await build(engine, graph(busybox, d), [d]);
    expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
    expect(readFileSync(join(result.outputs.get(derivationHash(d))!.out!, "x"), "utf8")).toBe("secure\n");
    engine.close();

    // without the token: refused, and the failure says so
    const other = tempEngine();
    other.backends.push(new ReapiBackend(other.store, opts));
    const r2 = await build(other, graph(busybox, d), [d]);
    const failed = eventsOf(r2.events, "failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toMatch(/grpcs:\/\/127\.0\.0\.1:\d+.*UNAUTHENTICATED/);
    other.close();
  });
});
