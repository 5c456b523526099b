// The local backend: builds on this machine in a bubblewrap sandbox, into the local store.
import { randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, existsSync, lstatSync, mkdirSync, readlinkSync, renameSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { BackendInfo } from "../model/types.js";
import { expectedOutputHash, isFixedOutput, substituteTemplates, type Derivation, type OutputRef } from "../derivation/derivation.js";
import { copySources } from "../store/sources.js";
import { hashPart } from "../store/layout.js";
import { removeTree, type LocalStore, type PendingOutput } from "../store/store.js";
import { BuildFailure, builderEnv, hostSystem, outputName, temporaryOutputNames, type Backend, type BuildJob, type BuildOutcome } from "./backend.js";
import { runLogged } from "./run.js";
import { attachOwnNetwork, BUILD_DIR, bwrapArgv, findBwrap, findSlirp, SLIRP_RESOLV_CONF, warmSpare, withPidsLimit, type SandboxSpec } from "./sandbox.js";
import { defangTree, sealOutput, storeOwner } from "../store/seal.js";
import { killPoint } from "../store/kill-points.js";
import { compiledHelper, linkStoreView, makeOverlayDirs, releaseStoreView, storeOverlayAvailable, storeViewAvailable } from "./store-view.js";
import { launch } from "./launcher.js";
import { changedHostPaths } from "./host-access.js";

export interface PreparedSandbox {
  /** the per-build temporary directory (build dir, store mount) */
  root: string;
  spec: SandboxSpec;
  /** output name → store name the builder writes to */
  tmpOutputs: Map<string, string>;
  /** the resolved builder, args and env, as recorded */
  command: { builder: string; args: string[]; env: Record<string, string> };
  /** where the builder's outputs are on the host once it has run: the store mount, or an overlay's upper layer */
  outputDir: string;
  /** the store view (a directory of hard links to the input closure), if there is one */
  view?: string;
  /** with a view: its closure by hash part, the candidates for the outputs' references (kept up to date with the view, not rebuilt per build) */
  candidates?: ReadonlyMap<string, string>;
}

/**
 * A fresh per-process-owned temporary directory under var/tmp (removed at startup if its owner
 * died). Only this user may enter it: no other local user can open a file a build makes (and
 * keep a handle that writes after the output is sealed).
 */
export function makeTempRoot(tmpDir: string, tag: string): string {
  mkdirSync(tmpDir, { recursive: true });
  const root = join(tmpDir, `${process.pid}-${tag}-${randomBytes(4).toString("hex")}`);
  mkdirSync(root, { mode: 0o700 });
  chmodSync(root, 0o700);
  return root;
}

/**
 * Lay out a derivation's sandbox: copy the sources, choose temporary output names, resolve
 * templates, and build the environment. Shared by builds and `bramble shell`.
 */
export function prepareSandbox(
  store: LocalStore,
  drv: Derivation,
  opts: {
    resolve: (ref: OutputRef) => string;
    inputClosure: string[];
    inputClosureSet?: ReadonlySet<string>;
    /** the inputs themselves: a reused store view then needs only what it lacks, not the whole closure */
    inputs?: string[];
    projectRoot: string;
    sandboxPaths: string[];
    tag: string;
    command?: string[];
  },
): PreparedSandbox {
  const changed = drv.hostPaths ? changedHostPaths(drv.hostPaths) : [];
  if (changed.length) {
    throw new Error(
      `host path${changed.length > 1 ? "s" : ""} ${changed.join(", ")} changed since evaluation (${drv.name} is impure and its hash names what they held); evaluate again`,
    );
  }
  const root = makeTempRoot(store.layout.tmpDir, opts.tag);
  const buildDir = join(root, "build");
  const storeMount = join(root, "store");
  mkdirSync(buildDir);
  mkdirSync(storeMount);
  // The input closure through one idmapped mount when the host allows it, else one bind per
  // input; under an overlay when it can, so that the builder writes none of the view.
  const overlay = storeOverlayAvailable(store.layout.tmpDir);
  const storeView = overlay || storeViewAvailable(store.layout.tmpDir);
  const view = overlay ? makeOverlayDirs(root) : storeView ? storeMount : undefined;
  const contents = view
    ? linkStoreView(view, store.dir, () => opts.inputClosureSet ?? opts.inputClosure, {
        overlay,
        ...(opts.inputs ? { inputs: opts.inputs, references: (n: string) => store.references(n) } : {}),
      })
    : undefined;
  if (drv.sources) copySources(opts.projectRoot, drv.sources, buildDir);
  const resolve = (s: string) => substituteTemplates(s, (ref) => store.path(opts.resolve(ref)));
  const tmpOutputs = temporaryOutputNames(drv);
  const outPaths = new Map([...tmpOutputs].map(([o, n]) => [o, store.path(n)] as const));
  const env = builderEnv(drv, resolve, outPaths, { tmp: "/tmp", buildTop: BUILD_DIR });
  const builder = resolve(drv.builder);
  const args = drv.args.map(resolve);
  const dir = drv.sources?.dir && drv.sources.dir !== "." ? drv.sources.dir : "";
  const spec: SandboxSpec = {
    storeDir: store.dir,
    storeMount,
    inputs: storeView ? [] : opts.inputClosure.map((n) => store.path(n)),
    storeView,
    ...(overlay ? { overlayRoot: root } : {}),
    // The host paths in the derivation (its hash names them) and any the engine adds (qemu's interpreter).
    sandboxPaths: [...Object.keys(drv.hostPaths ?? {}), ...opts.sandboxPaths],
    buildDir,
    cwd: dir ? `${BUILD_DIR}/${dir}` : BUILD_DIR,
    env,
    network: drv.network || isFixedOutput(drv),
    command: opts.command ?? [builder, ...args],
  };
  return {
    root,
    spec,
    tmpOutputs,
    command: { builder, args, env },
    outputDir: overlay ? join(root, "upper") : storeMount,
    ...(view && contents ? { view, candidates: contents.byHashPart } : {}),
  };
}

export class LocalBackend implements Backend {
  readonly name = "local";
  readonly kind = "local";

  constructor(readonly store: LocalStore) {}

  platforms(): string[] {
    return [hostSystem()];
  }

  availability(): { available: boolean; reason?: string } {
    if (process.platform !== "linux") return { available: false, reason: "the bubblewrap sandbox needs Linux" };
    if (!findBwrap()) return { available: false, reason: "bubblewrap (bwrap) is not installed" };
    return { available: true };
  }

  info(): BackendInfo {
    const a = this.availability();
    return { name: this.name, kind: this.kind, platforms: this.platforms(), available: a.available, ...(a.reason ? { reason: a.reason } : {}) };
  }

  async build(job: BuildJob): Promise<BuildOutcome> {
    const { drv } = job;
    const phase = phases();
    // Started through the launcher below (no network of its own): its spare may start now.
    if (!(drv.network || isFixedOutput(drv)) && process.env.BRAMBLE_LAUNCHER !== "0") warmSpare();
    let prepared: PreparedSandbox;
    try {
      // Not a spread of the job: its closure is computed only if asked for (realise.ts).
      prepared = prepareSandbox(this.store, drv, {
        resolve: job.resolve,
        get inputClosure() {
          return job.inputClosure;
        },
        get inputClosureSet() {
          return job.inputClosureSet;
        },
        ...(job.inputs ? { inputs: job.inputs } : {}),
        projectRoot: job.projectRoot,
        sandboxPaths: job.sandboxPaths,
        tag: `b${job.buildId}`,
      });
    } catch (e) {
      throw new BuildFailure((e as Error).message);
    }
    phase?.("prepare");
    const { root, spec, tmpOutputs, outputDir } = prepared;
    const keep = () => {
      if (!job.keepFailed) {
        removeTree(root);
        return undefined;
      }
      // Kept directories leave var/tmp (which is cleaned at startup) for var/failed, which only
      // this user may enter; nothing setuid, setgid or world-writable stays in them.
      const kept = join(this.store.layout.varDir, "failed", `${job.buildId}-${drv.name}`.replace(/[^A-Za-z0-9._-]/g, "_"));
      mkdirSync(join(this.store.layout.varDir, "failed"), { recursive: true, mode: 0o700 });
      chmodSync(join(this.store.layout.varDir, "failed"), 0o700);
      defangTree(root);
      try {
        renameSync(root, kept);
        return join(kept, "build");
      } catch {
        return join(root, "build");
      }
    };
    let result;
    // A fixed-output build's network is a namespace of its own, never the host's (sandbox.ts).
    if (spec.network) {
      if (!findSlirp()) throw new BuildFailure(`${drv.name} needs the network (a fixed-output build), which needs slirp4netns: apt-get install -y slirp4netns`);
      spec.ownNetwork = true;
      spec.resolvConf = join(root, "resolv.conf");
      writeFileSync(spec.resolvConf, SLIRP_RESOLV_CONF);
    }
    let drained = true;
    // bwrap 0.8 sometimes fails to bring up the loopback of a new network namespace
    // ("loopback: Failed RTM_NEWADDR"), before the builder runs: that set-up is tried again.
    for (let attempt = 1; ; attempt++) {
      let loopbackFailed = false;
      const log = (line: string) => {
        if (/^bwrap: loopback: Failed RTM_NEWADDR/.test(line)) loopbackFailed = true;
        job.log(line);
      };
      // Started by the launcher, which forks in a fraction of Node's time, when the compiled
      // helper starts it and no pipes beside its output are needed (a network of its own's are);
      // BRAMBLE_LAUNCHER=0 spawns it from Node. Through the launcher, the build is handed to a
      // spare prepared in its cgroup, and one is prepared for the next (launcher.ts prepareSpare).
      const helper = compiledHelper();
      const viaLauncher = !!helper && !spec.ownNetwork && process.env.BRAMBLE_LAUNCHER !== "0";
      const limited = withPidsLimit(bwrapArgv(spec), undefined, { spare: viaLauncher, ...(spec.ownNetwork ? { keepFds: 2 } : {}) });
      // A cancelled or timed-out build is killed through its cgroup as well as its process group:
      // bwrap's inner process starts a session of its own (--new-session) before it asks to die
      // with its parent, and a kill of the group in between left it running the build to its end
      // (the launcher never reported the exit, so the build never ended).
      const killAll = () => void limited.drain();
      job.signal?.addEventListener("abort", killAll, { once: true });
      // (after the run's own timer, which kills the group and records the timeout)
      const killTimer = job.timeoutMs ? setTimeout(killAll, job.timeoutMs + 500) : undefined;
      phase?.("argv");
      let stopNetwork = () => {};
      try {
        killPoint("sandbox-start");
        const running =
          helper && viaLauncher && limited.stderrMerged && limited.argv[0] === helper
            ? launch(helper, limited.argv.slice(1), { log, signal: job.signal, timeoutMs: job.timeoutMs })
            : runLogged(limited.argv, {
                log,
                signal: job.signal,
                timeoutMs: job.timeoutMs,
                stderrMerged: limited.stderrMerged,
                ...(spec.ownNetwork ? { extraFds: 2, onSpawn: (child) => (stopNetwork = attachOwnNetwork(child, job.log, spec)) } : {}),
              });
        // The next build's spare is prepared while this one runs, off its path.
        limited.prepareNext?.();
        result = await running;
      } catch (e) {
        const kept = keep();
        throw new BuildFailure(`could not start the sandbox: ${(e as Error).message}`, null, kept);
      } finally {
        phase?.("ran");
        job.signal?.removeEventListener("abort", killAll);
        clearTimeout(killTimer);
        stopNetwork();
        // Nothing the build started may outlive it: its outputs are hashed only once all is gone.
        drained = await limited.drain();
        limited.cleanup();
        phase?.("drain");
      }
      if (!(loopbackFailed && drained && attempt < 3 && !result.cancelled && result.exitCode !== 0)) break;
      job.log("bramble: the sandbox's network set-up failed before the builder ran; starting the sandbox again");
      // The overlay was mounted volatile: its work directory refuses another mount (EINVAL)
      // until what that mount left there is gone. The builder never ran, so nothing else changed.
      if (spec.overlayRoot) {
        removeTree(join(spec.overlayRoot, "work"));
        mkdirSync(join(spec.overlayRoot, "work"));
      }
    }
    if (!drained) {
      const kept = keep();
      throw new BuildFailure("processes of the build would not die; its outputs are not trusted", null, kept);
    }
    if (result.cancelled) {
      removeTree(root);
      throw new BuildFailure("cancelled", null, undefined, true);
    }
    if (result.timedOut || result.exitCode !== 0) {
      const kept = keep();
      const why = result.timedOut
        ? `timed out after ${job.timeoutMs} ms`
        : result.exitCode === null
          ? `builder killed by ${result.signal}`
          : `builder exited with code ${result.exitCode}`;
      throw new BuildFailure(why, result.exitCode, kept);
    }
    const pending: PendingOutput[] = [];
    for (const [o, name] of tmpOutputs) {
      const p = join(outputDir, name);
      let exists = false;
      try {
        lstatSync(p);
        exists = true;
      } catch {
        /* missing */
      }
      if (!exists) {
        const kept = keep();
        throw new BuildFailure(`builder did not create output ${o} ($${o})`, 0, kept);
      }
      const dangling = danglingTarget(p, spec.storeDir, outputDir);
      if (dangling !== null) {
        const kept = keep();
        throw new BuildFailure(`output ${o} ($${o}) is a dangling symlink (to ${dangling})`, 0, kept);
      }
      // Owned by the store, read-only, no special bits, no shared inode: before its hash is taken.
      try {
        sealOutput(p, storeOwner(this.store.dir));
      } catch (e) {
        const kept = keep();
        throw new BuildFailure((e as Error).message, 0, kept);
      }
      pending.push({
        output: o,
        tmpPath: p,
        name: outputName(drv, o),
        tmpHash: hashPart(name),
        expectHash: expectedOutputHash(drv, o),
      });
    }
    phase?.("seal");
    const candidates = prepared.candidates ?? new Map(job.inputClosure.map((n) => [hashPart(n), n] as const));
    try {
      const outputs = await this.store.addOutputs(pending, candidates, job.drvHash, job.register);
      phase?.("addOutputs");
      if (prepared.view) releaseStoreView(prepared.view, !!spec.overlayRoot); // its inputs serve the next build
      removeTree(root);
      phase?.("removeTree", true);
      return { outputs };
    } catch (e) {
      const kept = keep();
      throw new BuildFailure((e as Error).message, 0, kept);
    } finally {
      if (existsSync(root) && !job.keepFailed) removeTree(root);
    }
  }
}

/**
 * BRAMBLE_BUILD_PHASES=FILE: each successful local build appends one JSON line to FILE, the
 * milliseconds of its phases (prepare, argv, ran, drain, seal, addOutputs, removeTree) and
 * the gap since the previous build's end (docs/speed.md). Otherwise nothing is measured.
 */
function phases(): ((name: string, last?: boolean) => void) | undefined {
  const file = process.env.BRAMBLE_BUILD_PHASES;
  if (!file) return undefined;
  let t = performance.now();
  const row: Record<string, number> = lastBuildEnd ? { gap: t - lastBuildEnd } : {};
  return (name, last) => {
    const now = performance.now();
    row[name] = now - t;
    t = now;
    if (!last) return;
    lastBuildEnd = now;
    appendFileSync(file, `${JSON.stringify(row)}\n`);
  };
}
let lastBuildEnd = 0;

/**
 * The target of an output that is a symlink pointing at nothing, as the sandbox saw it (store
 * paths are looked up in the build's own store directory, then the store), or null.
 */
function danglingTarget(path: string, storeDir: string, storeMount: string): string | null {
  let p = path;
  for (let hops = 0; hops < 40; hops++) {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return p;
    }
    if (!st.isSymbolicLink()) return null;
    const link = readlinkSync(p);
    const inSandbox = p.startsWith(storeMount + "/") ? join(storeDir, p.slice(storeMount.length + 1)) : p;
    const target = isAbsolute(link) ? link : resolve(dirname(inSandbox), link);
    // A path in the store directory is first the build's own (its other outputs), then an input.
    const own = target.startsWith(storeDir + "/") ? join(storeMount, target.slice(storeDir.length + 1)) : null;
    p = own && (existsSync(own) || isLink(own)) ? own : target;
  }
  return `${path} (a symlink loop)`;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
