// The Backend interface: what runs a build. Each backend offers platforms, is available or
// not (and says why), has its own Store, and builds one derivation at a time into it.
// local (bubblewrap) is here now; qemu, docker and ssh plug in behind the same interface.
import type { BackendInfo } from "../model/types.js";
import type { Derivation, OutputRef } from "../derivation/derivation.js";
import { storeName } from "../store/layout.js";
import { randomHashPart, type PathInfo, type Store } from "../store/store.js";
import { HOMELESS } from "./sandbox.js";

export { hostSystem } from "../derivation/systems.js";

export interface BuildJob {
  buildId: number;
  drvHash: string;
  drv: Derivation;
  /** store names of every input output and their runtime closures, in this backend's store */
  inputClosure: string[];
  /** the same as a set, when the caller has one (the local backend's store view takes it as it is) */
  inputClosureSet?: ReadonlySet<string>;
  /** the store names of the inputs themselves (inputClosure is their closure), when the caller gives them */
  inputs?: string[];
  /** an input reference → its store name in this backend's store */
  resolve: (ref: OutputRef) => string;
  projectRoot: string;
  sandboxPaths: string[];
  keepFailed: boolean;
  timeoutMs?: number;
  signal: AbortSignal;
  /** one line of builder output (no newline) */
  log: (line: string) => void;
  /**
   * Called once the outputs are in the store, while their locks are held: record them
   * (one DB transaction) before anyone else can see them.
   */
  register: (outputs: Map<string, PathInfo>) => void;
}

export interface BuildOutcome {
  outputs: Map<string, PathInfo>;
  /** the build directory, when kept */
  keptDir?: string;
}

/** A build that ran and failed (as opposed to a bug): exit code, message, kept directory. */
export class BuildFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null = null,
    readonly keptDir?: string,
    readonly cancelled = false,
  ) {
    super(message);
  }
}

/**
 * Whether a backend can build now, as far as is known without waiting: `probing` means a probe
 * of the network (ssh reachability, the Docker engine) is running and the answer is not known
 * yet; planning treats that as "unknown", never as a reason to wait.
 */
export interface Availability {
  available: boolean;
  probing?: boolean;
  reason?: string;
}

export interface Backend {
  readonly name: string;
  readonly kind: string;
  readonly store: Store;
  /** the systems this backend can build on (as far as is known now) */
  platforms(): string[];
  /** answered from what is known now (never waits on the network; may start a probe in the background) */
  availability(): Availability;
  /**
   * Ask the network (reach the host, ping the engine) unless a recent answer is cached; one
   * probe at a time. Backends that need no network have none.
   */
  probe?(): Promise<void>;
  info(): BackendInfo;
  build(job: BuildJob): Promise<BuildOutcome>;
  /**
   * Where other engines' copies of what this backend builds are found, with their realisations
   * (`store copy` carries them): its own store by default when that is not the local one; a
   * reapi backend's is the service's CAS (`reapi:NAME`), its outputs come back here.
   */
  realisationStore?(): Store;
}

/** Probe every backend that has a probe, at once (each is bounded by its own timeout). */
export async function probeAll(backends: Backend[]): Promise<void> {
  await Promise.all(backends.map((b) => b.probe?.().catch(() => undefined)));
}

/** A backend's info as known now. */
export function backendInfo(b: Backend, platforms = b.platforms()): BackendInfo {
  const a = b.availability();
  return { name: b.name, kind: b.kind, platforms, available: a.available, ...(a.probing ? { probing: true } : {}), ...(a.reason ? { reason: a.reason } : {}) };
}

/**
 * The builder's environment, the same on every backend: the derivation's env (templates
 * resolved), one variable per output, `system`, `platform`, a HOME that does not exist, TMPDIR,
 * and BRAMBLE_BUILD_TOP. PATH only when the derivation sets it.
 */
export function builderEnv(
  drv: Derivation,
  resolve: (text: string) => string,
  outputPaths: Map<string, string>,
  dirs: { tmp: string; buildTop: string },
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(drv.env)) env[k] = resolve(v);
  for (const [o, p] of outputPaths) env[o] = p;
  env.system = drv.system;
  env.platform = drv.platform;
  env.HOME = HOMELESS;
  env.TMPDIR = env.TMP = env.TEMP = dirs.tmp;
  env.BRAMBLE_BUILD_TOP = dirs.buildTop;
  return env;
}

/** Where a build's outputs go first: output name → a store name with a random hash part. */
export function temporaryOutputNames(drv: Derivation): Map<string, string> {
  return new Map(drv.outputs.map((o) => [o, storeName(randomHashPart(), outputName(drv, o))] as const));
}

/** The store name part of an output: the derivation name, suffixed for non-default outputs. */
export function outputName(drv: Derivation, output: string): string {
  return output === "out" || output === drv.outputs[0] ? drv.name : `${drv.name}-${output}`;
}
