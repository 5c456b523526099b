// The docker backend: builds in containers on any Docker-compatible engine (Docker, podman's
// Docker API), reached with dockerode. Its store is a named volume mounted at the canonical
// store directory in every container. The inputs' closure is copied into the volume; the
// builder runs in a container of the configured image with no network; its outputs are
// hashed and registered here and in the volume's store under the same names.
import { existsSync } from "node:fs";
import type Docker from "dockerode";
import type { BackendInfo } from "../model/types.js";
import { RemoteStore } from "../store/remote-store.js";
import type { LocalStore } from "../store/store.js";
import { LineSplitter } from "./run.js";
import { backendInfo, BuildFailure, hostSystem, type Availability, type Backend, type BuildJob, type BuildOutcome } from "./backend.js";
import { CachedProbe } from "./probe.js";
import { DockerTransport, DOCKER_STORE_DIR, probeEngine } from "./docker-transport.js";
import { ingestOutputs, startRemoteBuild } from "./remote-build.js";

export const DEFAULT_DOCKER_IMAGE = "localhost/bramble-busybox:latest";

/** The engine to use when none is configured: $DOCKER_HOST, podman's service from setup-backends.sh, Docker's socket. */
export function defaultDockerSocket(): string {
  if (process.env.DOCKER_HOST) return process.env.DOCKER_HOST;
  for (const s of ["/run/bramble/podman.sock", "/run/podman/podman.sock", "/var/run/docker.sock"]) if (existsSync(s)) return s;
  return "/var/run/docker.sock";
}

export interface DockerBackendOptions {
  name: string;
  socket?: string;
  image?: string;
  volume?: string;
  /** systems the engine builds; by default its architecture */
  systems?: string[];
}

const PROBE_TTL_MS = 30_000;
/** How old the remote store's metadata may be at the start of a build. */
const REFRESH_MS = 30_000;
const ARCH: Record<string, string> = { amd64: "x86_64", x86_64: "x86_64", arm64: "aarch64", aarch64: "aarch64", arm: "armv7l", riscv64: "riscv64" };

export class DockerBackend implements Backend {
  readonly kind = "docker";
  readonly name: string;
  readonly store: RemoteStore;
  readonly transport: DockerTransport;
  readonly socket: string;
  readonly image: string;
  /** tests: called with each build's container once it runs */
  onContainer?: (c: Docker.Container) => void;

  constructor(
    readonly local: LocalStore,
    opts: DockerBackendOptions,
  ) {
    this.name = opts.name;
    this.socket = opts.socket ?? defaultDockerSocket();
    this.image = opts.image ?? DEFAULT_DOCKER_IMAGE;
    this.systems = opts.systems;
    this.transport = new DockerTransport({ socket: this.socket, image: this.image, volume: opts.volume ?? `bramble-store-${opts.name}`, backend: this.name });
    this.store = new RemoteStore(this.name, DOCKER_STORE_DIR, this.transport, { local: local.layout, index: local.db });
  }

  private readonly systems?: string[];

  get label(): string {
    return `docker backend "${this.name}" (${this.socket}, image ${this.image})`;
  }

  private readonly probed = new CachedProbe(async () => {
    const r = await probeEngine(this.transport.docker, this.image).catch((e: Error) => {
      throw new Error(`cannot reach the Docker engine at ${this.socket}: ${e.message}`);
    });
    const sys = `${ARCH[r.arch ?? ""] ?? r.arch}-${(r.os ?? "linux").toLowerCase()}`;
    if (!r.imageOk) return { available: false, reason: `the image ${this.image} is not on the engine at ${this.socket} (scripts/setup-backends.sh makes one)`, systems: [sys] };
    return { available: true, systems: [sys] };
  }, PROBE_TTL_MS);

  platforms(): string[] {
    return this.systems ?? this.probed.result?.systems ?? [hostSystem()];
  }

  probe(): Promise<void> {
    return this.probed.probe();
  }

  /**
   * Never waits: a missing socket is unavailable; otherwise the last probe's answer, or
   * "available" while the first probe runs (in the background) — a failed build says otherwise.
   */
  availability(): Availability {
    const path = this.socket.replace(/^unix:\/\//, "");
    if (path.startsWith("/") && !existsSync(path)) return { available: false, reason: `no Docker engine at ${this.socket} (no such socket)` };
    const p = this.probed.peek();
    if (!p) return { available: true, probing: true };
    return p.available ? { available: true } : { available: false, reason: p.reason };
  }

  info(): BackendInfo {
    return backendInfo(this);
  }

  async build(job: BuildJob): Promise<BuildOutcome> {
    const label = this.label;
    // Planned while the probe ran (or forced): its answer decides now.
    await this.probe();
    const a = this.availability();
    if (!a.available) throw new BuildFailure(`${label} is unavailable: ${a.reason}`);
    if (!this.platforms().includes(job.drv.platform)) throw new BuildFailure(`${label} does not offer ${job.drv.platform} (it offers ${this.platforms().join(", ") || "nothing"})`);
    const { cmd, leftovers, fail } = await startRemoteBuild(label, job, this.local, this.store, (dir, rels, to) => this.transport.putTar(dir, rels, to), {
      refreshMs: REFRESH_MS,
      onInputsFailed: () => this.probed.forget(),
    });
    try {
      const out = new LineSplitter(job.log);
      const err = new LineSplitter(job.log);
      let result;
      try {
        result = await this.transport.run({
          cmd: [cmd.builder, ...cmd.args],
          env: Object.entries(cmd.env).map(([k, v]) => `${k}=${v}`),
          workingDir: cmd.cwd,
          labels: { "bramble.build": String(job.buildId) },
          signal: job.signal,
          timeoutMs: job.timeoutMs,
          onStdout: (c) => out.push(c),
          onStderr: (c) => err.push(c),
          onStart: (c) => this.onContainer?.(c),
        });
      } catch (e) {
        this.probed.forget();
        throw fail(`could not run the container: ${(e as Error).message}`);
      } finally {
        out.end();
        err.end();
      }
      if (result.cancelled) throw new BuildFailure("cancelled", null, undefined, true);
      if (result.timedOut) throw fail(`timed out after ${job.timeoutMs} ms`);
      if (result.oomKilled) throw fail(`the container died: out of memory (exit ${result.exitCode})`, result.exitCode);
      if (result.exitCode === null || result.exitCode > 128 || result.error) {
        const sig = result.exitCode !== null && result.exitCode > 128 ? ` (signal ${result.exitCode - 128})` : "";
        throw fail(`the container died${sig}: exit ${result.exitCode}${result.error ? `, ${result.error}` : ""}`, result.exitCode);
      }
      if (result.exitCode !== 0) throw fail(`builder exited with code ${result.exitCode}`, result.exitCode);
      return await ingestOutputs(label, this.local, this.store, job, cmd.tmpOutputs, (names, into) => this.transport.getTar(this.store.dir, names, into), leftovers);
    } finally {
      await this.store.removeTemp(leftovers);
    }
  }
}
