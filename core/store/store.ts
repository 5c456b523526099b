// The local store under $BRAMBLE_PATH: one implementation of the Store interface
// (core/store/store-api.ts). Valid paths are the rows of the DB's `paths` table; trees live in
// the store directory, read-only. Also what every store shares for adding built trees
// (prepareOutputs: hash, name, rewrite, canonicalize) and moving them (relocate).
import { createHash, randomBytes } from "node:crypto";
import { hashTreeOffThread } from "./hash-pool.js";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { base32, derivationInputs, type Derivation } from "../derivation/derivation.js";
import type { Db } from "../db/db.js";
import type { PathInfo } from "../model/types.js";
import { canonicalizeTree, formatHash, hashTree, rewriteTree, rewriteTreeMany } from "./archive.js";
import { HASH_PART_LENGTH, hashPart, isStoreName, storeName, type Layout } from "./layout.js";
import { lock, pidAlive, tryLock, unlock } from "./lock.js";
import { gcLock, readTempRoots } from "./temp-roots.js";
import { killPoint } from "./kill-points.js";
import { modeProblems, repairModes, storeOwner } from "./seal.js";
import {
  closureOf,
  exportStream,
  HashMismatchError,
  incompleteClosures,
  MissingPathError,
  readExportStream,
  topoOrder,
  type AddOptions,
  type GcOptions,
  type GcResult,
  type PendingOutput,
  type Store,
  type VerifyProblem,
} from "./store-api.js";
import { packTrees, unpackTrees } from "./tar.js";

export type { AddOptions, GcResult, PathInfo, PendingOutput, Store, VerifyProblem } from "./store-api.js";
export { closureOf, HashMismatchError } from "./store-api.js";

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
export async function prepareOutputs(
  pending: PendingOutput[],
  candidates: ReadonlyMap<string, string>,
  deriver: string | null,
  storeDir: string,
): Promise<{ infos: Map<string, PathInfo>; finals: { p: PendingOutput; final: string }[] }> {
  const infos = new Map<string, PathInfo>();
  const finals: { p: PendingOutput; final: string }[] = [];
  // Sibling outputs of one build may refer to each other: while one is hashed, each
  // sibling's hash part stands as a placeholder named after its output.
  const siblingsOf = (p: PendingOutput) => new Map(pending.filter((q) => q !== p && q.tmpHash).map((q) => [q.tmpHash!, siblingPlaceholder(q.output)] as const));
  const trees = [];
  for (const p of pending) {
    const normalize = new Map([...siblingsOf(p), ...(p.normalize ?? [])]);
    killPoint("hash");
    // In a worker thread under `bramble serve` and in the app (hash-pool.ts).
    const tree = await hashTreeOffThread(p.tmpPath, { storeDir: storeDir, selfHash: p.tmpHash, candidates, normalize });
    const hash = formatHash(tree.digest);
    if (p.expectHash && p.expectHash !== hash) throw new HashMismatchError(p.name, p.expectHash, hash);
    trees.push({ p, tree, hash, finalHash: contentHashPart(tree.digest, p.name) });
  }
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

/** Relative paths of files and symlinks in a tree whose bytes contain `needle`. */
export function filesContaining(root: string, needle: string): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    if (st.isDirectory()) {
      for (const e of readdirSync(abs)) walk(join(abs, e), rel ? `${rel}/${e}` : e);
      return;
    }
    if (hashTree(abs, { storeDir: needle, candidates: [needle] }).references.has(needle)) out.push(rel);
  };
  walk(root, "");
  return out;
}

/** Rewrite one store directory into another (same length) in a staged, writable tree. */
export function relocate(tree: string, from: string, to: string): void {
  if (from === to) return;
  makeWritable(tree);
  const rels = filesContaining(tree, from);
  if (rels.length) rewriteTree(tree, rels, from, to);
}

/** A fresh directory under `tmpDir` owned by this process (removed at start-up if its owner died). */
export function stagingDir(tmpDir: string, tag: string): string {
  mkdirSync(tmpDir, { recursive: true });
  const d = join(tmpDir, `${process.pid}-${tag}-${randomBytes(4).toString("hex")}`);
  mkdirSync(d);
  return d;
}

/**
 * Check a staged copy of a valid path (`tree`, as it was in a store whose directory is
 * `fromDir`) against its hash, and give it this store's directory. Throws if it does not hash
 * to its name. The tree stays where it is, writable.
 */
export function checkStagedPath(tree: string, info: PathInfo, fromDir: string): void {
  makeWritable(tree);
  const t = hashTree(tree, { storeDir: fromDir, selfHash: hashPart(info.name), normalize: new Map(Object.entries(info.normalize ?? {})) });
  const got = formatHash(t.digest);
  if (got !== info.hash) throw new Error(`${info.name} does not match its hash (expected ${info.hash}, got ${got})`);
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

  // ---- synchronous queries (the local store only: its DB is here) ----

  has(name: string): boolean {
    return this.db.pathInfo(name) !== undefined;
  }

  queryPathInfo(name: string): PathInfo | undefined {
    return this.db.pathInfo(name);
  }

  references(name: string): string[] {
    return this.db.pathInfo(name)?.references ?? [];
  }

  closureSync(names: Iterable<string>): Set<string> {
    // One recursive query instead of a lookup per path (issue 17).
    return this.db.closure(names);
  }

  // ---- the Store verbs ----

  async queryPathInfos(names: Iterable<string>): Promise<Map<string, PathInfo>> {
    const out = new Map<string, PathInfo>();
    for (const n of names) {
      const i = this.db.pathInfo(n);
      if (i) out.set(n, i);
    }
    return out;
  }

  async closure(names: Iterable<string>): Promise<Set<string>> {
    return this.closureSync([...names].filter((n) => this.has(n)));
  }

  async exportPaths(names: string[]): Promise<Readable> {
    const infos = await this.queryPathInfos(names);
    const absent = names.filter((n) => !infos.has(n));
    if (absent.length) throw new MissingPathError(absent, this.backend);
    const order = topoOrder(infos.keys(), (n) => infos.get(n)!.references);
    return exportStream({ storeDir: this.dir, paths: order.map((n) => infos.get(n)!) }, packTrees(this.dir, order));
  }

  async importPaths(stream: Readable): Promise<PathInfo[]> {
    const { header, body } = await readExportStream(stream);
    const stage = stagingDir(this.layout.tmpDir, "import");
    try {
      await unpackTrees(body, stage);
      // Paths copied together may refer to each other (the outputs of one build).
      const batch = new Set(header.paths.map((p) => p.name));
      const out: PathInfo[] = [];
      for (const info of header.paths) {
        const existing = this.queryPathInfo(info.name);
        if (existing) {
          out.push(existing);
          continue;
        }
        for (const r of info.references) {
          if (r !== info.name && !this.has(r) && !batch.has(r))
            throw new Error(`cannot import ${info.name}: its reference ${r} is not in the ${this.backend} store`);
        }
        const tree = join(stage, info.name);
        if (!existsSync(tree) && !isDanglingLink(tree)) throw new MissingPathError([info.name], "export stream's");
        relocate(tree, header.storeDir, this.dir);
        out.push(await this.addValid(tree, info));
      }
      return out;
    } finally {
      removeTree(stage);
    }
  }

  /** Add a staged copy of a path valid elsewhere (already relocated here): its hash must hold. */
  private async addValid(tree: string, info: PathInfo): Promise<PathInfo> {
    makeWritable(tree);
    const candidates = new Map(info.references.map((r) => [hashPart(r), r] as const));
    const added = await this.addOutputs(
      [
        {
          output: "out",
          tmpPath: tree,
          name: info.name.slice(HASH_PART_LENGTH + 1),
          tmpHash: hashPart(info.name),
          expectHash: info.hash,
          normalize: new Map(Object.entries(info.normalize ?? {})),
        },
      ],
      candidates,
      info.deriver,
      (infos) => {
        const i = infos.get("out")!;
        if (i.name !== info.name) throw new Error(`copied ${info.name} hashes to ${i.name}`);
        this.db.addPath(i);
      },
    );
    return added.get("out")!;
  }

  async add(pending: PendingOutput[], opts: AddOptions): Promise<Map<string, PathInfo>> {
    if (opts.builtFor && opts.builtFor !== this.dir) for (const p of pending) relocate(p.tmpPath, opts.builtFor, this.dir);
    return this.addOutputs(pending, opts.candidates, opts.deriver, (infos) => {
      for (const i of infos.values()) this.db.addPath(i);
      opts.register?.(infos);
    });
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

  /**
   * Hash, rewrite and move built trees into the store, then call `register` with their path
   * info while still holding each path's lock: `register` makes them valid (the DB's `paths`,
   * in one transaction with whatever else it records).
   */
  async addOutputs(
    pending: PendingOutput[],
    candidates: ReadonlyMap<string, string>,
    deriver: string | null,
    register: (infos: Map<string, PathInfo>) => void,
  ): Promise<Map<string, PathInfo>> {
    const { infos, finals } = await prepareOutputs(pending, candidates, deriver, this.dir);
    const held: (() => void)[] = [];
    const locked = new Set<string>();
    try {
      for (const { p, final } of finals) {
        // Two outputs of one build with the same content and name are one path: its lock is
        // already ours, and the first one's tree is the path.
        if (locked.has(final)) {
          removeTree(p.tmpPath);
          continue;
        }
        held.push(await lock(this.pathLock(final), undefined, { timeoutMs: 60_000 }));
        locked.add(final);
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
      for (const release of held) release();
    }
    return infos;
  }

  async gc(opts: GcOptions): Promise<GcResult> {
    // One gc at a time; builds, shells and runs go on beside it (temp-roots.ts).
    const release = opts.dryRun ? () => {} : await lock(gcLock(this.layout.lockDir));
    try {
      return this.collect(opts);
    } finally {
      release();
    }
  }

  async verify(opts: { repair?: boolean }): Promise<VerifyProblem[]> {
    return this.verifySync(opts);
  }

  /** gc, answered here and now (the local store's DB and files are on this machine); refuses while another gc runs. */
  gcSync(opts: GcOptions): GcResult {
    if (opts.dryRun) return this.collect(opts);
    const gcLockFile = gcLock(this.layout.lockDir);
    if (!tryLock(gcLockFile)) throw new Error("another gc is running on this store");
    try {
      return this.collect(opts);
    } finally {
      unlock(gcLockFile);
    }
  }

  /**
   * The collection itself, under the gc lock. Builds run meanwhile: what they use and make is
   * held as temporary roots (temp-roots.ts). A path is deleted only under its path lock (a path
   * being moved in and registered is skipped) and only if it is still dead once the temporary
   * roots are read again after taking those locks.
   */
  private collect(opts: GcOptions): GcResult {
    const liveDerivations = [...(opts.liveDerivations ?? [])];
    const first = this.garbage(new Set(opts.roots), liveDerivations);
    if (opts.dryRun) return { deleted: first.deleted, bytes: first.bytes, dryRun: true };
    const locked: string[] = [];
    try {
      for (const n of first.deleted) if (n.endsWith(".drv") || tryLock(this.pathLock(n))) locked.push(n);
      const again = this.garbage(new Set([...opts.roots, ...readTempRoots(this.layout.varDir)]), liveDerivations);
      const still = new Set(again.deleted);
      const deleted = locked.filter((n) => still.has(n));
      let bytes = 0;
      for (const n of deleted) bytes += again.sizes.get(n) ?? 0;
      this.db.deletePaths(deleted.filter((n) => this.has(n)));
      for (const n of deleted) removeTree(this.path(n));
      return { deleted, bytes, dryRun: false };
    } finally {
      for (const n of locked) if (!n.endsWith(".drv")) unlock(this.pathLock(n));
    }
  }

  /** What gc would delete with these roots, and the bytes each takes. */
  private garbage(roots: Set<string>, liveDerivations: Iterable<string> = []): { deleted: string[]; bytes: number; sizes: Map<string, number> } {
    const live = this.closureSync([...roots].filter((r) => this.has(r)));
    // The .drv files that stay are those derivations reach, not the one deriver recorded per
    // output: two derivations with byte-identical outputs share a path, and the live one's
    // .drv must stay and the other go. Kept: the live evaluations' derivations and their
    // inputs, transitively; for a live path no such derivation made (an explicit root, an
    // out-link of an older evaluation), the derivations recorded as making it.
    const liveDrvs = new Set<string>();
    const all = this.db.allPaths();
    const reach = (start: Iterable<string>) => {
      const pending = [...start];
      while (pending.length) {
        const h = pending.pop()!;
        if (liveDrvs.has(h)) continue;
        liveDrvs.add(h);
        const drv = this.db.getDerivation(h);
        if (drv) for (const ref of derivationInputs(drv)) pending.push(ref.hash);
      }
    };
    reach(liveDerivations);
    for (const p of all) {
      if (!live.has(p.name)) continue;
      const makers = this.db.derivers(p.name);
      if (!makers.some((h) => liveDrvs.has(h))) reach(makers);
    }
    const sizes = new Map<string, number>();
    for (const p of all) if (!live.has(p.name)) sizes.set(p.name, p.size);
    // Unregistered leftovers and derivation files of nothing live.
    if (existsSync(this.dir)) {
      for (const e of readdirSync(this.dir)) {
        if (sizes.has(e) || live.has(e)) continue;
        // A .drv being written (writeDrv's `<file>.<pid>.tmp`) by a live process.
        if (e.endsWith(".tmp") && pidAlive(Number.parseInt(e.split(".").at(-2) ?? "", 10))) continue;
        if (e.endsWith(".drv")) {
          if (liveDrvs.has(e.slice(0, HASH_PART_LENGTH))) continue;
        } else if (isStoreName(e) && this.has(e)) continue;
        let size = 0;
        try {
          size = treeSize(this.path(e));
        } catch {
          /* gone */
        }
        sizes.set(e, size);
      }
    }
    const deleted = [...sizes.keys()].sort();
    return { deleted, bytes: deleted.reduce((n, e) => n + sizes.get(e)!, 0), sizes };
  }

  /** verify, answered here and now. */
  verifySync(opts: { repair?: boolean }): VerifyProblem[] {
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
    problems.push(...incompleteClosures(all, bad, (n) => this.has(n)));
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

export { lock };
