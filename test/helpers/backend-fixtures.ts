// Set-up shared by the suites that build on real podman (a Docker API), sshd and Buildbarn, and
// by the reliability suites (test/backends, test/reliability, test/reapi): one copy of each
// block they repeated.
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { Engine } from "../../core/build/engine.js";
import { hostSystem } from "../../core/builders/backend.js";
import type { BackendConfig } from "../../core/builders/backends-config.js";
import type { DockerBackend } from "../../core/builders/docker.js";
import type { SshBackend } from "../../core/builders/ssh.js";
import type { Derivation } from "../../core/derivation/derivation.js";
import { cleanupTemps, ref, shDrv, tempDir, tempEngine, useBackends } from "../backends/helpers.js";
import { ensureImage, removeVolume, startPodmanService, type TestEngine } from "../backends/podman.js";
import type { TestSshd } from "../backends/sshd.js";

/** Call at a test file's top level: the function it returns opens a temporary engine, closed after all the file's tests. */
export function enginesClosedAfterAll(): () => Engine {
  const engines: Engine[] = [];
  afterAll(() => {
    for (const e of engines) e.close();
  });
  return () => {
    const e = tempEngine();
    engines.push(e);
    return e;
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface PodmanFixture {
  /** the running service (set once beforeAll has run) */
  readonly api: TestEngine;
  /** a store volume of this suite's own, removed afterwards */
  readonly volume: string;
  /** the config of a docker backend named "docker" on this service and volume (`extra` overrides) */
  dockerConfig(extra?: Partial<BackendConfig>): BackendConfig;
  /** give `engine` that backend (dockerConfig) and return it */
  docker(engine: Engine, extra?: Partial<BackendConfig>): DockerBackend;
}

/**
 * Call in a describe: podman's Docker API service (started in beforeAll, with the local busybox
 * image) and a volume named `<prefix>-<pid>-<random>`, both gone in afterAll.
 */
export function usePodman(prefix: string): PodmanFixture {
  const volume = `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
  let api: TestEngine | undefined;
  beforeAll(async () => {
    ensureImage();
    api = await startPodmanService(tempDir("bramble-podman-"));
  });
  afterAll(async () => {
    removeVolume(volume);
    await api?.stop();
    cleanupTemps();
  });
  const started = (): TestEngine => {
    if (!api) throw new Error("the podman service is not started yet (use it in a test, not while collecting)");
    return api;
  };
  const dockerConfig = (extra: Partial<BackendConfig> = {}): BackendConfig => ({ name: "docker", kind: "docker", socket: started().socket, volume, ...extra });
  return {
    get api() {
      return started();
    },
    volume,
    dockerConfig,
    docker(engine, extra = {}) {
      useBackends(engine, [dockerConfig(extra)]);
      return engine.backends.find((b) => b.name === "docker") as DockerBackend;
    },
  };
}

/** The config of an ssh backend named "box" on a test sshd, with a fresh remote store (`extra` overrides). */
export function sshConfig(sshd: TestSshd, extra: Partial<BackendConfig> = {}): BackendConfig {
  return {
    name: "box",
    kind: "ssh",
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    identity: sshd.identity,
    known_hosts: sshd.knownHosts,
    store: join(tempDir("bramble-rs-"), "r"),
    ...extra,
  };
}

/** Give `engine` the ssh backend "box" on `sshd` (sshConfig) and return it. */
export function useSsh(engine: Engine, sshd: TestSshd, extra: Partial<BackendConfig> = {}): SshBackend {
  useBackends(engine, [sshConfig(sshd, extra)]);
  return engine.backends.find((b) => b.name === "box") as SshBackend;
}

let busyboxDrv: Derivation | undefined;

/** busybox with its applet links, from the host's /bin/busybox: the Buildbarn workers' one tool (made on first use). */
export function hostBusybox(): Derivation {
  busyboxDrv ??= shDrv(
    "busybox",
    "mkdir -p $out/bin && cp /bin/busybox $out/bin/ && for a in $($out/bin/busybox --list); do [ -e $out/bin/$a ] || ln -s busybox $out/bin/$a; done",
  );
  return busyboxDrv;
}

/** A derivation that runs `script` with hostBusybox()'s sh on the reapi backend "bb". */
export function bbDrv(name: string, script: string, extra: Partial<Derivation> = {}): Derivation {
  const busybox = hostBusybox();
  return {
    name,
    builder: `${ref(busybox)}/bin/sh`,
    args: ["-c", script],
    env: { PATH: `${ref(busybox)}/bin` },
    outputs: ["out"],
    network: false,
    platform: hostSystem(),
    system: hostSystem(),
    builderBackend: "bb",
    ...extra,
  };
}
