// A store on the other side of a connection (an SSH host, a Docker volume): one implementation
// of the Store interface (core/store/store-api.ts). Its layout:
//   <dir>/<name>              valid outputs (the same padded, relocatable trees as locally)
//   <dir>/.info/<name>.json   one line of PathInfo per valid output: written after the tree
//                             is in place, so a path without it is not in the store
//   <dir>/.tmp/<tag>/         uploads in progress;  <dir>/.build/<tag>/  build directories
//   <dir>/.realisations/<resolved key>.json   {output: name} of a derivation whose outputs
//                             were copied here (`store copy`), for engines that never built it
// The remote side needs only a POSIX shell and tar. Trees move through a StoreTransport as tar
// streams, staged in a local directory (to check hashes and rewrite the store directory, which
// the remote side cannot do). What the store holds is read in one listing of `.info/`, kept for
// a while, and recorded in the local DB (`store_paths`) for the scheduler.
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, renameSync, writeFileSync, mkdirSync, cpSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { PathInfo } from "../model/types.js";
import { canonicalizeTree, formatHash, hashTree } from "./archive.js";
import { hashPart, isStoreName, layout, type Layout } from "./layout.js";
import {
  closureOf,
  exportStream,
  incompleteClosures,
  MissingPathError,
  readExportStream,
  topoOrder,
  type AddOptions,
  type GcOptions,
  type GcResult,
  type PendingOutput,
  isResolvedKey,
  type Realisation,
  type Store,
  type StoreCallOptions,
  type VerifyProblem,
} from "./store-api.js";
import { buildsRunning, checkStagedPath, prepareOutputs, relocate, removeTree, stagingDir } from "./store.js";
import { packTrees, unpackTrees } from "./tar.js";

export { topoOrder } from "./store-api.js";

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** How to reach a remote store: run a POSIX shell script there, and move trees as tar streams. */
export interface StoreTransport {
  /** e.g. `ssh root@127.0.0.1:2222` or `docker unix:///run/podman.sock` */
  readonly label: string;
  exec(script: string, opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<ExecResult>;
  /** the trees `rels` (relative to remote `dir`) over the connection, unpacked into local `localDir` */
  getTar(dir: string, rels: string[], localDir: string): Promise<void>;
  /** the trees `rels` (relative to local `localDir`) over the connection, unpacked into remote `dir` (created) */
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

/** What a remote store records in (and learns from) the local DB: which store holds which path. */
export interface StorePathIndex {
  addStorePaths(store: string, infos: PathInfo[]): void;
  deleteStorePaths(store: string, names: string[]): void;
  storesOf(name: string): string[];
}

export interface RemoteStoreOptions {
  /** this machine's layout: staging directories (tmpDir) and the running-build markers (lockDir) */
  local: Pick<Layout, "tmpDir" | "lockDir">;
  /** the local DB's record of what other stores hold */
  index?: StorePathIndex;
  /** how old the listing of `.info/` may be when a question is answered from it */
  maxAgeMs?: number;
}

/** Leftovers (uploads, builds) younger than this may belong to a process still running. */
const LEFTOVER_MINUTES = 120;

export class RemoteStore implements Store {
  private infos = new Map<string, PathInfo>();
  private refreshedAt = 0;
  private readonly maxAgeMs: number;

  constructor(
    readonly backend: string,
    readonly dir: string,
    readonly transport: StoreTransport,
    readonly opts: RemoteStoreOptions,
  ) {
    this.maxAgeMs = opts.maxAgeMs ?? 30_000;
  }

  private fail(what: string, r: ExecResult | Error): never {
    const why = r instanceof Error ? r.message : `exit ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}` : ""}`;
    throw new RemoteStoreError(`${this.backend} store (${this.transport.label}): ${what}: ${why}`);
  }

  /** Run a script on the store's side; its stdout, or a RemoteStoreError naming the store. */
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
        `{ find .tmp .build -mindepth 1 -maxdepth 1 -mmin +${LEFTOVER_MINUTES} -exec chmod -R u+w {} + -exec rm -rf {} + 2>/dev/null || true; } && ` +
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

  async addRealisations(realisations: Realisation[]): Promise<void> {
    const byKey = new Map<string, Record<string, string>>();
    for (const r of realisations) {
      if (!isResolvedKey(r.resolved)) continue;
      byKey.set(r.resolved, { ...byKey.get(r.resolved), [r.output]: r.path });
    }
    if (!byKey.size) return;
    const d = shq(`${this.dir}/.realisations`);
    // One file per key, written whole then renamed: a reader never sees half of one.
    const writes = [...byKey].map(([k, outs]) => `printf '%s\\n' ${shq(JSON.stringify(outs))} > ${k}.json.tmp && mv ${k}.json.tmp ${k}.json`);
    await this.run(`recording ${byKey.size} realisation(s)`, `mkdir -p ${d} && cd ${d} && ${writes.join(" && ")}`);
  }

  async queryRealisation(resolved: string): Promise<Record<string, string> | undefined> {
    if (!isResolvedKey(resolved)) return undefined;
    const out = await this.run("reading a realisation", `cat ${shq(`${this.dir}/.realisations/${resolved}.json`)} 2>/dev/null || true`);
    let outs: Record<string, string>;
    try {
      outs = JSON.parse(out.trim() || "null") as Record<string, string>;
    } catch {
      return undefined; // a torn file is no realisation
    }
    if (!outs || typeof outs !== "object") return undefined;
    const names = Object.values(outs);
    if (!names.length || names.some((n) => typeof n !== "string" || !isStoreName(n))) return undefined;
    const valid = await this.queryPathInfos(names);
    return names.every((n) => valid.has(n)) ? outs : undefined;
  }

  /** Every valid path, read now. */
  async list(): Promise<PathInfo[]> {
    await this.refresh();
    return [...this.infos.values()];
  }

  async queryPathInfos(names: Iterable<string>): Promise<Map<string, PathInfo>> {
    const asked = [...names];
    const t0 = Date.now();
    await this.refresh(this.maxAgeMs);
    const index = this.opts.index;
    if (index) {
      // The DB says this store has it, the listing (read earlier) does not: look again, then
      // believe the store.
      const doubt = asked.filter((n) => !this.infos.has(n) && index.storesOf(n).includes(this.backend));
      if (doubt.length) {
        if (this.refreshedAt < t0) await this.refresh();
        const gone = doubt.filter((n) => !this.infos.has(n));
        if (gone.length) index.deleteStorePaths(this.backend, gone);
      }
    }
    const out = new Map<string, PathInfo>();
    for (const n of asked) {
      const i = this.infos.get(n);
      if (i) out.set(n, i);
    }
    if (out.size) index?.addStorePaths(this.backend, [...out.values()]);
    return out;
  }

  async closure(names: Iterable<string>): Promise<Set<string>> {
    const found = await this.queryPathInfos(names);
    return closureOf(found.keys(), (n) => this.infos.get(n)?.references ?? []);
  }

  async exportPaths(names: string[], opts: StoreCallOptions = {}): Promise<Readable> {
    const infos = await this.queryPathInfos(names);
    const absent = names.filter((n) => !infos.has(n));
    if (absent.length) throw new MissingPathError(absent, this.backend);
    const order = topoOrder(infos.keys(), (n) => infos.get(n)!.references);
    const stage = stagingDir(this.opts.local.tmpDir, "export");
    try {
      if (opts.signal?.aborted) throw new Error("cancelled");
      await this.transport.getTar(this.dir, order, stage);
    } catch (e) {
      removeTree(stage);
      this.fail(`downloading ${order.length} path(s)`, e as Error);
    }
    return exportStream({ storeDir: this.dir, paths: order.map((n) => infos.get(n)!) }, packTrees(stage, order), () => removeTree(stage));
  }

  async importPaths(stream: Readable): Promise<PathInfo[]> {
    const { header, body } = await readExportStream(stream);
    const stage = stagingDir(this.opts.local.tmpDir, "import");
    try {
      await unpackTrees(body, stage);
      const have = await this.queryPathInfos(header.paths.map((p) => p.name));
      const batch = new Set(header.paths.map((p) => p.name));
      const todo = header.paths.filter((p) => !have.has(p.name));
      for (const info of todo) {
        for (const r of info.references) {
          if (r !== info.name && !have.has(r) && !batch.has(r) && !this.infos.has(r))
            throw new RemoteStoreError(`cannot import ${info.name}: its reference ${r} is not in the ${this.backend} store`);
        }
        const tree = join(stage, info.name);
        if (!existsSync(tree) && !isLink(tree)) throw new MissingPathError([info.name], "export stream's");
        checkStagedPath(tree, info, header.storeDir);
        relocate(tree, header.storeDir, this.dir);
        canonicalizeTree(tree);
      }
      await this.addStaged(stage, todo);
      return header.paths.map((p) => have.get(p.name) ?? this.infos.get(p.name)!);
    } finally {
      removeTree(stage);
    }
  }

  /**
   * Add built trees (local directories, built for this store's directory unless `builtFor`
   * says otherwise): hashed and renamed here, then uploaded and made valid there. `alsoRemove`
   * (relative to the store) goes in the same step: a remote build's directory.
   */
  async add(pending: PendingOutput[], opts: AddOptions & { alsoRemove?: string[] }): Promise<Map<string, PathInfo>> {
    const from = opts.builtFor ?? this.dir;
    const { infos, finals } = await prepareOutputs(pending, opts.candidates, opts.deriver, from);
    const stage = stagingDir(this.opts.local.tmpDir, "add");
    try {
      for (const { p, final } of finals) {
        const to = join(stage, final);
        try {
          renameSync(p.tmpPath, to);
        } catch {
          cpSync(p.tmpPath, to, { recursive: true, verbatimSymlinks: true });
          removeTree(p.tmpPath);
        }
        relocate(to, from, this.dir);
      }
      await this.addStaged(stage, [...infos.values()], opts.alsoRemove ?? []);
    } finally {
      removeTree(stage);
    }
    opts.register?.(infos);
    return infos;
  }

  /**
   * Make trees staged in a local directory (`stage/<name>`, already pointing at this store's
   * directory) valid here: upload them to `.tmp/`, then move each into place and write its
   * metadata last. A path already valid here is left alone.
   */
  async addStaged(stage: string, infos: PathInfo[], alsoRemove: string[] = []): Promise<void> {
    const todo = infos.filter((i) => !this.infos.has(i.name));
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
    const added = todo.map((i) => ({ ...i, registeredAt: done }));
    for (const i of added) this.infos.set(i.name, i);
    this.opts.index?.addStorePaths(this.backend, added);
  }

  /** Remove unregistered leftovers (interrupted uploads and builds of this process's tags). */
  async removeTemp(rels: string[]): Promise<void> {
    if (!rels.length) return;
    await this.transport
      .exec(`cd ${shq(this.dir)} && for p in ${rels.map(shq).join(" ")}; do chmod -R u+w "$p" 2>/dev/null; rm -rf "$p"; done`)
      .catch(() => undefined);
  }

  /** Make paths invalid (metadata first), then delete their trees; the DB forgets them here. */
  private async remove(names: string[]): Promise<void> {
    if (!names.length) return;
    const lines = [`cd ${shq(this.dir)}`];
    for (const n of names) lines.push(`rm -f .info/${shq(`${n}.json`)}; chmod -R u+w ${shq(n)} 2>/dev/null; rm -rf ${shq(n)}`);
    await this.run(`deleting ${names.length} path(s)`, lines.join("\n"));
    for (const n of names) this.infos.delete(n);
    this.opts.index?.deleteStorePaths(this.backend, names);
  }

  async gc(opts: GcOptions): Promise<GcResult> {
    const running = buildsRunning(this.opts.local.lockDir);
    if (running.length && !opts.dryRun) {
      throw new RemoteStoreError(`builds are running (pid ${running.join(", ")}); collect garbage in the ${this.backend} store when they have finished`);
    }
    await this.refresh();
    const live = closureOf(
      [...opts.roots].filter((r) => this.infos.has(r)),
      (n) => this.infos.get(n)?.references ?? [],
    );
    const dead = [...this.infos.values()].filter((i) => !live.has(i.name));
    let bytes = dead.reduce((n, i) => n + i.size, 0);
    // Unregistered leftovers old enough not to be a build or upload in progress.
    const out = await this.run(
      "listing leftovers",
      `cd ${shq(this.dir)} && find . -mindepth 1 -maxdepth 1 ! -name .info ! -name .tmp ! -name .build ! -name .realisations -mmin +${LEFTOVER_MINUTES} | ` +
        `while read -r p; do n=\${p#./}; [ -e ".info/$n.json" ] || echo "$(du -sk "$n" 2>/dev/null | cut -f1) $n"; done`,
    );
    const extra: string[] = [];
    for (const line of out.split("\n")) {
      const m = /^(\d*) (.+)$/.exec(line);
      if (!m || this.infos.has(m[2]!)) continue;
      extra.push(m[2]!);
      bytes += Number(m[1] || 0) * 1024;
    }
    const deleted = [...dead.map((i) => i.name), ...extra].sort();
    if (!opts.dryRun) await this.remove(deleted);
    return { deleted, bytes, dryRun: !!opts.dryRun };
  }

  async verify(opts: { repair?: boolean }): Promise<VerifyProblem[]> {
    await this.refresh();
    const all = [...this.infos.values()];
    const problems: VerifyProblem[] = [];
    const bad = new Set<string>();
    const missing = new Set(
      all.length
        ? (
            await this.run(
              "looking for the trees",
              `cd ${shq(this.dir)} && for n in ${all.map((i) => shq(i.name)).join(" ")}; do [ -e "$n" ] || [ -L "$n" ] || echo "$n"; done`,
            )
          )
            .split("\n")
            .filter(Boolean)
        : [],
    );
    for (const i of all) {
      if (!missing.has(i.name)) continue;
      problems.push({ name: i.name, problem: "missing", expected: i.hash });
      bad.add(i.name);
    }
    // The remote side cannot hash our archive format: the trees come here to be hashed.
    const present = all.filter((i) => !missing.has(i.name));
    if (present.length) {
      const stage = stagingDir(this.opts.local.tmpDir, "verify");
      try {
        try {
          await this.transport.getTar(
            this.dir,
            present.map((i) => i.name),
            stage,
          );
        } catch (e) {
          this.fail(`downloading ${present.length} path(s) to verify`, e as Error);
        }
        for (const i of present) {
          const t = hashTree(join(stage, i.name), { storeDir: this.dir, selfHash: hashPart(i.name), normalize: new Map(Object.entries(i.normalize ?? {})) });
          const got = formatHash(t.digest);
          if (got !== i.hash) {
            problems.push({ name: i.name, problem: "corrupt", expected: i.hash, got });
            bad.add(i.name);
          }
        }
      } finally {
        removeTree(stage);
      }
    }
    problems.push(...incompleteClosures(all, bad, (n) => this.infos.has(n)));
    if (opts.repair && bad.size) await this.remove([...bad]);
    return problems;
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
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
