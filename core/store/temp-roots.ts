// Temporary gc roots, as Nix's temproots: store paths a running process uses or has just made
// (a build run's inputs and the outputs it registers, `bramble shell`'s inputs, `bramble run`'s
// programs). Each process writes the names it holds to var/temproots/<pid>-<start>, where
// <start> is the process's start time (/proc/<pid>/stat), so a pid the kernel hands to another
// process later does not keep them. gc keeps them and their closures while that process lives
// and removes the files of dead ones.
//
// gc runs beside builds, so adding a root and collecting race. The protocol (docs/store.md):
// gc holds var/locks/gc.lock for its whole run, reads the roots, takes the path lock of each
// path it means to delete, and reads the temporary roots again before deleting. A holder
// appends its names first and then, for a path that was already valid, waits until no gc runs
// (`waitForGc`) and looks again that the path is there; a path registered under its path lock
// (a build's output) is rooted before that lock is released, so gc's second reading sees it.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lockHeld, pidAlive } from "./lock.js";

function dir(varDir: string): string {
  return join(varDir, "temproots");
}

/** The kernel's start time of a process (clock ticks since boot), undefined where /proc has none. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command's closing parenthesis: state is field 3, starttime field 22.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Names this process holds per temproots directory, with how many holders each has. */
const held = new Map<string, Map<string, number>>();

function ownFile(d: string): string {
  return join(d, `${process.pid}-${startTime(process.pid) ?? "0"}`);
}

/** Hold `names` as gc roots until the returned release() (or this process's end). */
export function addTempRoots(varDir: string, names: string[]): () => void {
  const d = dir(varDir);
  mkdirSync(d, { recursive: true });
  let counts = held.get(d);
  if (!counts) held.set(d, (counts = new Map()));
  const fresh: string[] = [];
  for (const n of new Set(names)) {
    const c = counts.get(n) ?? 0;
    if (c === 0) fresh.push(n);
    counts.set(n, c + 1);
  }
  // Appended whole lines: a gc reading at the same time sees complete names.
  if (fresh.length) appendFileSync(ownFile(d), fresh.map((n) => `${n}\n`).join(""));
  let released = false;
  return () => {
    if (released) return;
    released = true;
    let dropped = false;
    for (const n of new Set(names)) {
      const c = (counts.get(n) ?? 1) - 1;
      if (c > 0) counts.set(n, c);
      else {
        counts.delete(n);
        dropped = true;
      }
    }
    if (!dropped) return;
    if (batch) batch.set(d, counts);
    else rewrite(d, counts);
  };
}

/** While releaseAll runs: the directories whose file is rewritten once at its end. */
let batch: Map<string, Map<string, number>> | undefined;

/**
 * Call many release functions of addTempRoots and rewrite this process's file once at the end:
 * a run releasing 5,000 holds (one per output it built) rewrote the file 5,000 times (6.6 s).
 */
export function releaseAll(releases: Iterable<() => void>): void {
  const outer = !batch;
  batch ??= new Map();
  try {
    for (const release of releases) release();
  } finally {
    if (outer) {
      const pending = batch;
      batch = undefined;
      for (const [d, counts] of pending) rewrite(d, counts);
    }
  }
}

function rewrite(d: string, counts: Map<string, number>): void {
  // Rewritten whole and renamed into place: the names other holders in this process keep are
  // never missing from the file, not even for a moment.
  const file = ownFile(d);
  if (!counts.size) {
    rmSync(file, { force: true });
    return;
  }
  const tmp = join(d, `.${process.pid}.tmp`);
  writeFileSync(tmp, [...counts.keys()].map((n) => `${n}\n`).join(""));
  renameSync(tmp, file);
}

/** The store names held by live processes; files of dead processes are removed. */
export function readTempRoots(varDir: string): string[] {
  const d = dir(varDir);
  if (!existsSync(d)) return [];
  const out = new Set<string>();
  for (const e of readdirSync(d)) {
    if (e.startsWith(".")) continue; // a holder's file being rewritten
    const m = /^(\d+)(?:-(\d+))?$/.exec(e);
    const file = join(d, e);
    const pid = m ? Number.parseInt(m[1]!, 10) : 0;
    // A live pid whose start time differs is another process that got the number since.
    const now = m && pidAlive(pid) ? startTime(pid) : undefined;
    const alive = !!m && pidAlive(pid) && (m[2] === undefined || now === undefined || now === m[2]);
    if (!alive) {
      rmSync(file, { force: true });
      continue;
    }
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue; // released meanwhile
    }
    for (const n of text.split("\n")) if (n) out.add(n);
  }
  return [...out];
}

/** The lock a gc holds while it runs. */
export function gcLock(lockDir: string): string {
  return join(lockDir, "gc.lock");
}

/** Wait until no gc runs on this store (polling, never blocking the thread). */
export async function waitForGc(lockDir: string, signal?: AbortSignal): Promise<void> {
  let wait = 25;
  while (lockHeld(gcLock(lockDir))) {
    if (signal?.aborted) throw new Error("cancelled");
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 250);
  }
}
