// bramble.lock: the fixed-output hashes a project has seen. Writers merge under an
// exclusive lock file and replace the file atomically, so two processes recording at
// once both keep their entries.
import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml, stringify as stringifyToml, TomlError } from "smol-toml";
import { ProjectError } from "./project.js";

export const LOCK_FILE = "bramble.lock";

export interface LockFile {
  /** fetch key (a URL, or `git+<url>#<ref>`) → output hash */
  urlhashes: Map<string, string>;
}

export function readLock(root: string): LockFile {
  const file = join(root, LOCK_FILE);
  const urlhashes = new Map<string, string>();
  if (!existsSync(file)) return { urlhashes };
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) throw new ProjectError(err.message.split("\n")[0]!, file, err.line, err.column);
    throw err;
  }
  const table = doc.urlhashes ?? {};
  if (typeof table !== "object" || Array.isArray(table)) throw new ProjectError("[urlhashes] must be a table", file);
  for (const [k, v] of Object.entries(table as Record<string, unknown>)) {
    if (typeof v !== "string") throw new ProjectError(`urlhashes."${k}" must be a string`, file);
    urlhashes.set(k, v);
  }
  return { urlhashes };
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
