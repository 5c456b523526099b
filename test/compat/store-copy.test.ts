// `store copy` to a backend's store (ssh, docker) carries the realisations too, as `nix copy`
// does, so that store uses the copy: an engine that never built the derivations (another
// BRAMBLE_PATH, another machine) and builds them on that backend finds them there (cached),
// instead of building them again. Real sshd, podman and Buildbarn, as the backend and reapi
// suites start them.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localCaller } from "../../core/api/local.js";
import { createService } from "../../core/api/service.js";
import type { BackendConfig } from "../../core/builders/backends-config.js";
import { closeMasters } from "../../core/builders/ssh-transport.js";
import type { RemoteStore } from "../../core/store/remote-store.js";
import { derivationHash } from "../../core/derivation/derivation.js";
import { build, cleanupTemps, eventsOf, graph, ref, shDrv, skipReason, tempDir, tempEngine, useBackends } from "../backends/helpers.js";
import { ensureImage, podmanUnavailable, removeVolume, startPodmanService, type TestEngine } from "../backends/podman.js";
import { sshdUnavailable, startSshd, type TestSshd } from "../backends/sshd.js";
import { type Cluster, startCluster } from "../reapi/cluster.js";
import { sshConfig } from "../helpers/backend-fixtures.js";

/**
 * Build a → b in one engine's local store, `store copy --from local --to <backend> b`, then
 * build both with `builder` in a fresh engine: both are cached from the backend's store.
 */
async function copyThenUse(config: BackendConfig, path: string, store = config.name): Promise<void> {
  const tag = randomBytes(3).toString("hex");
  const a = shDrv(`cp-a-${tag}`, "echo a > $out", { env: { PATH: path } });
  const b = shDrv(`cp-b-${tag}`, `mkdir $out; cat ${ref(a)} > $out/a; ln -s ${ref(a)} $out/link`, { env: { PATH: path } });
  const drvs = graph(a, b);

  const host = createService({ home: join(tempDir(), "home") });
  try {
    const built = await build(host.engine, drvs, [b]);
    expect(built.result.status).toBe("built");
    useBackends(host.engine, [config]);
    const r = await localCaller(host)("store.copy", { from: "local", to: store, paths: [built.result.outputs.get(derivationHash(b))!.out!] });
    expect(r.copied).toHaveLength(2);
    // each derivation's one output, carried beside the paths
    expect(r.linked).toBe(2);
  } finally {
    host.close();
  }

  // Another engine, whose database has never seen a or b, building on that backend.
  const other = tempEngine();
  useBackends(other, [config]);
  const again = await build(other, drvs, [b], { builder: config.name });
  expect(eventsOf(again.events, "failed").map((e) => e.error)).toEqual([]);
  expect(eventsOf(again.events, "started")).toEqual([]);
  expect(
    eventsOf(again.events, "cached")
      .map((e) => e.hash)
      .sort(),
  ).toEqual([derivationHash(a), derivationHash(b)].sort());
  other.close();
}

const whySsh = skipReason("store copy (ssh)", sshdUnavailable());

describe.skipIf(whySsh)("store copy --to an ssh store", () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd(tempDir("bramble-sshd-"));
  });
  afterAll(async () => {
    closeMasters();
    await sshd?.stop();
    cleanupTemps();
  });

  it("carries the realisations: another engine building on that host uses the copy", async () => {
    const config = sshConfig(sshd);
    await copyThenUse(config, "/usr/bin:/bin");

    // gc of that store keeps the realisations: .realisations/ is no leftover, however old.
    const engine = tempEngine();
    const box = useBackends(engine, [config]).find((x) => x.name === "box")!.store as RemoteStore;
    await box.run("ageing", `touch -d '3 hours ago' ${box.dir}/.realisations`);
    const all = (await box.list()).map((i) => i.name);
    const gc = await box.gc({ roots: all, dryRun: false, liveDerivations: new Set() });
    expect(gc.deleted).toEqual([]);
    expect((await box.run("listing", `ls ${box.dir}/.realisations | wc -l`)).trim()).toBe("2");
    engine.close();
  }, 120_000);
});

const whyDocker = skipReason("store copy (docker)", podmanUnavailable());

describe.skipIf(whyDocker)("store copy --to a docker store", () => {
  let api: TestEngine;
  const volume = `bramble-test-${process.pid}-${randomBytes(3).toString("hex")}`;
  beforeAll(async () => {
    ensureImage();
    api = await startPodmanService(tempDir("bramble-podman-"));
  });
  afterAll(async () => {
    removeVolume(volume);
    await api?.stop();
    cleanupTemps();
  });

  it("carries the realisations: another engine building on that engine uses the copy", async () => {
    await copyThenUse({ name: "docker", kind: "docker", socket: api.socket, volume }, "/bin:/usr/bin");
  }, 180_000);
});

describe("store copy --to a reapi service's CAS", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 300_000);
  afterAll(async () => {
    await cluster?.stop();
    cleanupTemps();
  });

  it("carries the realisations: another engine building on the farm takes the outputs from its CAS", async () => {
    await copyThenUse(
      { name: "farm", kind: "reapi", endpoint: cluster.endpoint, platform_properties: cluster.platformProperties },
      "/usr/bin:/bin",
      "reapi:farm",
    );
  }, 180_000);
});
