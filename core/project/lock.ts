// bramble.lock: the fixed-output hashes a project has seen. Writers merge under an
// exclusive lock file and replace the file atomically, so two processes recording at
// once both keep their entries.
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { lock } from "../store/lock.js";
import { join } from "node:path";
import { stringify as stringifyToml } from "smol-toml";
import { ConfigError, LockToml, readConfigFile } from "../config/schema.js";
import { ProjectError } from "./project.js";

export const LOCK_FILE = "bramble.lock";

export interface LockFile {
  /** fetch key (a URL, or `git+<url>#<ref>`) → output hash */
  urlhashes: Map<string, string>;
  /** `<package>@<version>` → the hash of the tree that dependency was fetched as (dependencies.ts) */
  dependencies: Map<string, string>;
}

export function readLock(root: string): LockFile {
  const file = join(root, LOCK_FILE);
  if (!existsSync(file)) return { urlhashes: new Map(), dependencies: new Map() };
  const doc = (() => {
    try {
      return readConfigFile(LockToml, file);
    } catch (err) {
      if (err instanceof ConfigError) throw new ProjectError(`${err.key ? `${err.key} ` : ""}${err.problem}`, file, err.line, err.col);
      throw err;
    }
  })();
  return { urlhashes: new Map(Object.entries(doc.urlhashes ?? {})), dependencies: new Map(Object.entries(doc.dependencies ?? {})) };
}

/**
 * Add entries to bramble.lock (`urlhashes`, or the `dependencies` table), keeping whatever
 * other processes wrote meanwhile: under `bramble.lock.lck`, taken with the store's lock
 * (core/store/lock.ts: one implementation, stale when its process is dead, waited for
 * without blocking the thread).
 */
export async function recordLockEntries(root: string, entries: Map<string, string>, table: keyof LockFile = "urlhashes"): Promise<void> {
  if (entries.size === 0) return;
  const file = join(root, LOCK_FILE);
  const release = await lock(`${file}.lck`, undefined, { pollMs: 5, timeoutMs: 30_000 });
  try {
    const current = readLock(root);
    for (const [k, v] of entries) current[table].set(k, v);
    const sorted = (m: Map<string, string>) => Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
    const doc: Record<string, Record<string, string>> = {};
    if (current.urlhashes.size > 0) doc.urlhashes = sorted(current.urlhashes);
    if (current.dependencies.size > 0) doc.dependencies = sorted(current.dependencies);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${stringifyToml(doc).trimEnd()}\n`);
    renameSync(tmp, file);
  } finally {
    release();
  }
}
