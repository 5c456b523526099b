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
}

export function readLock(root: string): LockFile {
  const file = join(root, LOCK_FILE);
  if (!existsSync(file)) return { urlhashes: new Map() };
  let doc;
  try {
    doc = readConfigFile(LockToml, file);
  } catch (err) {
    if (err instanceof ConfigError) throw new ProjectError(`${err.key ? `${err.key} ` : ""}${err.problem}`, file, err.line, err.col);
    throw err;
  }
  return { urlhashes: new Map(Object.entries(doc.urlhashes ?? {})) };
}

/**
 * Add entries to bramble.lock, keeping whatever other processes wrote meanwhile: under
 * `bramble.lock.lck`, taken with the store's lock (core/store/lock.ts: one implementation,
 * stale when its process is dead, waited for without blocking the thread).
 */
export async function recordLockEntries(root: string, entries: Map<string, string>): Promise<void> {
  if (entries.size === 0) return;
  const file = join(root, LOCK_FILE);
  const release = await lock(`${file}.lck`, undefined, { pollMs: 5, timeoutMs: 30_000 });
  try {
    const current = readLock(root).urlhashes;
    for (const [k, v] of entries) current.set(k, v);
    const sorted = Object.fromEntries([...current.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, stringifyToml({ urlhashes: sorted }) + "\n");
    renameSync(tmp, file);
  } finally {
    release();
  }
}
