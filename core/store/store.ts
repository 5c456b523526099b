// The Store abstraction (the verbs of Nix's libstore) and the local store under
// $BRAMBLE_PATH. Every backend has a Store; closures move between stores only by copy.
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { base32, type Derivation } from "../derivation/derivation.js";
import type { Db, PathInfo } from "../db/db.js";
import { canonicalizeTree, formatHash, hashTree, rewriteTree, rewriteTreeMany } from "./archive.js";
import { HASH_PART_LENGTH, hashPart, isStoreName, storeName, type Layout } from "./layout.js";
import { lock, pidAlive, tryLock, unlock } from "./lock.js";
import { killPoint } from "./kill-points.js";
import { modeProblems, repairModes, storeOwner } from "./seal.js";

export type { PathInfo } from "../db/db.js";

/** A tree built for this store, waiting to become a store path. */
export interface PendingOutput {
  /** the output name (`out`, `dev`, ...) */
  output: string;
  /** where the tree is now (same filesystem as the store) */
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

export interface Store {
  /** the backend this store belongs to */
  readonly backend: string;
  /** the store directory (fixed length) as builders see it */
  readonly dir: string;
  /** full path of a store name */
  path(name: string): string;
  /** is this store name valid (complete and registered)? */
  has(name: string): boolean;
  queryPathInfo(name: string): PathInfo | undefined;
  references(name: string): string[];
  /** the names and everything they reference, transitively */
  closure(names: Iterable<string>): Set<string>;
  /**
   * Hash, rewrite and move built trees into the store, then call `register` with their
   * path info (still holding each path's lock, so register them in one transaction).
   */
  addOutputs(pending: PendingOutput[], candidates: Map<string, string>, deriver: string | null, register: (infos: Map<string, PathInfo>) => void): Map<string, PathInfo>;
  /**
   * Copy a valid path of another store into this one (with relocation). Its references must
   * already be here, or be in `batch` (paths copied together that may refer to each other).
   */
  importPath(from: Store, name: string, batch?: Set<string>): PathInfo;
  gc(opts: { dryRun?: boolean; roots: Iterable<string> }): GcResult;
  verify(opts: { repair?: boolean }): VerifyProblem[];
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

/** What a sibling output's hash part becomes while an output is hashed. */
export function siblingPlaceholder(output: string): string {
  return base32(createHash("sha256").update(`bramble-output:${output}`).digest().subarray(0, 20));
}

/** The final hash part: the content digest plus the name, so two names never share one. */
export function contentHashPart(digest: Buffer, name: string): string {
  return base32(createHash("sha256").update(digest).update(`:${name}`).digest().subarray(0, 20));
}

export function randomHashPart(): string {
  return base32(randomBytes(20));
}

function treeSize(p: string): number {
  const st = lstatSync(p);
  if (st.isDirectory()) return readdirSync(p).reduce((n, e) => n + treeSize(join(p, e)), 0);
  return st.isFile() ? st.size : 0;
}

/** Make every directory of a tree writable by its owner (store trees are read-only). */
export function makeWritable(q: string): void {
  let st;
  try {
    st = lstatSync(q);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  // Another process may remove the same tree at the same moment (two start-up cleanups of a
  // dead build's directory): what has vanished needs no permission change.
  let entries: string[];
  try {
    chmodSync(q, 0o755);
    entries = readdirSync(q);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  for (const e of entries) makeWritable(join(q, e));
}

/** Remove a tree even when its directories are read-only. */
export function removeTree(p: string): void {
  if (!existsSync(p) && !isDanglingLink(p)) return;
  makeWritable(p);
  rmSync(p, { recursive: true, force: true });
}

function isDanglingLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Hash built trees (store directory `storeDir`, normalized), give them their final names,
 * rewrite their temporary hash parts in place and canonicalize them. Nothing is moved: a
 * store moves them in (LocalStore.addOutputs), or a remote build uploads them to its store.
 */
export function prepareOutputs(
  pending: PendingOutput[],
  candidates: Map<string, string>,
  deriver: string | null,
  storeDir: string,
): { infos: Map<string, PathInfo>; finals: { p: PendingOutput; final: string }[] } {
  const infos = new Map<string, PathInfo>();
  const finals: { p: PendingOutput; final: string }[] = [];
  // Sibling outputs of one build may refer to each other: while one is hashed, each
  // sibling's hash part stands as a placeholder named after its output.
  const siblingsOf = (p: PendingOutput) =>
    new Map(pending.filter((q) => q !== p && q.tmpHash).map((q) => [q.tmpHash!, siblingPlaceholder(q.output)] as const));
  const trees = pending.map((p) => {
    const normalize = new Map([...siblingsOf(p), ...(p.normalize ?? [])]);
    killPoint("hash");
    const tree = hashTree(p.tmpPath, { storeDir: storeDir, selfHash: p.tmpHash, candidates: candidates.keys(), normalize });
    const hash = formatHash(tree.digest);
    if (p.expectHash && p.expectHash !== hash) throw new HashMismatchError(p.name, p.expectHash, hash);
    return { p, tree, hash, finalHash: contentHashPart(tree.digest, p.name) };
  });
  const finalOf = new Map(trees.filter((t) => t.p.tmpHash).map((t) => [t.p.tmpHash!, t.finalHash] as const));
  for (const { p, tree, hash, finalHash } of trees) {
    const final = storeName(finalHash, p.name);
    const pairs: [string, string][] = [];
    const files: string[] = [];
    for (const [needle, rels] of tree.refFiles) {
      if (!rels.length) continue;
      const to = needle === p.tmpHash ? finalHash : finalOf.get(needle);
      if (!to || to === needle) continue;
      pairs.push([needle, to]);
      files.push(...rels);
    }
    if (pairs.length) rewriteTreeMany(p.tmpPath, files, pairs);
    canonicalizeTree(p.tmpPath);
    const refs = new Set<string>();
    const normalized: Record<string, string> = {};
    for (const r of tree.references) {
      if (r === p.tmpHash) refs.add(final);
      else if (finalOf.has(r)) {
        const sib = trees.find((t) => t.p.tmpHash === r)!;
        refs.add(storeName(sib.finalHash, sib.p.name));
        normalized[sib.finalHash] = siblingPlaceholder(sib.p.output);
      } else if (candidates.has(r)) refs.add(candidates.get(r)!);
    }
    for (const [from, to] of p.normalize ?? []) if (tree.references.has(from)) normalized[from] = to;
    infos.set(p.output, {
      name: final,
      hash,
      size: tree.size,
      references: [...refs].sort(),
      deriver,
      registeredAt: Date.now(),
      ...(Object.keys(normalized).length ? { normalize: normalized } : {}),
    });
    finals.push({ p, final });
  }
  return { infos, finals };
}

export class LocalStore implements Store {
  readonly backend: string;
  readonly dir: string;

  constructor(
    readonly layout: Layout,
    readonly db: Db,
    backend = "local",
  ) {
    this.backend = backend;
    this.dir = layout.storeDir;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  has(name: string): boolean {
    return this.db.pathInfo(name) !== undefined;
  }

  queryPathInfo(name: string): PathInfo | undefined {
    return this.db.pathInfo(name);
  }

  references(name: string): string[] {
    return this.db.pathInfo(name)?.references ?? [];
  }

  closure(names: Iterable<string>): Set<string> {
    // One recursive query instead of a lookup per path (issue 17).
    return this.db.closure(names);
  }

  private pathLock(name: string): string {
    return join(this.layout.lockDir, `path-${name}.lock`);
  }

  /** Write a derivation's JSON beside the outputs, as `<drvhash>-<name>.drv`. */
  writeDrv(drvHash: string, drv: Derivation): string {
    const file = join(this.dir, `${drvHash}-${storeName("x".repeat(HASH_PART_LENGTH), drv.name).slice(HASH_PART_LENGTH + 1)}.drv`);
    if (existsSync(file)) return file;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(drv, null, 2) + "\n", { mode: 0o444 });
    renameSync(tmp, file);
    return file;
  }

  addOutputs(
    pending: PendingOutput[],
    candidates: Map<string, string>,
    deriver: string | null,
    register: (infos: Map<string, PathInfo>) => void,
  ): Map<string, PathInfo> {
    const { infos, finals } = prepareOutputs(pending, candidates, deriver, this.dir);
    const held: string[] = [];
    try {
      for (const { p, final } of finals) {
        const lockFile = this.pathLock(final);
        // Two outputs of one build with the same content and name are one path: its lock is
        // already ours, and the first one's tree is the path.
        if (held.includes(lockFile)) {
          removeTree(p.tmpPath);
          continue;
        }
        // Short critical section; spin rather than go async.
        const deadline = Date.now() + 60_000;
        while (!tryLock(lockFile)) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for the lock on ${final}`);
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        }
        held.push(lockFile);
        const dest = this.path(final);
        if (this.has(final) && existsSync(dest)) {
          removeTree(p.tmpPath); // identical content is already there
          continue;
        }
        if (existsSync(dest) || isDanglingLink(dest)) removeTree(dest); // an unregistered leftover
        killPoint("rename");
        renameSync(p.tmpPath, dest);
        if (statSync(dest, { throwIfNoEntry: false })?.isDirectory() && !lstatSync(dest).isSymbolicLink()) chmodSync(dest, 0o555);
      }
      register(infos);
    } finally {
      for (const l of held) unlock(l);
    }
    return infos;
  }

  importPath(from: Store, name: string, batch?: Set<string>): PathInfo {
    const existing = this.queryPathInfo(name);
    if (existing) return existing;
    const info = from.queryPathInfo(name);
    if (!info) throw new Error(`${name} is not valid in the ${from.backend} store`);
    for (const r of info.references) {
      if (r !== name && !this.has(r) && !batch?.has(r)) throw new Error(`cannot import ${name}: its reference ${r} is not in the ${this.backend} store`);
    }
    const tmpHash = hashPart(name);
    const tmp = join(this.layout.tmpDir, `import-${process.pid}-${randomHashPart()}`);
    mkdirSync(this.layout.tmpDir, { recursive: true });
    cpSync(from.path(name), tmp, { recursive: true, verbatimSymlinks: true });
    makeWritable(tmp);
    try {
      if (from.dir !== this.dir) {
        // Relocate: the other store's directory (same length) becomes ours.
        const t = hashTree(tmp, { storeDir: from.dir, candidates: [from.dir] });
        const withDir = listContaining(tmp, from.dir);
        if (t.references.size) rewriteTree(tmp, withDir, from.dir, this.dir);
      }
      const candidates = new Map(info.references.map((r) => [hashPart(r), r] as const));
      const selfName = name.slice(HASH_PART_LENGTH + 1);
      const added = this.addOutputs(
        [{ output: "out", tmpPath: tmp, name: selfName, tmpHash, expectHash: info.hash, normalize: new Map(Object.entries(info.normalize ?? {})) }],
        candidates,
        info.deriver,
        (infos) => {
          const i = infos.get("out")!;
          if (i.name !== name) throw new Error(`imported ${name} hashes to ${i.name}`);
          this.db.addPath(i);
        },
      );
      return added.get("out")!;
    } finally {
      removeTree(tmp);
    }
  }

  gc(opts: { dryRun?: boolean; roots: Iterable<string> }): GcResult {
    const running = buildsRunning(this.layout.lockDir);
    if (running.length && !opts.dryRun) {
      throw new Error(`builds are running (pid ${running.join(", ")}); collect garbage when they have finished`);
    }
    const live = this.closure([...opts.roots].filter((r) => this.has(r)));
    const liveDrvs = new Set<string>();
    const all = this.db.allPaths();
    for (const p of all) if (live.has(p.name) && p.deriver) liveDrvs.add(p.deriver);
    const dead = all.filter((p) => !live.has(p.name));
    const deadNames = new Set(dead.map((p) => p.name));
    let bytes = dead.reduce((n, p) => n + p.size, 0);
    // Unregistered leftovers and derivation files of nothing live.
    const extra: string[] = [];
    if (existsSync(this.dir)) {
      for (const e of readdirSync(this.dir)) {
        if (deadNames.has(e) || live.has(e)) continue;
        if (e.endsWith(".drv")) {
          if (!liveDrvs.has(e.slice(0, HASH_PART_LENGTH))) extra.push(e);
          continue;
        }
        if (isStoreName(e) && this.has(e)) continue;
        extra.push(e);
      }
    }
    for (const e of extra) {
      try {
        bytes += treeSize(this.path(e));
      } catch {
        /* gone */
      }
    }
    const deleted = [...deadNames, ...extra].sort();
    if (!opts.dryRun) {
      this.db.deletePaths([...deadNames]);
      for (const n of deleted) removeTree(this.path(n));
    }
    return { deleted, bytes, dryRun: !!opts.dryRun };
  }

  verify(opts: { repair?: boolean }): VerifyProblem[] {
    const problems: VerifyProblem[] = [];
    const all = this.db.allPaths();
    const bad = new Set<string>();
    const owner = storeOwner(this.dir);
    for (const p of all) {
      const full = this.path(p.name);
      if (!existsSync(full) && !isDanglingLink(full)) {
        problems.push({ name: p.name, problem: "missing", expected: p.hash });
        bad.add(p.name);
        continue;
      }
      const t = hashTree(full, { storeDir: this.dir, selfHash: hashPart(p.name), normalize: new Map(Object.entries(p.normalize ?? {})) });
      const got = formatHash(t.digest);
      if (got !== p.hash) {
        problems.push({ name: p.name, problem: "corrupt", expected: p.hash, got });
        bad.add(p.name);
        continue;
      }
      // Intact contents, but a registered path must also keep the store's modes and owner: no
      // setuid, setgid or world-writable bit, nothing writable, nothing owned by someone else.
      const wrong = modeProblems(full, owner);
      if (wrong.length) {
        problems.push({ name: p.name, problem: "modes", detail: wrong.join("; ") });
        if (opts.repair) repairModes(full, owner);
      }
    }
    // Whatever refers to a bad path has an incomplete closure.
    let grew = true;
    while (grew) {
      grew = false;
      for (const p of all) {
        if (bad.has(p.name)) continue;
        if (p.references.some((r) => bad.has(r) || (r !== p.name && !this.has(r)))) {
          problems.push({ name: p.name, problem: "incomplete-closure" });
          bad.add(p.name);
          grew = true;
        }
      }
    }
    if (opts.repair && bad.size) {
      this.db.deletePaths([...bad]);
      for (const n of bad) removeTree(this.path(n));
    }
    return problems;
  }
}

/** Pids of live processes with a build run in progress (their `run-<pid>-*.lock` markers). */
export function buildsRunning(lockDir: string): number[] {
  const pids = new Set<number>();
  for (const e of existsSync(lockDir) ? readdirSync(lockDir) : []) {
    if (!e.startsWith("run-")) continue;
    const pid = Number.parseInt(e.slice(4), 10);
    if (pidAlive(pid)) pids.add(pid);
  }
  return [...pids];
}

/** Relative paths of files and symlinks in a tree whose bytes contain `needle`. */
function listContaining(root: string, needle: string): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    if (st.isDirectory()) {
      for (const e of readdirSync(abs)) walk(join(abs, e), rel ? `${rel}/${e}` : e);
      return;
    }
    const t = hashTree(abs, { storeDir: needle, candidates: [needle] });
    if (t.references.has(needle)) out.push(rel);
  };
  walk(root, "");
  return out;
}

export { lock };
