// The Store interface: the verbs of Nix's libstore, asynchronous, implemented in full by every
// store (the local store under $BRAMBLE_PATH, a Docker volume, a directory on an ssh host, and
// later a REAPI CAS). Nothing outside a store's own module knows which kind of store it holds:
// a closure moves between any two stores by `copyClosure` (core/store/copy.ts), which is
// `exportPaths` of one fed to `importPaths` of the other.
//
// Paths are content addressed: a path has the same store name and hash in every store, and a
// tree moves between stores by rewriting the store directory (all are STORE_DIR_LENGTH bytes).
// A path is valid in a store or absent, never half there: `importPaths` and `add` make a path
// valid only once its tree is complete, and an interrupted call leaves the store whole.
import { PassThrough, type Readable } from "node:stream";
import type { PathInfo } from "../model/types.js";

export type { PathInfo } from "../model/types.js";

/** A tree built for a store, waiting to become a store path (the `add` verb). */
export interface PendingOutput {
  /** the output name (`out`, `dev`, ...) */
  output: string;
  /** where the tree is now: a local directory (the local store: on the same filesystem) */
  tmpPath: string;
  /** the name part of the store name */
  name: string;
  /** the temporary hash part the builder saw in `$out`, replaced by the final one */
  tmpHash?: string;
  /** fixed-output derivations: the `sha256:` hash it must have */
  expectHash?: string;
  /** more hash parts to normalize while hashing (an imported path's `normalize`) */
  normalize?: Map<string, string>;
}

export interface AddOptions {
  /** hash part → store name of every path the trees may refer to (the inputs' closure) */
  candidates: Map<string, string>;
  /** the derivation that built them */
  deriver: string | null;
  /**
   * Called once the outputs are valid in the store, before anyone else can use them (the local
   * store: still holding each path's lock): record them, e.g. in one DB transaction.
   */
  register?: (infos: Map<string, PathInfo>) => void;
  /** the store directory the trees were built for (default: this store's) */
  builtFor?: string;
}

export interface GcOptions {
  /** store names to keep, with their closures; names this store does not hold are ignored */
  roots: Iterable<string>;
  /** list what would go, delete nothing */
  dryRun?: boolean;
  /** derivation hashes whose .drv files (and their inputs' .drv files) stay: the live evaluations' */
  liveDerivations?: Iterable<string>;
}

export interface GcResult {
  /** store names deleted (or that would be, with dryRun) */
  deleted: string[];
  bytes: number;
  dryRun: boolean;
}

export interface VerifyProblem {
  name: string;
  /** modes: the contents are intact but a mode or owner is not what the store gives (detail says which) */
  problem: "missing" | "corrupt" | "incomplete-closure" | "modes";
  detail?: string;
  expected?: string;
  got?: string;
}

export interface StoreCallOptions {
  signal?: AbortSignal;
}

export interface Store {
  /** the store's name: `local`, or the backend it belongs to (also its key in the DB's store_paths) */
  readonly backend: string;
  /** the store directory (fixed length) as builders on that side see it */
  readonly dir: string;
  /** full path of a store name in this store (as builders on that side see it) */
  path(name: string): string;
  /** path info of each name that is valid here; names that are not are absent from the map */
  queryPathInfos(names: Iterable<string>, opts?: StoreCallOptions): Promise<Map<string, PathInfo>>;
  /** the valid names among `names` and everything they reference, transitively */
  closure(names: Iterable<string>, opts?: StoreCallOptions): Promise<Set<string>>;
  /**
   * A stream of valid paths (see `ExportHeader`): every name must be valid here. References
   * are not added: pass a closure (`closure()`) to export one.
   */
  exportPaths(names: string[], opts?: StoreCallOptions): Promise<Readable>;
  /**
   * Make the paths of an export stream (of any store) valid here: each tree is checked against
   * its hash and relocated to this store's directory. A path already valid is skipped. Each
   * path's references must be valid here or be in the same stream.
   */
  importPaths(stream: Readable, opts?: StoreCallOptions): Promise<PathInfo[]>;
  /**
   * Add built trees: hash them, give them their final (content-addressed) names, rewrite
   * their temporary hash parts, canonicalize them, make them valid, then `register` them.
   */
  add(pending: PendingOutput[], opts: AddOptions): Promise<Map<string, PathInfo>>;
  /** delete what the roots' closures do not hold (valid paths, then unregistered leftovers) */
  gc(opts: GcOptions): Promise<GcResult>;
  /** re-hash every valid path; with repair, make bad ones (and what refers to them) invalid */
  verify(opts: { repair?: boolean }): Promise<VerifyProblem[]>;
  /**
   * Record realisations (a derivation's resolved key → its outputs' store names) beside paths
   * valid here, so that an engine whose own database has never seen them uses this store's
   * copy instead of building (`store copy` carries them; Nix's copy of realisations).
   * Stores whose engine's database is the one the scheduler reads (the local store) need none.
   */
  addRealisations?(realisations: Realisation[], opts?: StoreCallOptions): Promise<void>;
  /** The outputs a resolved key was realised as in this store, if every one of them is valid here. */
  queryRealisation?(resolved: string, opts?: StoreCallOptions): Promise<Record<string, string> | undefined>;
}

/** A derivation's resolved key (core/build/realise.ts resolvedKey) and the store name of one of its outputs. */
export interface Realisation {
  resolved: string;
  output: string;
  path: string;
}

/** A resolved key is a hash (lowercase base32): safe as a file name or an action argument. */
export function isResolvedKey(s: string): boolean {
  return /^[0-9a-z]{16,64}$/.test(s);
}

export class HashMismatchError extends Error {
  constructor(
    readonly drvName: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(`hash mismatch in fixed-output derivation ${drvName}:\n  specified: ${expected}\n  got:       ${got}`);
  }
}

/** Paths asked for that a store does not hold. */
export class MissingPathError extends Error {
  constructor(
    readonly names: string[],
    store: string,
  ) {
    super(`${names.length === 1 ? `${names[0]} is` : `${names.join(", ")} are`} not valid in the ${store} store`);
  }
}

/**
 * An export stream: one line of JSON (this header), then a tar archive (npm `tar`, portable)
 * of the trees, each at `<name>`, in the header's order (references first). The trees are as
 * they are in the exporting store: its store directory (`storeDir`) is what the importer
 * rewrites.
 */
export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  /** the exporting store's directory */
  storeDir: string;
  /** the paths, references first */
  paths: PathInfo[];
}

export const EXPORT_FORMAT = "bramble-export/1";

/** An export stream: the header line, then `tar` (which must not have started flowing). */
export function exportStream(header: Omit<ExportHeader, "format">, tar: Readable | NodeJS.ReadableStream, onDone?: () => void): Readable {
  const out = new PassThrough();
  out.write(`${JSON.stringify({ format: EXPORT_FORMAT, ...header })}\n`);
  let finished = false;
  const done = () => {
    if (finished) return;
    finished = true;
    onDone?.();
  };
  const t = tar as Readable;
  t.on("error", (e: Error) => {
    out.destroy(e);
    done();
  });
  t.on("end", done);
  out.on("close", done);
  t.pipe(out);
  return out;
}

/** Read an export stream's header; `body` is the tar archive that follows it. */
export function readExportStream(stream: Readable): Promise<{ header: ExportHeader; body: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off("data", onData);
      stream.off("error", onError);
      stream.off("end", onEnd);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onEnd = () => {
      cleanup();
      reject(new Error("the export stream ended before its header"));
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      const buf = Buffer.concat(chunks);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (size > 256 << 20) onError(new Error("the export stream's header is too long"));
        return;
      }
      cleanup();
      stream.pause();
      let header: ExportHeader;
      try {
        header = JSON.parse(buf.subarray(0, nl).toString("utf8")) as ExportHeader;
        if (header.format !== EXPORT_FORMAT || typeof header.storeDir !== "string" || !Array.isArray(header.paths))
          throw new Error(`not a ${EXPORT_FORMAT} stream`);
      } catch (e) {
        stream.destroy();
        reject(new Error(`a bad export stream: ${(e as Error).message}`));
        return;
      }
      const body = new PassThrough();
      body.write(buf.subarray(nl + 1));
      stream.on("error", (e) => body.destroy(e));
      stream.pipe(body);
      resolve({ header, body });
    };
    stream.on("data", onData);
    stream.on("error", onError);
    stream.on("end", onEnd);
  });
}

/** Every name reachable from `names` through `references` (the names included): any store's closure. */
export function closureOf(names: Iterable<string>, references: (name: string) => string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...names];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const r of references(n)) if (!seen.has(r)) stack.push(r);
  }
  return seen;
}

/** `names` ordered so that every path comes after what it references. */
export function topoOrder(names: Iterable<string>, refs: (n: string) => string[]): string[] {
  const set = new Set(names);
  const out: string[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (n: string) => {
    if (state.get(n)) return;
    state.set(n, 1);
    for (const r of refs(n)) if (r !== n && set.has(r)) visit(r);
    state.set(n, 2);
    out.push(n);
  };
  for (const n of [...set].sort()) visit(n);
  return out;
}

/**
 * Given the missing and corrupt paths a verify found, the valid paths whose closure they break
 * (or whose references are not valid at all): every store's "incomplete-closure" rule.
 */
export function incompleteClosures(all: PathInfo[], bad: Set<string>, isValid: (name: string) => boolean): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (bad.has(p.name)) continue;
      if (p.references.some((r) => bad.has(r) || (r !== p.name && !isValid(r)))) {
        problems.push({ name: p.name, problem: "incomplete-closure" });
        bad.add(p.name);
        grew = true;
      }
    }
  }
  return problems;
}
