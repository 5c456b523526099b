// bramble.lock: the fixed-output hashes a project has seen. Writers merge under an
// exclusive lock file and replace the file atomically, so two processes recording at
// once both keep their entries.
import { closeSync, existsSync, openSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
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

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function withLockFile<T>(path: string, fn: () => T): T {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      closeSync(openSync(path, "wx"));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      // A lock older than a minute belongs to a process that died.
      try {
        if (Date.now() - statSync(path).mtimeMs > 60_000) unlinkSync(path);
      } catch {
        /* raced with its owner */
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
      sleepSync(5);
    }
  }
  try {
    return fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
}

/** Add entries to bramble.lock, keeping whatever other processes wrote meanwhile. */
export function recordLockEntries(root: string, entries: Map<string, string>): void {
  if (entries.size === 0) return;
  const file = join(root, LOCK_FILE);
  withLockFile(`${file}.lck`, () => {
    const current = readLock(root).urlhashes;
    for (const [k, v] of entries) current.set(k, v);
    const sorted = Object.fromEntries([...current.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, stringifyToml({ urlhashes: sorted }) + "\n");
    renameSync(tmp, file);
  });
}
