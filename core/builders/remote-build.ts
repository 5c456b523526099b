// What the ssh and docker backends share: a build in another store. The scheduler has
// copied the inputs' closure there; the builder sees that store's paths; its outputs come
// over the connection to be hashed here, go back, and are registered in the remote store
// (and recorded in the DB by the job's register) under content-addressed names.
import { randomBytes } from "node:crypto";
import { lstatSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { expectedOutputHash, substituteTemplates, type Derivation } from "../derivation/derivation.js";
import { hashPart } from "../store/layout.js";
import { RemoteStoreError, type RemoteStore } from "../store/remote-store.js";
import { copySources } from "../store/sources.js";
import { makeWritable, removeTree, stagingDir, type LocalStore, type PendingOutput } from "../store/store.js";
import { BuildFailure, builderEnv, outputName, temporaryOutputNames, type BuildJob, type BuildOutcome } from "./backend.js";

export interface RemoteCommand {
  builder: string;
  args: string[];
  env: Record<string, string>;
  /** working directory on the other side */
  cwd: string;
  /** output name → temporary store name the builder writes to */
  tmpOutputs: Map<string, string>;
}

/** A remote build set up on the other side: inputs copied, build directory uploaded. */
export interface RemoteBuildStart {
  /** the remote build directory (sources in build/, scratch in tmp/) */
  top: string;
  cmd: RemoteCommand;
  /** what to remove on the other side afterwards, relative to its store */
  leftovers: string[];
  fail: (msg: string, code?: number | null) => BuildFailure;
}

/**
 * The first steps every remote build takes: bring the inputs' closure into the remote
 * store, then upload the staged build directory. `onInputsFailed` lets the backend forget
 * what it knew of the remote side (it may be gone).
 */
export async function startRemoteBuild(
  label: string,
  job: BuildJob,
  local: LocalStore,
  remote: RemoteStore,
  putTar: (localDir: string, rels: string[], dir: string) => Promise<void>,
  opts: { refreshMs: number; onInputsFailed: () => void },
): Promise<RemoteBuildStart> {
  const fail = (msg: string, code: number | null = null) => new BuildFailure(`${label}: ${msg}`, code);
  // The scheduler has copied the inputs' closure here (copyClosure); make sure it is still here.
  try {
    await remote.refresh(opts.refreshMs);
    const have = await remote.queryPathInfos(job.inputClosure);
    const absent = job.inputClosure.filter((n) => !have.has(n));
    if (absent.length) throw new Error(`${absent.join(", ")} ${absent.length === 1 ? "is" : "are"} not in its store`);
  } catch (e) {
    opts.onInputsFailed();
    throw fail(`could not find the inputs: ${(e as Error).message}`);
  }
  const tag = `${process.pid}-${job.buildId}-${randomBytes(4).toString("hex")}`;
  const top = `${remote.dir}/.build/${tag}`;
  const cmd = remoteCommand(job, remote, top);
  const leftovers = [`.build/${tag}`, ...cmd.tmpOutputs.values()];
  let stage: string | undefined;
  try {
    stage = stageBuildDir(local, job);
    await putTar(stage, ["build", "tmp"], top);
  } catch (e) {
    await remote.removeTemp(leftovers).catch(() => {});
    throw fail(`could not upload the build directory: ${(e as Error).message}`);
  } finally {
    if (stage) removeTree(stage);
  }
  return { top, cmd, leftovers, fail };
}

/** The builder's command and environment as it runs on the other side, in `buildTop`. */
export function remoteCommand(job: BuildJob, remote: RemoteStore, buildTop: string): RemoteCommand {
  const drv: Derivation = job.drv;
  const resolve = (s: string) => substituteTemplates(s, (ref) => remote.path(job.resolve(ref)));
  const tmpOutputs = temporaryOutputNames(drv);
  const env = builderEnv(drv, resolve, new Map([...tmpOutputs].map(([o, n]) => [o, remote.path(n)] as const)), {
    tmp: `${buildTop}/tmp`,
    buildTop: `${buildTop}/build`,
  });
  const dir = drv.sources?.dir && drv.sources.dir !== "." ? drv.sources.dir : "";
  return {
    builder: resolve(drv.builder),
    args: drv.args.map(resolve),
    env,
    cwd: dir ? `${buildTop}/build/${dir}` : `${buildTop}/build`,
    tmpOutputs,
  };
}

/** A local directory holding `build/` (the sources) and `tmp/`, to upload as the build directory. */
export function stageBuildDir(local: LocalStore, job: BuildJob): string {
  const stage = stagingDir(local.layout.tmpDir, `b${job.buildId}`);
  mkdirSync(join(stage, "build"));
  mkdirSync(join(stage, "tmp"));
  if (job.drv.sources) copySources(job.projectRoot, job.drv.sources, join(stage, "build"));
  if (job.drv.sources?.dir && job.drv.sources.dir !== ".") mkdirSync(join(stage, "build", job.drv.sources.dir), { recursive: true });
  return stage;
}

/**
 * Register a finished build's outputs in the store they were built in: `fetch` puts the
 * remote trees (named by their temporary store names) into a local staging directory, where
 * they are hashed, renamed and canonicalized exactly as a local build's outputs are; they go
 * back up to the remote store, valid there under their final names, and are recorded (the
 * job's `register`). The local store is not touched: outputs come here only when needed.
 */
export async function ingestOutputs(
  label: string,
  local: LocalStore,
  remote: RemoteStore,
  job: BuildJob,
  tmpOutputs: Map<string, string>,
  fetch: (names: string[], into: string) => Promise<void>,
  /** the build's leftovers on the other side, removed with the upload (then emptied) */
  leftovers: string[] = [],
): Promise<BuildOutcome> {
  const stage = stagingDir(local.layout.tmpDir, `out${job.buildId}`);
  try {
    try {
      await fetch([...tmpOutputs.values()], stage);
    } catch (e) {
      throw new BuildFailure(`${label}: fetching the outputs failed: ${(e as Error).message}`, 0);
    }
    const pending: PendingOutput[] = [];
    for (const [o, name] of tmpOutputs) {
      const p = join(stage, name);
      try {
        lstatSync(p);
      } catch {
        throw new BuildFailure(`${label}: builder did not create output ${o} ($${o})`, 0);
      }
      makeWritable(p);
      pending.push({ output: o, tmpPath: p, name: outputName(job.drv, o), tmpHash: hashPart(name), expectHash: expectedOutputHash(job.drv, o) });
    }
    const candidates = new Map(job.inputClosure.map((n) => [hashPart(n), n] as const));
    // Hashed and renamed here, exactly as a local build's outputs; valid there, recorded here.
    let infos;
    try {
      infos = await remote.add(pending, { candidates, deriver: job.drvHash, register: job.register, alsoRemove: leftovers });
      leftovers.length = 0;
    } catch (e) {
      throw new BuildFailure(`${label}: ${e instanceof RemoteStoreError ? "could not register the outputs in its store: " : ""}${(e as Error).message}`, 0);
    }
    return { outputs: infos };
  } finally {
    removeTree(stage);
  }
}
