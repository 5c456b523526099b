// The docker backend against a real Docker API (podman's service) and a local busybox image:
// the same tree gives the same output hashes as a local build; its store is a volume; a
// container that dies and an unreachable engine fail the build naming the backend and cause.
import { readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import type { DockerBackend } from "../../core/builders/docker.js";
import { copyClosure } from "../../core/store/copy.js";
import type { Engine } from "../../core/build/engine.js";
import { build, eventsOf, graph, ref, shDrv, skipReason, tempDir, tempEngine, holds, infoOf } from "./helpers.js";
import { bramble } from "../helpers/cli.js";
import { podmanUnavailable, removeVolume } from "./podman.js";
import { usePodman } from "../helpers/backend-fixtures.js";

const why = skipReason("docker backend", podmanUnavailable());

describe.skipIf(why)("docker backend", () => {
  const podman = usePodman("bramble-test");
  const { volume } = podman;
  const withDocker = (engine: Engine, extra: Record<string, unknown> = {}): DockerBackend => podman.docker(engine, extra);
  const nameOf = (engine: Engine, d: Parameters<typeof derivationHash>[0]) => basename(engine.db.outputsOf(derivationHash(d))[0]!.path);

  // Reproducible, and only busybox's sh, echo, mkdir, ln and cat inside the image.
  const a = shDrv("dk-a", "echo hello from $system > $out", { env: { PATH: "/bin:/usr/bin" } });
  const b = shDrv("dk-b", `mkdir $out; cat ${ref(a)} > $out/greeting; ln -s ${ref(a)} $out/link; echo building b in the container`, {
    env: { PATH: "/bin:/usr/bin" },
  });

  it("is listed with the engine's system and available", async () => {
    const engine = tempEngine();
    const d = withDocker(engine);
    await d.probe();
    expect(d.info()).toMatchObject({ name: "docker", kind: "docker", platforms: ["x86_64-linux"], available: true });
    engine.close();
  });

  it("--builder docker gives the same output hashes as the local build, and keeps them in its volume", async () => {
    const local = tempEngine();
    expect((await build(local, graph(a, b), [b])).result.status).toBe("built");

    const engine = tempEngine();
    const d = withDocker(engine);
    const { result, events } = await build(engine, graph(a, b), [b], { builder: "docker" });
    expect(eventsOf(events, "failed").map((e) => e.error)).toEqual([]);
    expect(result.status).toBe("built");
    expect(eventsOf(events, "started").map((e) => e.backend)).toEqual(["docker", "docker"]);
    expect(eventsOf(events, "log").map((e) => e.line)).toContain("building b in the container");
    for (const x of [a, b]) {
      expect(nameOf(engine, x)).toBe(nameOf(local, x));
      expect(engine.db.outputsOf(derivationHash(x))[0]!.hash).toBe(local.db.outputsOf(derivationHash(x))[0]!.hash);
    }
    const outB = result.outputs.get(derivationHash(b))!.out!;
    expect(readFileSync(join(outB, "greeting"), "utf8")).toBe("hello from x86_64-linux\n");
    expect(readlinkSync(join(outB, "link"))).toBe(result.outputs.get(derivationHash(a))!.out!);
    await d.store.refresh();
    expect(await holds(d.store, nameOf(engine, b))).toBe(true);
    expect((await infoOf(d.store, nameOf(engine, b))).references).toEqual([nameOf(engine, a)]);
    const inVolume = await d.store.run("read", `readlink ${d.store.path(nameOf(engine, b))}/link; ls -A ${d.store.dir}/.tmp ${d.store.dir}/.build`);
    expect(inVolume.split("\n")[0]).toBe(d.store.path(nameOf(engine, a)));

    // And back out of the volume into a fresh local store.
    const fresh = tempEngine();
    const d2 = withDocker(fresh);
    const copied = await copyClosure(d2.store, fresh.store, [nameOf(engine, b)]);
    expect(copied.copied.length).toBe(2);
    expect(fresh.store.queryPathInfo(nameOf(engine, b))!.hash).toBe(local.store.queryPathInfo(nameOf(local, b))!.hash);
    local.close();
    engine.close();
    fresh.close();
  });

  it("a container that dies fails that build with the cause and leaves both stores whole", async () => {
    const engine = tempEngine();
    const d = withDocker(engine);
    await d.store.refresh();
    const before = (await d.store.list()).map((i) => i.name).sort();
    d.onContainer = (c) => setTimeout(() => void c.kill({ signal: "SIGKILL" }).catch(() => undefined), 500);
    const slow = shDrv("dk-slow", "mkdir $out; echo partial > $out/x; sleep 30", { env: { PATH: "/bin" } });
    const { result, events } = await build(engine, graph(slow), [slow], { builder: "docker" });
    expect(result.status).toBe("failed");
    expect(eventsOf(events, "failed")[0]!.error).toMatch(/^docker backend "docker" \(.*podman\.sock, image .*\): the container died \(signal 9\)/);
    expect(engine.db.outputsOf(derivationHash(slow))).toEqual([]);
    expect(await engine.store.verify({})).toEqual([]);
    await d.store.refresh();
    expect((await d.store.list()).map((i) => i.name).sort()).toEqual(before);
    expect(await d.store.verify({})).toEqual([]);
    expect(await d.store.run("list", `ls ${d.store.dir} | grep dk-slow || true`)).toBe("");
    engine.close();
  }, 40_000);

  it("verify and gc work on the volume's store: a corrupt path is found and repaired, gc keeps the roots' closures", async () => {
    const engine = tempEngine();
    const d = withDocker(engine, { volume: `${volume}-vg` });
    const v1 = shDrv("dk-vg-one", "echo one > $out", { env: { PATH: "/bin" } });
    const v2 = shDrv("dk-vg-two", `mkdir $out; ln -s ${ref(v1)} $out/one`, { env: { PATH: "/bin" } });
    const v3 = shDrv("dk-vg-three", "echo three > $out", { env: { PATH: "/bin" } });
    const first = await build(engine, graph(v1, v2, v3), [v2, v3], { builder: "docker", keepRemote: true });
    expect(eventsOf(first.events, "failed").map((e) => e.error)).toEqual([]);
    const [n1, n2, n3] = [v1, v2, v3].map((x) => engine.db.drvOutputsRecorded([derivationHash(x)]).get(derivationHash(x))!.out!) as [string, string, string];
    expect(await d.store.verify({})).toEqual([]);
    // The same through the CLI, with the backend in the user's config.
    const config = join(tempDir(), "config.toml");
    writeFileSync(config, `[backends.docker]\nkind = "docker"\nsocket = "${podman.api.socket}"\nvolume = "${volume}-vg"\n`);
    const cli = (args: string[]) => bramble(args, { home: engine.home, env: { BRAMBLE_CONFIG: config } });
    const ok = cli(["store", "verify", "--store", "docker"]);
    expect([ok.code, ok.stdout]).toEqual([0, "store verified: all paths intact\n"]);
    await d.store.run("damage", `chmod u+w ${d.store.path(n1)} && echo evil > ${d.store.path(n1)}`);
    const bad = cli(["store", "verify", "--store", "docker"]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`corrupt: ${d.store.path(n1)} (expected `);
    expect(bad.stdout).toContain(`incomplete-closure: ${d.store.path(n2)}`);
    expect(cli(["gc", "--store", "docker", "--dry-run"]).stdout).toContain(`would delete ${d.store.path(n3)}`);
    expect((await d.store.verify({ repair: true })).map((p) => `${p.problem} ${p.name}`).sort()).toEqual([`corrupt ${n1}`, `incomplete-closure ${n2}`].sort());
    expect(await holds(d.store, n1)).toBe(false);
    expect(await holds(d.store, n2)).toBe(false);
    expect(await d.store.verify({})).toEqual([]);
    expect((await d.store.gc({ roots: [], dryRun: true })).deleted).toEqual([n3]);
    expect((await d.store.gc({ roots: [] })).deleted).toEqual([n3]);
    expect(await d.store.list()).toEqual([]);
    engine.close();
    removeVolume(`${volume}-vg`);
  }, 90_000);

  it("an unreachable engine fails the build naming the backend and the cause", async () => {
    const engine = tempEngine();
    const gone = join(tempDir(), "nothing.sock");
    withDocker(engine, { socket: gone });
    const x = shDrv("dk-x", "echo x > $out");
    const { result, events } = await build(engine, graph(x), [x], { builder: "docker" });
    expect(result.status).toBe("failed");
    expect(eventsOf(events, "failed")[0]!.error).toMatch(/backend "docker".*unavailable: no Docker engine at .*nothing\.sock/);
    engine.close();
  });
});
