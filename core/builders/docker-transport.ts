// A Docker-compatible engine (Docker, or podman's Docker API) as a StoreTransport. The store
// is a named volume mounted at the canonical store directory in every container; scripts run
// in short-lived containers of the builder image (sh and tar come from it), and trees move
// with the engine's archive API.
import { PassThrough, type Duplex, type Readable } from "node:stream";
import http from "node:http";
import Docker from "dockerode";
import { CANONICAL_STORE_DIR } from "../store/layout.js";
import type { ExecResult, StoreTransport } from "../store/remote-store.js";
import { packTrees, unpackTrees } from "../store/tar.js";

/** Where the store volume is mounted in every container: the canonical store directory. */
export const DOCKER_STORE_DIR = CANONICAL_STORE_DIR;
/**
 * Where a build's own volume (its build directory and outputs) is mounted in its container, as
 * long as the store directory: what the builder wrote there is relocated to the store
 * directory by a same-length rewrite before it is hashed (docker.ts).
 */
export const DOCKER_SCRATCH_DIR = "/bramble/build".padEnd(DOCKER_STORE_DIR.length, "_");

export interface DockerTarget {
  /** unix socket path, or a `unix://`, `tcp://` or `http://` URL */
  socket: string;
  image: string;
  volume: string;
  /** the backend's name, put on containers as a label */
  backend: string;
}

/** An HTTP agent whose connections do not keep the process alive: for questions nobody waits for. */
class BackgroundAgent extends http.Agent {
  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const s = super.createConnection(options, callback);
    (s as { unref?: () => void } | null | undefined)?.unref?.();
    return s;
  }
}

/** A dockerode client; `background`: its requests do not keep the process alive (a background probe). */
export function dockerClient(socket: string, opts: { background?: boolean } = {}): Docker {
  const agent = opts.background ? { agent: new BackgroundAgent() } : {};
  if (socket.startsWith("tcp://") || socket.startsWith("http://")) {
    const u = new URL(socket.replace(/^tcp:/, "http:"));
    return new Docker({ host: u.hostname, port: Number(u.port || 2375), protocol: "http", ...agent });
  }
  return new Docker({ socketPath: socket.replace(/^unix:\/\//, ""), ...agent });
}

/** Collect a container's output (multiplexed stdout/stderr) as text. */
function demux(docker: Docker, stream: Readable, onStdout: (c: Buffer) => void, onStderr: (c: Buffer) => void): Promise<void> {
  const out = new PassThrough();
  const err = new PassThrough();
  out.on("data", onStdout);
  err.on("data", onStderr);
  docker.modem.demuxStream(stream, out, err);
  return new Promise((resolve, reject) => {
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", reject);
  });
}

export interface RunOptions {
  cmd: string[];
  env?: string[];
  workingDir?: string;
  labels?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
  onStdout?: (c: Buffer) => void;
  onStderr?: (c: Buffer) => void;
  /** called with the container once it runs (tests kill it) */
  onStart?: (c: Docker.Container) => void;
  /** mount the store volume read-only (a build's container) */
  storeReadOnly?: boolean;
  /** more named volumes to mount, writable */
  volumes?: { volume: string; target: string }[];
}

export interface RunResult {
  exitCode: number | null;
  oomKilled: boolean;
  cancelled: boolean;
  timedOut: boolean;
  /** the engine's error text, if the container stopped for a reason of its own */
  error?: string;
}

export class DockerTransport implements StoreTransport {
  readonly label: string;
  private client: Docker | undefined;
  /** the store volume's creation, shared by every caller (two builds at once both found it missing) */
  private volumeReady: Promise<void> | undefined;

  constructor(readonly target: DockerTarget) {
    this.label = `docker ${target.socket}`;
  }

  /**
   * The dockerode client, made on first use: every command that opens the service configures
   * this backend, and making the client loads dockerode and ssh2 (issue 17 point 4).
   */
  get docker(): Docker {
    this.client ??= dockerClient(this.target.socket);
    return this.client;
  }

  ensureVolume(): Promise<void> {
    this.volumeReady ??= this.makeVolume().catch((e: unknown) => {
      this.volumeReady = undefined; // a later call tries again
      throw e;
    });
    return this.volumeReady;
  }

  private async makeVolume(): Promise<void> {
    const volume = this.docker.getVolume(this.target.volume);
    try {
      await volume.inspect();
      return;
    } catch {
      // missing: create it below
    }
    try {
      await this.docker.createVolume({ Name: this.target.volume, Labels: { "bramble.backend": this.target.backend } });
    } catch (e) {
      // Another process made it in the meantime ("volume already exists"): that one will do.
      await volume.inspect().catch(() => {
        throw e;
      });
    }
  }

  private async create(o: RunOptions): Promise<Docker.Container> {
    await this.ensureVolume();
    return this.docker.createContainer({
      Image: this.target.image,
      Cmd: o.cmd,
      Env: o.env ?? ["PATH=/bin:/usr/bin"],
      WorkingDir: o.workingDir,
      Labels: { "bramble.backend": this.target.backend, ...(o.labels ?? {}) },
      NetworkDisabled: true,
      HostConfig: {
        Binds: [`${this.target.volume}:${DOCKER_STORE_DIR}${o.storeReadOnly ? ":ro" : ""}`, ...(o.volumes ?? []).map((v) => `${v.volume}:${v.target}`)],
        NetworkMode: "none",
      },
    });
  }

  /** Run a container to completion, streaming its output; it is removed afterwards. */
  async run(o: RunOptions): Promise<RunResult> {
    const c = await this.create(o);
    let cancelled = false;
    let timedOut = false;
    const kill = () => c.kill({ signal: "SIGKILL" }).catch(() => undefined);
    const onAbort = () => {
      cancelled = true;
      void kill();
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      const stream = (await c.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
      const done = demux(this.docker, stream, o.onStdout ?? (() => undefined), o.onStderr ?? (() => undefined));
      await c.start();
      const waited = c.wait();
      o.onStart?.(c);
      if (o.signal?.aborted) onAbort();
      o.signal?.addEventListener("abort", onAbort, { once: true });
      if (o.timeoutMs)
        timer = setTimeout(() => {
          timedOut = true;
          void kill();
        }, o.timeoutMs);
      const w = (await waited) as { StatusCode: number; Error?: { Message?: string } | null };
      await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
      let oomKilled = false;
      let error: string | undefined = w.Error?.Message || undefined;
      try {
        const st = (await c.inspect()).State;
        oomKilled = !!st.OOMKilled;
        error = error || st.Error || undefined;
      } catch {
        /* gone already */
      }
      return { exitCode: w.StatusCode ?? null, oomKilled, cancelled, timedOut, error };
    } finally {
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      await c.remove({ force: true, v: false }).catch(() => undefined);
    }
  }

  async exec(script: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<ExecResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const r = await this.run({
      cmd: ["sh", "-c", script],
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
      onStdout: (c) => out.push(c),
      onStderr: (c) => err.push(c),
    });
    return { code: r.exitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() + (r.error ?? "") };
  }

  /** A volume of a build's own (its build directory and outputs, at DOCKER_SCRATCH_DIR). */
  async createVolume(name: string): Promise<void> {
    await this.docker.createVolume({ Name: name, Labels: { "bramble.backend": this.target.backend, "bramble.scratch": "1" } });
  }

  async removeVolume(name: string): Promise<void> {
    await this.docker.getVolume(name).remove({ force: true });
  }

  /** `scratch`: read from that build volume (mounted at DOCKER_SCRATCH_DIR) instead of the store. */
  async getTar(dir: string, rels: string[], localDir: string, scratch?: string): Promise<void> {
    const c = await this.create({ cmd: ["true"], volumes: scratch ? [{ volume: scratch, target: DOCKER_SCRATCH_DIR }] : [] });
    try {
      for (const rel of rels) {
        const archive = (await c.getArchive({ path: `${dir}/${rel}` })) as unknown as Readable;
        await unpackTrees(archive, localDir);
      }
    } finally {
      await c.remove({ force: true }).catch(() => undefined);
    }
  }

  /** `scratch`: write into that build volume (mounted at DOCKER_SCRATCH_DIR) instead of the store. */
  async putTar(localDir: string, rels: string[], dir: string, scratch?: string): Promise<void> {
    // The archive API needs an existing directory: unpack at the volume's root, with the
    // entries put under `dir` (tar creates the directories on the way).
    const root = scratch ? DOCKER_SCRATCH_DIR : DOCKER_STORE_DIR;
    if (dir !== root && !dir.startsWith(`${root}/`)) throw new Error(`${dir} is outside the ${scratch ? "build's" : "store"} volume`);
    const prefix = dir.slice(root.length + 1);
    const c = await this.create({ cmd: ["true"], volumes: scratch ? [{ volume: scratch, target: DOCKER_SCRATCH_DIR }] : [] });
    try {
      await c.putArchive(packTrees(localDir, rels, { prefix }), { path: root });
    } finally {
      await c.remove({ force: true }).catch(() => undefined);
    }
  }
}

/**
 * Ask the engine (dockerode) whether it is reachable, its architecture, and whether the image
 * is there; bounded by `timeoutMs`. The bound is generous: podman answers its first request
 * only after opening its storage, which on a busy machine took over 5 s; planning never
 * waits on the probe, so only a build that needs docker waits this long for a dead engine.
 */
export async function probeEngine(docker: Docker, image: string, timeoutMs = 20_000): Promise<{ arch?: string; os?: string; imageOk: boolean }> {
  // Aborted, not just left behind, when the engine does not answer: a pending request would keep
  // the process alive.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
  timer.unref();
  try {
    // dockerode takes an abortSignal here; its type declarations do not say so.
    const version = docker.version as unknown as (this: Docker, o: { abortSignal: AbortSignal }) => Promise<Docker.DockerVersion>;
    const v = await version.call(docker, { abortSignal: abort.signal });
    const images = (await docker.listImages({ filters: { reference: [image] }, abortSignal: abort.signal })) as { RepoTags?: string[] | null }[];
    const want = image.includes(":") ? image : `${image}:latest`;
    return { arch: v.Arch, os: v.Os, imageOk: images.some((i) => (i.RepoTags ?? []).includes(want)) };
  } catch (e) {
    throw abort.signal.aborted ? new Error(`no answer in ${timeoutMs} ms`) : e;
  } finally {
    clearTimeout(timer);
  }
}
