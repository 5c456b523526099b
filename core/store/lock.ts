// Cross-process locks, the one implementation bramble has: a lock is a file created with
// O_EXCL (atomic in the kernel) holding the owner's pid. A lock whose owner is dead is stale and
// is broken by the next taker. Waiting is asynchronous (`lock`), never a spin of the thread.
import { closeSync, existsSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readOwner(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    if (!Number.isNaN(pid)) return pid;
    // Empty: its owner is between creating it and writing its pid. Held while that is recent.
    return Date.now() - statSync(path).mtimeMs < 5000 ? undefined : NaN;
  } catch {
    return undefined;
  }
}

/** Whether a live process holds the lock at `path` now (or is between creating and writing it). */
export function lockHeld(path: string): boolean {
  if (!existsSync(path)) return false;
  const owner = readOwner(path);
  return owner === undefined ? existsSync(path) : pidAlive(owner);
}

/** Take the lock now or return false. Breaks stale locks. */
export function tryLock(path: string): boolean {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const owner = readOwner(path);
    if (owner === undefined || pidAlive(owner)) {
      // An unreadable lock may be in the middle of being written; treat it as held.
      return false;
    }
    // Stale: move it aside under a unique name, and put it back if it turns out not to be.
    const aside = `${path}.stale.${process.pid}.${attempt}`;
    try {
      renameSync(path, aside);
    } catch {
      continue;
    }
    const movedOwner = readOwner(aside);
    if (movedOwner !== undefined && pidAlive(movedOwner)) {
      try {
        linkSync(aside, path);
      } catch {
        /* someone else took it meanwhile */
      }
    }
    try {
      unlinkSync(aside);
    } catch {
      /* ignore */
    }
  }
  return false;
}

export function unlock(path: string): void {
  try {
    if (readOwner(path) === process.pid) unlinkSync(path);
  } catch {
    /* already gone */
  }
}

/**
 * Wait for the lock, polling without blocking the thread (timers, never a busy wait); rejects
 * when `signal` aborts or after `timeoutMs`. Returns the release function.
 */
export async function lock(path: string, signal?: AbortSignal, opts: { pollMs?: number; timeoutMs?: number } = {}): Promise<() => void> {
  let wait = opts.pollMs ?? 25;
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  while (!tryLock(path)) {
    if (signal?.aborted) throw new Error("cancelled");
    if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${path}`);
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 250);
  }
  return () => unlock(path);
}
