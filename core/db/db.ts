// The history database: derivations, valid store paths, outputs, builds and evaluations.
// better-sqlite3 in WAL mode; schema changes go through numbered migrations.
import Database from "better-sqlite3";
import { join } from "node:path";
import type { BuildRecord, BuildStatus, OutputInfo, PathInfo, RunRecord, RunStatus } from "../model/types.js";
import type { Derivation } from "../derivation/derivation.js";
import { MIGRATIONS } from "./migrations.js";

/** Evaluations kept per (project, module argument, target). */
const EVALUATIONS_KEPT = 20;
export type { PathInfo } from "../model/types.js";

/** The local store's name in `store_paths` and `storesOf`. */
export const LOCAL_STORE = "local";

export interface NewBuild {
  runId: string;
  drvHash: string;
  name: string;
  backend: string;
  platform: string;
  system: string;
  command?: unknown;
}

export interface OutputRegistration {
  output: string;
  info: Omit<PathInfo, "registeredAt">;
}

interface BuildRow {
  id: number;
  run_id: string;
  drv_hash: string;
  name: string;
  backend: string;
  platform: string;
  system: string;
  status: string;
  started_at: number;
  ended_at: number | null;
  exit_code: number | null;
  error: string | null;
  log_file: string;
  kept_dir: string | null;
  pid: number;
  command: string | null;
}

interface PathRow {
  name: string;
  hash: string;
  size: number;
  refs: string;
  deriver: string | null;
  registered_at: number;
  normalize: string | null;
}

function normalizeJSON(info: { normalize?: Record<string, string> }): string | null {
  return info.normalize && Object.keys(info.normalize).length ? JSON.stringify(info.normalize) : null;
}

interface RunRow {
  run_id: string;
  project: string;
  module_arg: string;
  target: string;
  status: string;
  started_at: number;
  ended_at: number | null;
  pid: number;
}

function toRun(r: RunRow): RunRecord {
  return {
    runId: r.run_id,
    project: r.project,
    moduleArg: r.module_arg,
    target: r.target,
    status: r.status as RunStatus,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    pid: r.pid,
  };
}

function toBuild(r: BuildRow): BuildRecord {
  return {
    id: r.id,
    runId: r.run_id,
    drvHash: r.drv_hash,
    name: r.name,
    backend: r.backend,
    platform: r.platform,
    system: r.system,
    status: r.status as BuildStatus,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    exitCode: r.exit_code,
    error: r.error,
    logFile: r.log_file,
    keptDir: r.kept_dir,
  };
}

function toPath(r: PathRow): PathInfo {
  return {
    name: r.name,
    hash: r.hash,
    size: r.size,
    references: JSON.parse(r.refs) as string[],
    deriver: r.deriver,
    registeredAt: r.registered_at,
    ...(r.normalize ? { normalize: JSON.parse(r.normalize) as Record<string, string> } : {}),
  };
}

export class Db {
  readonly sql: Database.Database;
  /** the store directory paths are relative to */
  readonly storeDir: string;
  private readonly stmts: Record<string, Database.Statement>;

  constructor(file: string, storeDir: string) {
    this.storeDir = storeDir;
    // The desktop app runs on Electron's Node ABI and brings its own build of the binding.
    const nativeBinding = process.env.BRAMBLE_SQLITE_BINDING;
    this.sql = new Database(file, { timeout: 30_000, ...(nativeBinding ? { nativeBinding } : {}) });
    this.sql.pragma("journal_mode = WAL");
    this.sql.pragma("synchronous = NORMAL");
    this.sql.pragma("foreign_keys = ON");
    this.migrate();
    const p = (s: string) => this.sql.prepare(s);
    this.stmts = {
      putDrv: p(`INSERT OR IGNORE INTO derivations (hash, name, platform, system, json, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
      getDrv: p(`SELECT json FROM derivations WHERE hash = ?`),
      insertEval: p(`INSERT INTO evaluations (project, module_arg, target, roots, created_at) VALUES (?, ?, ?, ?, ?)`),
      insertEvalDrv: p(`INSERT OR IGNORE INTO evaluation_drvs (evaluation_id, drv_hash) VALUES (?, ?)`),
      // Keep the newest evaluations of each (project, module, target); the app re-evaluates often.
      staleEvals: p(`SELECT id FROM evaluations WHERE project = ? AND module_arg = ? AND target = ? ORDER BY id DESC LIMIT -1 OFFSET ${EVALUATIONS_KEPT}`),
      deleteEval: p(`DELETE FROM evaluations WHERE id = ?`),
      deleteEvalDrvs: p(`DELETE FROM evaluation_drvs WHERE evaluation_id = ?`),
      startBuild: p(
        `INSERT INTO builds (run_id, drv_hash, name, backend, platform, system, status, started_at, pid, command)
         VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)`,
      ),
      setLogFile: p(`UPDATE builds SET log_file = ? WHERE id = ?`),
      finishBuild: p(`UPDATE builds SET status = ?, ended_at = ?, exit_code = ?, error = ?, kept_dir = ? WHERE id = ? AND status = 'running'`),
      getBuild: p(`SELECT * FROM builds WHERE id = ?`),
      listBuilds: p(`SELECT * FROM builds ORDER BY id DESC LIMIT ?`),
      listBuildsDrv: p(`SELECT * FROM builds WHERE drv_hash = ? ORDER BY id DESC LIMIT ?`),
      runningBuilds: p(`SELECT id, pid FROM builds WHERE status = 'running'`),
      skippedBuild: p(
        `INSERT INTO builds (run_id, drv_hash, name, backend, platform, system, status, started_at, ended_at, error, pid)
         VALUES (?, ?, ?, ?, ?, ?, 'skipped', ?, ?, ?, ?)`,
      ),
      startRun: p(`INSERT OR REPLACE INTO runs (run_id, project, module_arg, target, status, started_at, pid) VALUES (?, ?, ?, ?, 'running', ?, ?)`),
      finishRun: p(`UPDATE runs SET status = ?, ended_at = ? WHERE run_id = ? AND status = 'running'`),
      getRun: p(`SELECT * FROM runs WHERE run_id = ?`),
      listRuns: p(`SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?`),
      runningRuns: p(`SELECT run_id, pid FROM runs WHERE status = 'running'`),
      buildsOfRun: p(`SELECT * FROM builds WHERE run_id = ? ORDER BY id`),
      putPath: p(`INSERT OR REPLACE INTO paths (name, hash, size, refs, deriver, registered_at, normalize) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      getPath: p(`SELECT * FROM paths WHERE name = ?`),
      putDrvOutput: p(`INSERT OR REPLACE INTO drv_outputs (drv_hash, output, path) VALUES (?, ?, ?)`),
      drvOutputs: p(`SELECT output, path FROM drv_outputs WHERE drv_hash = ?`),
      drvValidOutputs: p(`SELECT o.output, o.path FROM drv_outputs o JOIN paths p ON p.name = o.path WHERE o.drv_hash = ?`),
      putRealisation: p(`INSERT OR REPLACE INTO realisations (resolved, output, path) VALUES (?, ?, ?)`),
      realisation: p(`SELECT r.output, r.path FROM realisations r JOIN paths p ON p.name = r.path WHERE r.resolved = ?`),
      outputsOf: p(`SELECT o.output, p.* FROM drv_outputs o JOIN paths p ON p.name = o.path WHERE o.drv_hash = ? ORDER BY o.output`),
      derivers: p(`SELECT drv_hash FROM drv_outputs WHERE path = ?`),
      allPaths: p(`SELECT * FROM paths`),
      refs: p(`SELECT refs FROM paths WHERE name = ?`),
      deletePath: p(`DELETE FROM paths WHERE name = ?`),
      deleteDrvOutputs: p(`DELETE FROM drv_outputs WHERE path = ? AND NOT EXISTS (SELECT 1 FROM store_paths s WHERE s.name = ?)`),
      deleteRealisations: p(`DELETE FROM realisations WHERE path = ? AND NOT EXISTS (SELECT 1 FROM store_paths s WHERE s.name = ?)`),
      putStorePath: p(`INSERT OR REPLACE INTO store_paths (store, name, info) VALUES (?, ?, ?)`),
      deleteStorePath: p(`DELETE FROM store_paths WHERE store = ? AND name = ?`),
      storesOfPath: p(`SELECT store FROM store_paths WHERE name = ?`),
      realisationRecorded: p(`SELECT output, path FROM realisations WHERE resolved = ?`),
      latestEvaluations: p(`SELECT e.* FROM evaluations e JOIN (SELECT MAX(id) AS id FROM evaluations GROUP BY project, module_arg, target) l ON l.id = e.id`),
      evalDrvs: p(`SELECT drv_hash FROM evaluation_drvs WHERE evaluation_id = ?`),
      addRoot: p(`INSERT OR IGNORE INTO gc_roots (path, created_at) VALUES (?, ?)`),
      removeRoot: p(`DELETE FROM gc_roots WHERE path = ?`),
      roots: p(`SELECT path FROM gc_roots`),
      findDrvByName: p(`SELECT hash FROM derivations WHERE name = ? ORDER BY created_at DESC`),
      lastBuildOf: p(`SELECT * FROM builds WHERE drv_hash = ? ORDER BY id DESC LIMIT 1`),
      lastBuildNamed: p(`SELECT * FROM builds WHERE name = ? ORDER BY id DESC LIMIT 1`),
      lastBuildPrefix: p(`SELECT * FROM builds WHERE drv_hash LIKE ? ORDER BY id DESC LIMIT 1`),
    };
  }

  private migrate(): void {
    const version = this.sql.pragma("user_version", { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(`database schema version ${version} is newer than this bramble (${MIGRATIONS.length})`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.sql
        .transaction(() => {
          // Re-check inside the write transaction: another process may have migrated.
          const now = this.sql.pragma("user_version", { simple: true }) as number;
          if (now > v) return;
          this.sql.exec(MIGRATIONS[v]!);
          this.sql.pragma(`user_version = ${v + 1}`);
        })
        .immediate();
    }
  }

  close(): void {
    this.sql.close();
  }

  // ---- derivations and evaluations ----

  putDerivations(drvs: Map<string, Derivation>): void {
    const now = Date.now();
    this.sql.transaction(() => {
      for (const [hash, d] of drvs) this.stmts.putDrv!.run(hash, d.name, d.platform, d.system, JSON.stringify(d), now);
    })();
  }

  recordEvaluation(e: { project: string; moduleArg: string; target: string; roots: string[]; drvs: Map<string, Derivation> }): number {
    const now = Date.now();
    return this.sql.transaction(() => {
      for (const [hash, d] of e.drvs) this.stmts.putDrv!.run(hash, d.name, d.platform, d.system, JSON.stringify(d), now);
      const id = Number(this.stmts.insertEval!.run(e.project, e.moduleArg, e.target, JSON.stringify(e.roots), now).lastInsertRowid);
      for (const hash of e.drvs.keys()) this.stmts.insertEvalDrv!.run(id, hash);
      for (const { id: old } of this.stmts.staleEvals!.all(e.project, e.moduleArg, e.target) as { id: number }[]) {
        this.stmts.deleteEvalDrvs!.run(old);
        this.stmts.deleteEval!.run(old);
      }
      return id;
    })();
  }

  /** The project of the newest evaluation that included this derivation. */
  projectOf(drvHash: string): string | undefined {
    const row = this.sql
      .prepare("SELECT e.project FROM evaluations e JOIN evaluation_drvs d ON d.evaluation_id = e.id WHERE d.drv_hash = ? ORDER BY e.id DESC LIMIT 1")
      .get(drvHash) as { project: string } | undefined;
    return row?.project;
  }

  getDerivation(hash: string): Derivation | undefined {
    const row = this.stmts.getDrv!.get(hash) as { json: string } | undefined;
    return row ? (JSON.parse(row.json) as Derivation) : undefined;
  }

  /** Derivation hashes with this name, newest first. */
  derivationsNamed(name: string): string[] {
    return (this.stmts.findDrvByName!.all(name) as { hash: string }[]).map((r) => r.hash);
  }

  // ---- builds ----

  startBuild(b: NewBuild, logFileFor: (id: number) => string): BuildRecord {
    return this.sql.transaction(() => {
      const id = Number(
        this.stmts.startBuild!.run(
          b.runId,
          b.drvHash,
          b.name,
          b.backend,
          b.platform,
          b.system,
          Date.now(),
          process.pid,
          b.command === undefined ? null : JSON.stringify(b.command),
        ).lastInsertRowid,
      );
      this.stmts.setLogFile!.run(logFileFor(id), id);
      return this.getBuild(id)!;
    })();
  }

  finishBuild(id: number, f: { status: Exclude<BuildStatus, "running">; exitCode?: number | null; error?: string | null; keptDir?: string | null }): void {
    this.stmts.finishBuild!.run(f.status, Date.now(), f.exitCode ?? null, f.error ?? null, f.keptDir ?? null, id);
  }

  getBuild(id: number): BuildRecord | undefined {
    const r = this.stmts.getBuild!.get(id) as BuildRow | undefined;
    return r ? toBuild(r) : undefined;
  }

  /** The resolved builder, args and env a build ran with. */
  buildCommand(id: number): unknown {
    const r = this.stmts.getBuild!.get(id) as BuildRow | undefined;
    return r?.command ? JSON.parse(r.command) : undefined;
  }

  listBuilds(opts: { limit?: number; drvHash?: string } = {}): BuildRecord[] {
    const limit = opts.limit ?? 100;
    const rows = (opts.drvHash ? this.stmts.listBuildsDrv!.all(opts.drvHash, limit) : this.stmts.listBuilds!.all(limit)) as BuildRow[];
    return rows.map(toBuild);
  }

  /** The newest build of a derivation given by hash, hash prefix or name. */
  lastBuildOf(query: string): BuildRecord | undefined {
    const r =
      (this.stmts.lastBuildOf!.get(query) as BuildRow | undefined) ??
      (this.stmts.lastBuildNamed!.get(query) as BuildRow | undefined) ??
      (/^[0-9a-z]{4,32}$/.test(query) ? (this.stmts.lastBuildPrefix!.get(`${query}%`) as BuildRow | undefined) : undefined);
    return r ? toBuild(r) : undefined;
  }

  /** A node the scheduler skipped (a dependency failed): a history entry that never ran. */
  recordSkipped(b: NewBuild & { error: string }): number {
    const now = Date.now();
    return Number(this.stmts.skippedBuild!.run(b.runId, b.drvHash, b.name, b.backend, b.platform, b.system, now, now, b.error, process.pid).lastInsertRowid);
  }

  // ---- runs ----

  startRun(r: { runId: string; project: string; moduleArg: string; target: string }): void {
    this.stmts.startRun!.run(r.runId, r.project, r.moduleArg, r.target, Date.now(), process.pid);
  }

  finishRun(runId: string, status: Exclude<RunStatus, "running">): void {
    this.stmts.finishRun!.run(status, Date.now(), runId);
  }

  getRun(runId: string): RunRecord | undefined {
    const r = this.stmts.getRun!.get(runId) as RunRow | undefined;
    return r ? toRun(r) : undefined;
  }

  /** The newest runs first. */
  listRuns(limit = 50): RunRecord[] {
    return (this.stmts.listRuns!.all(limit) as RunRow[]).map(toRun);
  }

  /** The builds (and skipped nodes) of one run, oldest first. */
  buildsOfRun(runId: string): BuildRecord[] {
    return (this.stmts.buildsOfRun!.all(runId) as BuildRow[]).map(toBuild);
  }

  /** Runs still marked running whose process is gone were interrupted (their builds died with it). Returns how many. */
  interruptOrphanedRuns(alive: (pid: number) => boolean): number {
    const rows = this.stmts.runningRuns!.all() as { run_id: string; pid: number }[];
    let n = 0;
    for (const r of rows) {
      if (r.pid === process.pid || alive(r.pid)) continue;
      this.finishRun(r.run_id, "interrupted");
      n++;
    }
    return n;
  }

  /** Builds still marked running whose process is gone become cancelled. Returns how many. */
  cancelOrphanedBuilds(alive: (pid: number) => boolean): number {
    const rows = this.stmts.runningBuilds!.all() as { id: number; pid: number }[];
    let n = 0;
    for (const r of rows) {
      if (r.pid === process.pid || alive(r.pid)) continue;
      this.finishBuild(r.id, { status: "cancelled", error: "bramble was killed while this build ran" });
      n++;
    }
    return n;
  }

  // ---- store paths ----

  /**
   * Register a finished build's outputs in one transaction: the valid paths, which
   * derivation (and resolved derivation) they belong to, and the build's status.
   */
  registerOutputs(r: {
    drvHash: string;
    resolved?: string;
    outputs: OutputRegistration[];
    buildId?: number;
    keptDir?: string | null;
    /** the backend store that holds them (default: the local store) */
    store?: string;
  }): void {
    const now = Date.now();
    const remote = r.store && r.store !== LOCAL_STORE ? r.store : undefined;
    this.sql.transaction(() => {
      for (const o of r.outputs) {
        if (remote) this.stmts.putStorePath!.run(remote, o.info.name, JSON.stringify({ ...o.info, registeredAt: now }));
        else this.stmts.putPath!.run(o.info.name, o.info.hash, o.info.size, JSON.stringify(o.info.references), o.info.deriver, now, normalizeJSON(o.info));
        this.stmts.putDrvOutput!.run(r.drvHash, o.output, o.info.name);
        if (r.resolved) this.stmts.putRealisation!.run(r.resolved, o.output, o.info.name);
      }
      if (r.buildId !== undefined) this.finishBuild(r.buildId, { status: "built", exitCode: 0, keptDir: r.keptDir ?? null });
    })();
  }

  /** Record that a derivation's outputs are these (already valid) paths. */
  linkOutputs(drvHash: string, outputs: Record<string, string>, resolved?: string): void {
    this.sql.transaction(() => {
      for (const [output, path] of Object.entries(outputs)) {
        this.stmts.putDrvOutput!.run(drvHash, output, path);
        if (resolved) this.stmts.putRealisation!.run(resolved, output, path);
      }
    })();
  }

  addPath(info: Omit<PathInfo, "registeredAt">): void {
    this.stmts.putPath!.run(info.name, info.hash, info.size, JSON.stringify(info.references), info.deriver, Date.now(), normalizeJSON(info));
  }

  pathInfo(name: string): PathInfo | undefined {
    const r = this.stmts.getPath!.get(name) as PathRow | undefined;
    return r ? toPath(r) : undefined;
  }

  /**
   * The names and every path they reference, transitively (the names themselves always, valid
   * or not): linear in the closure. A path's references never change (its name is a hash of
   * its contents, references included), so they are cached once read: a build's closure of
   * 5,000 paths is 5,000 map lookups, not 5,000 queries (Nix keeps path infos in memory too).
   */
  closure(names: Iterable<string>): Set<string> {
    // The set is its own work queue: a Set's iteration visits what is added while it runs.
    const seen = new Set(names);
    for (const n of seen) for (const r of this.referencesOf(n)) seen.add(r);
    return seen;
  }

  private readonly refsCache = new Map<string, string[]>();

  /** A valid path's references (cached), or none. */
  private referencesOf(name: string): string[] {
    const hit = this.refsCache.get(name);
    if (hit) return hit;
    const row = this.stmts.refs!.get(name) as { refs: string } | undefined;
    if (!row) return [];
    const refs = JSON.parse(row.refs) as string[];
    this.refsCache.set(name, refs);
    return refs;
  }

  allPaths(): PathInfo[] {
    return (this.stmts.allPaths!.all() as PathRow[]).map(toPath);
  }

  deletePaths(names: string[]): void {
    this.sql.transaction(() => {
      for (const n of names) {
        this.refsCache.delete(n);
        this.stmts.deletePath!.run(n);
        // Still valid in another backend's store: which derivation made it stays known.
        this.stmts.deleteDrvOutputs!.run(n, n);
        this.stmts.deleteRealisations!.run(n, n);
      }
    })();
  }

  /** output name → store name, only when every recorded output is still valid. */
  drvOutputs(drvHash: string): Record<string, string> | undefined {
    const rows = this.stmts.drvValidOutputs!.all(drvHash) as { output: string; path: string }[];
    if (!rows.length) return undefined;
    return Object.fromEntries(rows.map((r) => [r.output, r.path]));
  }

  /** Like drvOutputs for many derivations at once (one query per 500). */
  drvOutputsMany(hashes: string[]): Map<string, Record<string, string>> {
    return this.outputsByDrv(hashes, true);
  }

  // ---- other backends' stores ----

  /** Record paths as valid in another backend's store (after a build or a copy there). */
  addStorePaths(store: string, infos: PathInfo[]): void {
    if (store === LOCAL_STORE) return;
    this.sql.transaction(() => {
      for (const i of infos) this.stmts.putStorePath!.run(store, i.name, JSON.stringify(i));
    })();
  }

  /** Forget paths of another backend's store (it no longer has them). */
  deleteStorePaths(store: string, names: string[]): void {
    this.sql.transaction(() => {
      for (const n of names) this.stmts.deleteStorePath!.run(store, n);
    })();
  }

  /** The stores a path is valid in: `local` first (the `paths` table), then other backends' stores. */
  storesOf(name: string): string[] {
    const others = (this.stmts.storesOfPath!.all(name) as { store: string }[]).map((r) => r.store).sort();
    return this.stmts.getPath!.get(name) ? [LOCAL_STORE, ...others] : others;
  }

  /** output name → store name as recorded, whether or not any store still has them. */
  drvOutputsRecorded(hashes: string[]): Map<string, Record<string, string>> {
    return this.outputsByDrv(hashes, false);
  }

  /** drv hash → output → store name, in chunks of 500; `localOnly`: only paths valid here. */
  private outputsByDrv(hashes: string[], localOnly: boolean): Map<string, Record<string, string>> {
    const out = new Map<string, Record<string, string>>();
    for (let i = 0; i < hashes.length; i += 500) {
      const chunk = hashes.slice(i, i + 500);
      const join = localOnly ? " JOIN paths p ON p.name = o.path" : "";
      const rows = this.sql
        .prepare(`SELECT o.drv_hash, o.output, o.path FROM drv_outputs o${join} WHERE o.drv_hash IN (${chunk.map(() => "?").join(",")})`)
        .all(...chunk) as { drv_hash: string; output: string; path: string }[];
      for (const r of rows) {
        let m = out.get(r.drv_hash);
        if (!m) out.set(r.drv_hash, (m = {}));
        m[r.output] = r.path;
      }
    }
    return out;
  }

  /** A resolved derivation's outputs as recorded, valid in some store or not. */
  realisationRecorded(resolved: string): Record<string, string> | undefined {
    const rows = this.stmts.realisationRecorded!.all(resolved) as { output: string; path: string }[];
    if (!rows.length) return undefined;
    return Object.fromEntries(rows.map((r) => [r.output, r.path]));
  }

  realisation(resolved: string): Record<string, string> | undefined {
    const rows = this.stmts.realisation!.all(resolved) as { output: string; path: string }[];
    if (!rows.length) return undefined;
    return Object.fromEntries(rows.map((r) => [r.output, r.path]));
  }

  outputsOf(drvHash: string): OutputInfo[] {
    const rows = this.stmts.outputsOf!.all(drvHash) as (PathRow & { output: string })[];
    return rows.map((r) => ({
      name: r.output,
      path: join(this.storeDir, r.name),
      hash: r.hash,
      size: r.size,
      references: (JSON.parse(r.refs) as string[]).map((n) => join(this.storeDir, n)),
    }));
  }

  derivers(storeName: string): string[] {
    return (this.stmts.derivers!.all(storeName) as { drv_hash: string }[]).map((r) => r.drv_hash);
  }

  // ---- gc roots ----

  /** Derivation hashes of every latest evaluation (per project, module argument and target). */
  liveEvaluationDrvs(): Set<string> {
    const live = new Set<string>();
    for (const e of this.stmts.latestEvaluations!.all() as { id: number }[]) {
      for (const r of this.stmts.evalDrvs!.all(e.id) as { drv_hash: string }[]) live.add(r.drv_hash);
    }
    return live;
  }

  addRoot(storeName: string): void {
    this.stmts.addRoot!.run(storeName, Date.now());
  }

  removeRoot(storeName: string): void {
    this.stmts.removeRoot!.run(storeName);
  }

  explicitRoots(): string[] {
    return (this.stmts.roots!.all() as { path: string }[]).map((r) => r.path);
  }
}
