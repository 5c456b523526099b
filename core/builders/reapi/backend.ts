// The reapi backend: builds on any Remote Execution API service. A derivation becomes an
// Action: a Command (the builder and args, the derivation's env plus its outputs, $system and
// $platform; the outputs as output paths), an input root holding the sources (build/), an
// empty tmp/ and the input closures at their store paths under the canonical store directory,
// and the platform properties configured for the derivation's platform. The Action Cache is
// asked first; a miss is executed. Outputs come back from the CAS, are relocated to this
// machine's store directory, and are hashed and registered in the local store exactly as a
// local build's are, so a derivation has the same output names on reapi as on local.
import { createHash } from "node:crypto";
import { cpSync, existsSync, lstatSync, mkdirSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { base32, expectedOutputHash, substituteTemplates, type Derivation } from "../../derivation/derivation.js";
import { ANY_SYSTEM } from "../../derivation/systems.js";
import { CANONICAL_STORE_DIR, hashPart, storeName } from "../../store/layout.js";
import { copySources } from "../../store/sources.js";
import { rewriteTree } from "../../store/archive.js";
import { ReapiStore } from "../../store/reapi-store.js";
import { filesContaining, relocate, removeTree, stagingDir, type LocalStore, type PathInfo, type PendingOutput } from "../../store/store.js";
import {
  backendInfo,
  BuildFailure,
  builderEnv,
  hostSystem,
  outputName,
  type Availability,
  type Backend,
  type BuildJob,
  type BuildOutcome,
} from "../backend.js";
import type { BackendInfo } from "../../model/types.js";
import { CachedProbe } from "../probe.js";
import { ReapiClient, ReapiError, digestKey, encodeMessage, type Digest, type ReapiEndpointOptions } from "./client.js";
import { ranOnLine } from "./log-facts.js";
import { digestOf, directoryMessage, materializeFile, materializeTree, treeNode, treeOf, type BlobSet, type TreeNode } from "./merkle.js";

const V2 = "build.bazel.remote.execution.v2";

export interface ReapiBackendOptions extends ReapiEndpointOptions {
  name: string;
  /** system → platform properties an Action for that system carries; its keys are the systems offered */
  platformProperties?: Record<string, Record<string, string>>;
  /** actions this backend has in flight at most (default 64) */
  actionsInFlight?: number;
  /** local builds' results are uploaded to the Action Cache (`--remote-cache`) */
  uploadLocalResults?: boolean;
  /** seconds an action keeps being retried after transient failures (default 60) */
  retrySeconds?: number;
}

/** Milliseconds to wait before retry `attempt` (1-based): doubling from 0.5 s, at most 5 s (Bazel's
 * remote retrier doubles from 0.1 s to 5 s; a farm that restarts takes seconds, not tenths). */
export function retryDelayMs(attempt: number): number {
  return Math.min(500 * 2 ** (attempt - 1), 5_000);
}

/** What a remote build reports beside its outputs (the app's node panel, the CLI). */
export interface RemoteActionInfo {
  /** the reapi backend that ran it or had it cached */
  backend: string;
  actionDigest: string;
  cached: boolean;
  worker?: string;
  /** milliseconds: queued, fetching inputs, executing, uploading outputs */
  timings?: { queuedMs?: number; inputsMs?: number; executionMs?: number; outputsMs?: number };
}

/** The default platform properties of a system: what Bazel's RBE conventions use. */
export function defaultPlatformProperties(system: string): Record<string, string> {
  const [arch, os] = system.split(/-(.*)/s) as [string, string];
  const isa: Record<string, string> = { x86_64: "x86-64", aarch64: "aarch64", i686: "x86-32", riscv64: "riscv64" };
  return { ISA: isa[arch] ?? arch, OSFamily: os ?? "linux" };
}

/**
 * The output names an Action writes to: deterministic (from the derivation hash), unlike a
 * local build's random ones, so the same derivation is the same Action on every machine and
 * its Action Cache entry can be shared. The hash part is normalized away before hashing.
 */
export function actionOutputNames(drv: Derivation, drvHash: string): Map<string, string> {
  return new Map(
    drv.outputs.map((o) => {
      const h = base32(createHash("sha256").update(`bramble-reapi-output:${drvHash}:${o}`).digest().subarray(0, 20));
      return [o, storeName(h, outputName(drv, o))] as const;
    }),
  );
}

const STORE_COMPONENTS = CANONICAL_STORE_DIR.split("/").filter(Boolean);
const STORE_REL = STORE_COMPONENTS.join("/");

/** A Command + Action for a derivation: everything but the input root's digest. */
export interface PreparedAction {
  command: Record<string, unknown>;
  commandDigest: Digest;
  action: Record<string, unknown>;
  actionDigest: Digest;
  /** output name → path relative to the working directory */
  outputPaths: Map<string, string>;
  tmpOutputs: Map<string, string>;
  blobs: BlobSet;
}

function durationMs(a?: { seconds?: number; nanos?: number }, b?: { seconds?: number; nanos?: number }): number | undefined {
  if (!a || !b) return undefined;
  return Math.max(0, ((b.seconds ?? 0) - (a.seconds ?? 0)) * 1000 + ((b.nanos ?? 0) - (a.nanos ?? 0)) / 1e6);
}

class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async take(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

const PROBE_TTL_MS = 30_000;

/** What /usr/bin/env in an input root points at: the closure's first bin/env, else its first busybox. */
export function envProgram(closure: Iterable<string>, pathOf: (name: string) => string): string | undefined {
  const names = [...closure].sort();
  for (const rel of ["bin/env", "usr/bin/env", "bin/busybox", "usr/bin/busybox"]) {
    const n = names.find((x) => existsSync(join(pathOf(x), rel)));
    if (n) return `${CANONICAL_STORE_DIR}/${n}/${rel}`;
  }
  return undefined;
}

export class ReapiBackend implements Backend {
  readonly kind = "reapi";
  readonly name: string;
  readonly client: ReapiClient;
  private readonly props: Record<string, Record<string, string>>;
  private readonly slots: Semaphore;
  /** store name → its node in the input root and its blobs (store paths never change) */
  private readonly inputNodes = new Map<string, { node: TreeNode; blobs: BlobSet }>();
  /** the last builds' remote facts, by build id (at most 1,000) */
  readonly actions = new Map<number, RemoteActionInfo>();

  private remember(buildId: number, info: RemoteActionInfo): void {
    this.actions.set(buildId, info);
    if (this.actions.size > 1000) this.actions.delete(this.actions.keys().next().value!);
  }

  constructor(
    readonly store: LocalStore,
    readonly opts: ReapiBackendOptions,
  ) {
    this.name = opts.name;
    this.client = new ReapiClient(opts);
    this.props = opts.platformProperties ?? { [hostSystem()]: defaultPlatformProperties(hostSystem()) };
    this.slots = new Semaphore(opts.actionsInFlight ?? 64);
  }

  get label(): string {
    return `reapi backend "${this.name}" (${this.client.label})`;
  }

  private cas?: ReapiStore;
  /** The service's CAS + Action Cache as a store (`bramble store copy --to reapi:NAME`). */
  realisationStore(): ReapiStore {
    return this.casStore();
  }

  casStore(): ReapiStore {
    return (this.cas ??= new ReapiStore(`reapi:${this.name}`, this.client, this.store.layout.tmpDir));
  }

  platforms(): string[] {
    return Object.keys(this.props);
  }

  private readonly probed = new CachedProbe(async () => {
    await this.client.capabilities();
    return { available: true };
  }, PROBE_TTL_MS);

  /** Asks the service for its capabilities (GetCapabilities), unless a recent answer is cached. */
  probe(): Promise<void> {
    return this.probed.probe();
  }

  /** Never waits: the last probe's answer, or "available" while the first probe runs (a failed build says otherwise). */
  availability(): Availability {
    const p = this.probed.peek();
    if (!p) return { available: true, probing: true };
    return p.available ? { available: true } : { available: false, reason: p.reason };
  }

  info(): BackendInfo {
    return backendInfo(this);
  }

  /** A system's platform properties; a fetch (platform "any") runs anywhere: the first system's. */
  private propsFor(platform: string): Record<string, string> | undefined {
    return this.props[platform] ?? (platform === ANY_SYSTEM ? Object.values(this.props)[0] : undefined);
  }

  /** Does this backend serve (as executor or cache) derivations of this platform? */
  serves(platform: string): boolean {
    return !!this.propsFor(platform);
  }

  private inputNode(name: string): { node: TreeNode; blobs: BlobSet } {
    let n = this.inputNodes.get(name);
    if (!n) {
      const blobs: BlobSet = new Map();
      // Kept for the process's life: file contents are read again when uploaded, not held.
      const node = treeNode(this.store.path(name), blobs, { from: this.store.dir, to: CANONICAL_STORE_DIR }, { keepSmall: false });
      n = { node, blobs };
      this.inputNodes.set(name, n);
    }
    return n;
  }

  /** The Command and Action of a job, with every blob they need (input root included). */
  prepare(job: Pick<BuildJob, "drv" | "drvHash" | "resolve" | "inputClosure" | "projectRoot" | "timeoutMs" | "buildId">): PreparedAction {
    const { drv } = job;
    const props = this.propsFor(drv.platform);
    if (!props) throw new Error(`it offers ${this.platforms().join(", ")}, not ${drv.platform} (set platform_properties)`);
    const blobs: BlobSet = new Map();
    const storeEntries = new Map<string, TreeNode>();
    for (const n of job.inputClosure) {
      const { node, blobs: b } = this.inputNode(n);
      storeEntries.set(n, node);
      for (const [k, v] of b) blobs.set(k, v);
    }
    let buildNode: TreeNode;
    const stage = stagingDir(this.store.layout.tmpDir, `reapi${job.buildId}`);
    try {
      const build = join(stage, "build");
      mkdirSync(build);
      if (drv.sources) copySources(job.projectRoot, drv.sources, build);
      if (drv.sources?.dir && drv.sources.dir !== ".") mkdirSync(join(build, drv.sources.dir), { recursive: true });
      buildNode = treeNode(build, blobs);
    } finally {
      removeTree(stage);
    }
    let storeNode: TreeNode = { kind: "dir", digest: directoryMessage(storeEntries, blobs) };
    for (const c of [...STORE_COMPONENTS].reverse().slice(0, -1)) storeNode = { kind: "dir", digest: directoryMessage(new Map([[c, storeNode]]), blobs) };
    const emptyDir: TreeNode = { kind: "dir", digest: directoryMessage(new Map(), blobs) };
    const rootEntries = new Map<string, TreeNode>([
      [STORE_COMPONENTS[0]!, storeNode],
      ["build", buildNode],
      ["tmp", emptyDir],
    ]);
    // Runners that chroot into the input root (Buildbarn's) start every command through
    // /usr/bin/env: it is a symlink to the input closure's first bin/env (else a busybox,
    // which acts as env when called by that name), if there is one.
    const envTarget = envProgram(job.inputClosure, (n) => this.store.path(n));
    if (envTarget) {
      const bin = directoryMessage(new Map([["env", { kind: "symlink", target: envTarget } as TreeNode]]), blobs);
      rootEntries.set("usr", { kind: "dir", digest: directoryMessage(new Map([["bin", { kind: "dir", digest: bin } as TreeNode]]), blobs) });
    }
    const inputRoot = directoryMessage(rootEntries, blobs);
    const tmpOutputs = actionOutputNames(drv, job.drvHash);
    const resolve = (s: string) => substituteTemplates(s, (ref) => `${CANONICAL_STORE_DIR}/${job.resolve(ref)}`);
    const env = builderEnv(drv, resolve, new Map([...tmpOutputs].map(([o, n]) => [o, `${CANONICAL_STORE_DIR}/${n}`] as const)), {
      tmp: "/tmp",
      buildTop: "/build",
    });
    const dir = drv.sources?.dir && drv.sources.dir !== "." ? drv.sources.dir.replace(/\/+$/, "") : "";
    const cwd = dir ? `build/${dir}` : "build";
    const up = "../".repeat(cwd.split("/").length);
    const outputPaths = new Map([...tmpOutputs].map(([o, n]) => [o, `${up}${STORE_REL}/${n}`] as const));
    const platform = {
      properties: Object.entries(props)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, value]) => ({ name, value })),
    };
    const command = {
      arguments: [resolve(drv.builder), ...drv.args.map(resolve)],
      environment_variables: Object.keys(env)
        .sort()
        .map((name) => ({ name, value: env[name]! })),
      output_paths: [...outputPaths.values()].sort(),
      working_directory: cwd,
      platform,
    };
    const commandBytes = encodeMessage(`${V2}.Command`, command);
    const commandDigest = digestOf(commandBytes);
    blobs.set(digestKey(commandDigest), { digest: commandDigest, data: () => commandBytes });
    const action: Record<string, unknown> = { command_digest: commandDigest, input_root_digest: inputRoot, platform };
    if (job.timeoutMs) action.timeout = { seconds: Math.ceil(job.timeoutMs / 1000) };
    const actionBytes = encodeMessage(`${V2}.Action`, action);
    const actionDigest = digestOf(actionBytes);
    blobs.set(digestKey(actionDigest), { digest: actionDigest, data: () => actionBytes });
    return { command, commandDigest, action, actionDigest, outputPaths, tmpOutputs, blobs };
  }

  private async uploadMissing(blobs: BlobSet): Promise<number> {
    const missing = await this.client.findMissing([...blobs.values()].map((b) => b.digest));
    await this.client.upload(missing.map((d) => blobs.get(digestKey(d))!));
    return missing.length;
  }

  async build(job: BuildJob): Promise<BuildOutcome & { remote?: RemoteActionInfo }> {
    const release = await this.slots.take();
    try {
      return await this.buildNow(job);
    } catch (e) {
      if (e instanceof BuildFailure) throw e;
      if (e instanceof ReapiError && e.code === 14 /* UNAVAILABLE */) this.probed.forget();
      throw new BuildFailure(`${this.label}: ${(e as Error).message}`);
    } finally {
      release();
    }
  }

  private async buildNow(job: BuildJob): Promise<BuildOutcome & { remote?: RemoteActionInfo }> {
    let prep: PreparedAction;
    try {
      prep = this.prepare(job);
    } catch (e) {
      throw new BuildFailure(`${this.label}: ${(e as Error).message}`);
    }
    const ad = digestKey(prep.actionDigest);
    const fail = (msg: string, code: number | null = null) => new BuildFailure(`${this.label}: ${msg} (action ${ad})`, code);
    job.log(`reapi: action ${ad} on ${this.client.label}`);
    let result: Record<string, unknown> | undefined;
    try {
      result = await this.client.getActionResult(prep.actionDigest);
    } catch (e) {
      if (e instanceof ReapiError && e.code === 14) this.probed.forget();
      throw fail(`the Action Cache lookup failed: ${(e as Error).message}`);
    }
    let cached = !!result && (result.exit_code ?? 0) === 0;
    if (!cached) {
      result = undefined;
      // Retried: a worker that died (UNAVAILABLE / ABORTED), a scheduler that restarted (the
      // stream ends, then "no workers" until its workers have reconnected), an input blob the CAS
      // lost (FAILED_PRECONDITION: upload again). Retried for a time, not a count: how long a
      // farm takes to come back is what matters, and a count of quick retries ran out first.
      const retryUntil = Date.now() + (this.opts.retrySeconds ?? 60) * 1000;
      for (let attempt = 1; ; attempt++) {
        if (job.signal.aborted) throw new BuildFailure("cancelled", null, undefined, true);
        try {
          const n = await this.uploadMissing(prep.blobs);
          if (n) job.log(`reapi: uploaded ${n} blob${n === 1 ? "" : "s"}`);
          const resp = (await this.client.execute(prep.actionDigest, { signal: job.signal })) as {
            result?: Record<string, unknown>;
            cached_result?: boolean;
            status?: { code?: number; message?: string };
            message?: string;
          };
          const code = resp.status?.code ?? 0;
          if (code === 4 /* DEADLINE_EXCEEDED */)
            throw fail(`timed out after ${job.timeoutMs ?? "the server's default"} ms: ${resp.status?.message ?? ""}`.trim());
          if (code !== 0) throw new ReapiError(`${this.client.label}: Execute: status ${code}: ${resp.status?.message ?? ""}`, code);
          result = resp.result ?? {};
          cached = !!resp.cached_result;
          break;
        } catch (e) {
          if (job.signal.aborted) throw new BuildFailure("cancelled", null, undefined, true);
          if (e instanceof BuildFailure) throw e;
          const code = e instanceof ReapiError ? e.code : undefined;
          const retryable = code === 14 || code === 10 || code === 9 || code === 13 || code === undefined;
          const delay = retryDelayMs(attempt);
          if (!retryable || Date.now() + delay > retryUntil) throw fail((e as Error).message);
          job.log(`reapi: attempt ${attempt} failed (${(e as Error).message}); retrying`);
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    }
    const r = result as {
      exit_code?: number;
      stdout_raw?: Uint8Array;
      stderr_raw?: Uint8Array;
      stdout_digest?: Digest;
      stderr_digest?: Digest;
      output_files?: { path: string; digest: Digest; is_executable?: boolean; contents?: Uint8Array }[];
      output_directories?: { path: string; tree_digest: Digest }[];
      output_symlinks?: { path: string; target: string }[];
      output_file_symlinks?: { path: string; target: string }[];
      output_directory_symlinks?: { path: string; target: string }[];
      execution_metadata?: Record<string, { seconds?: number; nanos?: number } | string | undefined>;
    };
    const md = r.execution_metadata ?? {};
    type Ts = { seconds?: number; nanos?: number };
    const info: RemoteActionInfo = {
      backend: this.name,
      actionDigest: ad,
      cached,
      ...(typeof md.worker === "string" && md.worker ? { worker: md.worker } : {}),
      timings: {
        queuedMs: durationMs(md.queued_timestamp as Ts, md.worker_start_timestamp as Ts),
        inputsMs: durationMs(md.input_fetch_start_timestamp as Ts, md.input_fetch_completed_timestamp as Ts),
        executionMs: durationMs(md.execution_start_timestamp as Ts, md.execution_completed_timestamp as Ts),
        outputsMs: durationMs(md.output_upload_start_timestamp as Ts, md.output_upload_completed_timestamp as Ts),
      },
    };
    this.remember(job.buildId, info);
    if (cached) job.log(`reapi: cached (remote): action ${ad}`);
    job.log(ranOnLine(info.worker, info.timings));
    // the builder's own output after the facts (the app reads them from the log's head)
    await this.emitLogs(job, r);
    if ((r.exit_code ?? 0) !== 0) throw fail(`builder exited with code ${r.exit_code}`, r.exit_code ?? null);
    const outputs = await this.fetchOutputs(job, prep, r, fail);
    return { outputs, remote: info };
  }

  private async emitLogs(
    job: BuildJob,
    r: { stdout_raw?: Uint8Array; stderr_raw?: Uint8Array; stdout_digest?: Digest; stderr_digest?: Digest },
  ): Promise<void> {
    for (const [raw, d] of [
      [r.stdout_raw, r.stdout_digest],
      [r.stderr_raw, r.stderr_digest],
    ] as const) {
      let text = raw && raw.length ? Buffer.from(raw).toString("utf8") : "";
      if (!text && d && d.size_bytes > 0) text = (await this.client.download([d])).get(digestKey(d))?.toString("utf8") ?? "";
      for (const line of text.split("\n").slice(0, text.endsWith("\n") ? -1 : undefined)) if (text) job.log(line);
    }
  }

  /** Outputs from the CAS into a staging directory, relocated here, then into the local store. */
  private async fetchOutputs(
    job: BuildJob,
    prep: PreparedAction,
    r: {
      output_files?: { path: string; digest: Digest; is_executable?: boolean; contents?: Uint8Array }[];
      output_directories?: { path: string; tree_digest: Digest }[];
      output_symlinks?: { path: string; target: string }[];
      output_file_symlinks?: { path: string; target: string }[];
      output_directory_symlinks?: { path: string; target: string }[];
    },
    fail: (msg: string, code?: number | null) => BuildFailure,
  ): Promise<Map<string, PathInfo>> {
    const stage = stagingDir(this.store.layout.tmpDir, `reapi-out${job.buildId}`);
    try {
      const pending: PendingOutput[] = [];
      const symlinks = [...(r.output_symlinks ?? []), ...(r.output_file_symlinks ?? []), ...(r.output_directory_symlinks ?? [])];
      for (const [o, rel] of prep.outputPaths) {
        const tmpName = prep.tmpOutputs.get(o)!;
        const dest = join(stage, tmpName);
        const file = r.output_files?.find((f) => f.path === rel);
        const dir = r.output_directories?.find((d) => d.path === rel);
        const link = symlinks.find((s) => s.path === rel);
        try {
          if (file) await materializeFile(this.client, file.digest, !!file.is_executable, dest, file.contents);
          else if (dir) await materializeTree(this.client, dir.tree_digest, dest);
          else if (link) (await import("node:fs")).symlinkSync(link.target, dest);
          else throw fail(`builder did not create output ${o} ($${o})`, 0);
        } catch (e) {
          if (e instanceof BuildFailure) throw e;
          throw fail(`fetching output ${o} from the CAS failed: ${(e as Error).message}`, 0);
        }
        relocate(dest, CANONICAL_STORE_DIR, this.store.dir);
        pending.push({ output: o, tmpPath: dest, name: outputName(job.drv, o), tmpHash: hashPart(tmpName), expectHash: expectedOutputHash(job.drv, o) });
      }
      const candidates = new Map(job.inputClosure.map((n) => [hashPart(n), n] as const));
      try {
        return await this.store.addOutputs(pending, candidates, job.drvHash, job.register);
      } catch (e) {
        throw fail((e as Error).message, 0);
      }
    } finally {
      removeTree(stage);
    }
  }

  /**
   * The remote cache for a build on another backend of this machine: if the derivation's
   * Action is in the Action Cache, its outputs are fetched and registered here ("cached
   * (remote)"); undefined when it is not (or this backend does not offer the platform).
   */
  async fetchCached(job: BuildJob): Promise<(BuildOutcome & { remote: RemoteActionInfo }) | undefined> {
    if (!this.serves(job.drv.platform)) return undefined;
    const prep = this.prepare(job);
    const r = await this.client.getActionResult(prep.actionDigest);
    if (!r || ((r.exit_code as number | undefined) ?? 0) !== 0) return undefined;
    const ad = digestKey(prep.actionDigest);
    const md = (r.execution_metadata ?? {}) as { worker?: string };
    const info: RemoteActionInfo = { backend: this.name, actionDigest: ad, cached: true, ...(md.worker ? { worker: md.worker } : {}) };
    job.log(`reapi: cached (remote) on ${this.name}: action ${ad}`);
    await this.emitLogs(job, r);
    const fail = (msg: string, code: number | null = null) => new BuildFailure(`${this.label}: ${msg} (action ${ad})`, code);
    const outputs = await this.fetchOutputs(job, prep, r as Parameters<ReapiBackend["fetchOutputs"]>[2], fail);
    this.remember(job.buildId, info);
    return { outputs, remote: info };
  }

  /**
   * Upload a local build's outputs as the ActionResult of the derivation's Action, in the form
   * a worker would have produced them (canonical store directory, the Action's output names),
   * so any machine, and this backend's workers, find it in the Action Cache.
   */
  async uploadResult(job: BuildJob, outputs: Map<string, PathInfo>): Promise<string | undefined> {
    if (!this.serves(job.drv.platform)) return undefined;
    const prep = this.prepare(job);
    const blobs: BlobSet = new Map();
    for (const k of [digestKey(prep.actionDigest), digestKey(prep.commandDigest)]) blobs.set(k, prep.blobs.get(k)!);
    const stage = stagingDir(this.store.layout.tmpDir, `reapi-up${job.buildId}`);
    try {
      const pairs: [string, string][] = [...outputs].map(([o, i]) => [hashPart(i.name), hashPart(prep.tmpOutputs.get(o)!)]);
      const result: Record<string, unknown[]> = { output_files: [], output_directories: [], output_symlinks: [] };
      for (const [o, i] of outputs) {
        const tmpName = prep.tmpOutputs.get(o)!;
        const p = join(stage, tmpName);
        cpSync(this.store.path(i.name), p, { recursive: true, verbatimSymlinks: true });
        relocate(p, this.store.dir, CANONICAL_STORE_DIR);
        for (const [from, to] of pairs) {
          const files = filesContaining(p, from);
          if (files.length) rewriteTree(p, files, from, to);
        }
        const rel = prep.outputPaths.get(o)!;
        const st = lstatSync(p);
        if (st.isSymbolicLink()) result.output_symlinks!.push({ path: rel, target: readlinkSync(p) });
        else if (st.isDirectory()) result.output_directories!.push({ path: rel, tree_digest: treeOf(p, blobs) });
        else {
          const node = treeNode(p, blobs) as Extract<TreeNode, { kind: "file" }>;
          result.output_files!.push({ path: rel, digest: node.digest, is_executable: node.executable });
        }
      }
      await this.uploadMissing(blobs);
      await this.client.updateActionResult(prep.actionDigest, {
        ...result,
        exit_code: 0,
        execution_metadata: { worker: `bramble (local build on ${hostname()})` },
      });
      return digestKey(prep.actionDigest);
    } finally {
      removeTree(stage);
    }
  }
}
