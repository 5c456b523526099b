// The docker backend: builds in containers on any Docker-compatible engine (Docker, podman's
// Docker API), reached with dockerode. Its store is a named volume mounted at the canonical
// store directory in every container. The inputs' closure is copied into the volume; the
// builder runs in a container of the configured image with no network; its outputs are
// hashed and registered here and in the volume's store under the same names.
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { rewriteTree } from "../store/archive.js";
import { makeWritable } from "../store/store.js";
import type Docker from "dockerode";
import type { BackendInfo } from "../model/types.js";
import { RemoteStore } from "../store/remote-store.js";
import type { LocalStore } from "../store/store.js";
import { LineSplitter } from "./run.js";
import { backendInfo, BuildFailure, hostSystem, type Availability, type Backend, type BuildJob, type BuildOutcome } from "./backend.js";
import { CachedProbe } from "./probe.js";
import { dockerClient, DockerTransport, DOCKER_SCRATCH_DIR, DOCKER_STORE_DIR, probeEngine } from "./docker-transport.js";
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

  private readonly probed = new CachedProbe(async (background) => {
    const r = await probeEngine(background ? dockerClient(this.socket, { background }) : this.transport.docker, this.image).catch((e: Error) => {
      throw new Error(`cannot reach the Docker engine at ${this.socket}: ${e.message}`);
    });
    const sys = `${ARCH[r.arch ?? ""] ?? r.arch}-${(r.os ?? "linux").toLowerCase()}`;
    if (!r.imageOk)
      return {
        available: false,
        reason: `the image ${this.image} is not on the engine at ${this.socket} (scripts/setup-backends.sh makes one)`,
        systems: [sys],
      };
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

  /**
   * The store volume is mounted read-only in a build's container: one build can change neither
   * another's input nor any registered path. Its build directory and outputs live in a volume
   * of its own at DOCKER_SCRATCH_DIR, removed afterwards.
   */
  async build(job: BuildJob): Promise<BuildOutcome> {
    const scratch = `bramble-build-${process.pid}-${job.buildId}-${randomBytes(4).toString("hex")}`;
    try {
      return await this.buildIn(job, scratch);
    } finally {
      await this.transport.removeVolume(scratch).catch(() => undefined);
    }
  }

  private async buildIn(job: BuildJob, scratch: string): Promise<BuildOutcome> {
    const label = this.label;
    // Planned while the probe ran (or forced): its answer decides now.
    await this.probe();
    const a = this.availability();
    if (!a.available) throw new BuildFailure(`${label} is unavailable: ${a.reason}`);
    if (!this.platforms().includes(job.drv.platform))
      throw new BuildFailure(`${label} does not offer ${job.drv.platform} (it offers ${this.platforms().join(", ") || "nothing"})`);
    try {
      await this.transport.createVolume(scratch);
    } catch (e) {
      throw new BuildFailure(`${label}: could not create the build's volume: ${(e as Error).message}`);
    }
    const toScratchDir = (dir: string) => DOCKER_SCRATCH_DIR + dir.slice(DOCKER_STORE_DIR.length);
    const { top, cmd, leftovers, fail } = await startRemoteBuild(
      label,
      job,
      this.local,
      this.store,
      (dir, rels, to) => this.transport.putTar(dir, rels, toScratchDir(to), scratch),
      {
        refreshMs: REFRESH_MS,
        onInputsFailed: () => this.probed.forget(),
      },
    );
    try {
      const out = new LineSplitter(job.log);
      const err = new LineSplitter(job.log);
      let result;
      try {
        // The build directory and the outputs are in the build's volume, at the same-length DOCKER_SCRATCH_DIR.
        const moved = [top, ...[...cmd.tmpOutputs.values()].map((n) => `${DOCKER_STORE_DIR}/${n}`)];
        const scratchPath = (s: string) => moved.reduce((r, m) => r.split(m).join(DOCKER_SCRATCH_DIR + m.slice(DOCKER_STORE_DIR.length)), s);
        result = await this.transport.run({
          cmd: [cmd.builder, ...cmd.args].map(scratchPath),
          env: Object.entries(cmd.env).map(([k, v]) => `${k}=${scratchPath(v)}`),
          workingDir: scratchPath(cmd.cwd),
          storeReadOnly: true,
          volumes: [{ volume: scratch, target: DOCKER_SCRATCH_DIR }],
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
      const fetchOutputs = async (names: string[], into: string) => {
        await this.transport.getTar(DOCKER_SCRATCH_DIR, names, into, scratch);
        for (const n of names) relocateTree(join(into, n), DOCKER_SCRATCH_DIR, DOCKER_STORE_DIR);
      };
      return await ingestOutputs(label, this.local, this.store, job, cmd.tmpOutputs, fetchOutputs, leftovers);
    } finally {
      await this.store.removeTemp(leftovers);
    }
  }
}

/** Replace `from` by `to` (same length) in every file and symlink of a fetched tree that holds it. */
function relocateTree(root: string, from: string, to: string): void {
  const needle = Buffer.from(from);
  const rels: string[] = [];
  const walk = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    if (st.isDirectory()) for (const e of readdirSync(abs)) walk(join(abs, e), rel ? `${rel}/${e}` : e);
    else if (st.isSymbolicLink() ? readlinkSync(abs).includes(from) : st.isFile() && readFileSync(abs).includes(needle)) rels.push(rel);
  };
  walk(root, "");
  if (!rels.length) return;
  makeWritable(root);
  rewriteTree(root, rels, from, to);
}
