// A store on the other side of a connection (an SSH host, a Docker volume). Its layout:
//   <dir>/<name>              valid outputs (the same padded, relocatable trees as locally)
//   <dir>/.info/<name>.json   one line of PathInfo per valid output: written after the tree
//                             is in place, so a path without it is not in the store
//   <dir>/.tmp/<tag>/         uploads in progress;  <dir>/.build/<tag>/  build directories
// The synchronous Store verbs answer from the metadata read by `refresh()`; moving trees is
// asynchronous and goes through a StoreTransport (a shell and tar streams over the connection).
import { randomBytes } from "node:crypto";
import { cpSync, lstatSync, mkdirSync, readdirSync, chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PathInfo } from "../db/db.js";
import { hashTree, rewriteTree } from "./archive.js";
import { layout } from "./layout.js";
import type { GcResult, LocalStore, PendingOutput, Store, VerifyProblem } from "./store.js";
import { closureOf, removeTree } from "./store.js";

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** How to reach a remote store: run a POSIX shell script there, and move tar streams. */
export interface StoreTransport {
  /** e.g. `ssh root@127.0.0.1:2222` or `docker unix:///run/podman.sock` */
  readonly label: string;
  exec(script: string, opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<ExecResult>;
  /** tar `rels` (relative to remote `dir`) over the connection and unpack them into local `localDir` */
  getTar(dir: string, rels: string[], localDir: string): Promise<void>;
  /** tar `rels` (relative to local `localDir`) over the connection and unpack them into remote `dir` (created) */
  putTar(localDir: string, rels: string[], dir: string): Promise<void>;
}

/** A failure talking to another store: names the store and what went wrong. */
export class RemoteStoreError extends Error {}

/** Single-quote for a POSIX shell. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The padded store directory for a store rooted at `root` (same rule as the local one). */
export function remoteStoreDir(root: string): string {
  return layout(root).storeDir;
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

function makeWritable(p: string): void {
  const st = lstatSync(p);
  if (!st.isDirectory()) return;
  chmodSync(p, 0o755);
  for (const e of readdirSync(p)) makeWritable(join(p, e));
}

/** Rewrite one store directory into another (same length) in a staged tree. */
export function relocate(tree: string, from: string, to: string): void {
  if (from === to) return;
  makeWritable(tree);
  const rels = filesContaining(tree, from);
  if (rels.length) rewriteTree(tree, rels, from, to);
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

export function stagingDir(local: LocalStore, tag: string): string {
  mkdirSync(local.layout.tmpDir, { recursive: true });
  const d = join(local.layout.tmpDir, `${process.pid}-${tag}-${randomBytes(4).toString("hex")}`);
  mkdirSync(d);
  return d;
}

export class RemoteStore implements Store {
  private infos = new Map<string, PathInfo>();

  constructor(
    readonly backend: string,
    readonly dir: string,
    readonly transport: StoreTransport,
  ) {}

  private fail(what: string, r: ExecResult | Error): never {
    const why = r instanceof Error ? r.message : `exit ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}` : ""}`;
    throw new RemoteStoreError(`${this.backend} store (${this.transport.label}): ${what}: ${why}`);
  }

  async run(what: string, script: string, opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<string> {
    let r: ExecResult;
    try {
      r = await this.transport.exec(script, opts);
    } catch (e) {
      this.fail(what, e as Error);
    }
    if (r.code !== 0) this.fail(what, r);
    return r.stdout;
  }

  path(name: string): string {
    return `${this.dir}/${name}`;
  }

  has(name: string): boolean {
    return this.infos.has(name);
  }

  queryPathInfo(name: string): PathInfo | undefined {
    return this.infos.get(name);
  }

  references(name: string): string[] {
    return this.infos.get(name)?.references ?? [];
  }

  closure(names: Iterable<string>): Set<string> {
    return closureOf(names, (n) => this.references(n));
  }

  private refreshedAt = 0;

  /**
   * Read the store's metadata (and create the store if it is not there yet). Within
   * `maxAgeMs` of the last read the cached answer stands (this process keeps it current for
   * what it adds itself; a stale answer only makes a copy send what is already there).
   */
  async refresh(maxAgeMs = 0): Promise<void> {
    if (maxAgeMs > 0 && Date.now() - this.refreshedAt < maxAgeMs) return;
    const started = Date.now();
    const d = shq(this.dir);
    const out = await this.run(
      "reading the store",
      `mkdir -p ${d}/.info ${d}/.tmp ${d}/.build && cd ${d} && ` +
        // uploads and builds of processes that died long ago
        `{ find .tmp .build -mindepth 1 -maxdepth 1 -mmin +120 -exec chmod -R u+w {} + -exec rm -rf {} + 2>/dev/null || true; } && ` +
        `cd .info && for f in *.json; do [ -e "$f" ] && cat "$f" && echo; done; true`,
    );
    const infos = new Map<string, PathInfo>();
    for (const line of out.split("\n")) {
      if (!line.trim()) continue;
      try {
        const i = JSON.parse(line) as PathInfo;
        if (typeof i.name === "string" && typeof i.hash === "string") infos.set(i.name, i);
      } catch {
        /* a torn metadata file is not a valid path */
      }
    }
    // What this process added while the listing was read is valid too.
    for (const [n, i] of this.infos) if (i.registeredAt >= started && !infos.has(n)) infos.set(n, i);
    this.infos = infos;
    this.refreshedAt = Date.now();
  }

  /**
   * Copy valid paths of the local store here (references first; their references must be
   * here or among `names`). Each tree is relocated to this store's directory on the way.
   */
  async addFromLocal(local: LocalStore, names: string[]): Promise<void> {
    const missing = topoOrder(
      names.filter((n) => !this.has(n)),
      (n) => local.references(n),
    );
    if (!missing.length) return;
    const stage = stagingDir(local, "upload");
    try {
      const infos: PathInfo[] = [];
      for (const n of missing) {
        const info = local.queryPathInfo(n);
        if (!info) throw new RemoteStoreError(`${n} is not valid in the ${local.backend} store`);
        cpSync(local.path(n), join(stage, n), { recursive: true, verbatimSymlinks: true });
        relocate(join(stage, n), local.dir, this.dir);
        infos.push(info);
      }
      await this.addStaged(stage, infos);
    } finally {
      removeTree(stage);
    }
  }

  /**
   * Make trees staged in a local directory (`stage/<name>`, already pointing at this store's
   * directory) valid here: upload them to `.tmp/`, then move each into place and write its
   * metadata last. A path already valid here is left alone.
   */
  async addStaged(stage: string, infos: PathInfo[], alsoRemove: string[] = []): Promise<void> {
    const todo = infos.filter((i) => !this.has(i.name));
    if (!todo.length) return this.removeTemp(alsoRemove);
    const now = Date.now();
    mkdirSync(join(stage, ".info"), { recursive: true });
    for (const i of todo) writeFileSync(join(stage, ".info", `${i.name}.json`), JSON.stringify({ ...i, registeredAt: now }));
    const names = todo.map((i) => i.name);
    const tag = `up-${process.pid}-${randomBytes(6).toString("hex")}`;
    const tmp = `${this.dir}/.tmp/${tag}`;
    try {
      await this.transport.putTar(stage, [...names, ".info"], tmp);
    } catch (e) {
      await this.transport.exec(`rm -rf ${shq(tmp)}`).catch(() => undefined);
      this.fail(`uploading ${names.length} path(s)`, e as Error);
    }
    await this.run("registering uploaded paths", installScript(this.dir, tmp, names, alsoRemove));
    const done = Date.now(); // after the install: a listing read since may or may not hold them
    for (const i of todo) this.infos.set(i.name, { ...i, registeredAt: done });
  }

  /** Copy valid paths of this store into the local one (references first), checking their hashes. */
  async copyToLocal(local: LocalStore, names: string[]): Promise<void> {
    const missing = topoOrder(
      names.filter((n) => !local.has(n)),
      (n) => this.references(n),
    );
    if (!missing.length) return;
    for (const n of missing) if (!this.has(n)) throw new RemoteStoreError(`${n} is not valid in the ${this.backend} store`);
    const stage = stagingDir(local, "download");
    try {
      try {
        await this.transport.getTar(this.dir, missing, stage);
      } catch (e) {
        this.fail(`downloading ${missing.length} path(s)`, e as Error);
      }
      for (const n of missing) {
        relocate(join(stage, n), this.dir, local.dir);
        importStaged(local, join(stage, n), this.infos.get(n)!);
      }
    } finally {
      removeTree(stage);
    }
  }

  /** Remove unregistered leftovers (interrupted uploads and builds of this process's tags). */
  async removeTemp(rels: string[]): Promise<void> {
    if (!rels.length) return;
    await this.transport.exec(`cd ${shq(this.dir)} && for p in ${rels.map(shq).join(" ")}; do chmod -R u+w "$p" 2>/dev/null; rm -rf "$p"; done`).catch(() => undefined);
  }

  addOutputs(_p: PendingOutput[], _c: Map<string, string>, _d: string | null, _r: (infos: Map<string, PathInfo>) => void): Map<string, PathInfo> {
    throw new RemoteStoreError(`the ${this.backend} store is remote: its outputs are added by its backend's builds`);
  }

  importPath(_from: Store, name: string): PathInfo {
    throw new RemoteStoreError(`the ${this.backend} store is remote: copy ${name} with copyClosure (bramble store copy)`);
  }

  gc(_opts: { dryRun?: boolean; roots: Iterable<string> }): GcResult {
    throw new RemoteStoreError(`gc of the remote ${this.backend} store is not supported yet`);
  }

  verify(_opts: { repair?: boolean }): VerifyProblem[] {
    throw new RemoteStoreError(`verify of the remote ${this.backend} store is not supported yet`);
  }
}

/**
 * The remote half of an upload: move each staged tree into place (an unregistered leftover
 * of the same name is replaced), then its metadata; a path already valid is left alone.
 * `alsoRemove` (relative to `dir`) goes too.
 */
export function installScript(dir: string, tmp: string, names: string[], alsoRemove: string[] = []): string {
  const lines = [`set -e`, `cd ${shq(dir)}`];
  for (const n of names) {
    const q = shq(n);
    lines.push(
      `if [ ! -e .info/${q}.json ]; then ` +
        `if [ -e ${q} ] || [ -L ${q} ]; then chmod -R u+w ${q} 2>/dev/null || true; rm -rf ${q}; fi; ` +
        `mv ${shq(`${tmp}/${n}`)} ${q}; mv ${shq(`${tmp}/.info/${n}.json`)} .info/${q}.json; fi`,
    );
  }
  // and, in the same connection, what the caller is done with (a build's directory)
  for (const p of [tmp, ...alsoRemove.map((r) => `${dir}/${r}`)]) lines.push(`chmod -R u+w ${shq(p)} 2>/dev/null || true`, `rm -rf ${shq(p)}`);
  return lines.join("\n");
}

/** Add a staged copy of a valid path (already relocated to `local.dir`) to the local store, checking its hash. */
export function importStaged(local: LocalStore, tree: string, info: PathInfo): PathInfo {
  const existing = local.queryPathInfo(info.name);
  if (existing) return existing;
  const self = info.name.slice(0, 32);
  const candidates = new Map(info.references.map((r) => [r.slice(0, 32), r] as const));
  const added = local.addOutputs(
    [{ output: "out", tmpPath: tree, name: info.name.slice(33), tmpHash: self, expectHash: info.hash, normalize: new Map(Object.entries(info.normalize ?? {})) }],
    candidates,
    info.deriver,
    (infos) => {
      const i = infos.get("out")!;
      if (i.name !== info.name) throw new RemoteStoreError(`copied ${info.name} hashes to ${i.name}`);
      local.db.addPath(i);
    },
  );
  return added.get("out")!;
}
