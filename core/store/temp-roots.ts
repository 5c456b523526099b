// Temporary gc roots: store paths a running process uses without having built them just now
// (`bramble shell`'s inputs, `bramble run`'s outputs). Each process writes the names it holds
// to var/temproots/<pid>; gc keeps them and their closures while that process lives, and
// removes the files of dead ones. (Running builds are covered by gc's refusal to run while a
// build's run marker is held.) Like Nix's temproots, but one file per process, no socket.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pidAlive } from "./lock.js";

function dir(varDir: string): string {
  return join(varDir, "temproots");
}

/** Hold `names` as gc roots until the returned release() (or this process's end). */
export function addTempRoots(varDir: string, names: string[]): () => void {
  const d = dir(varDir);
  mkdirSync(d, { recursive: true });
  const file = join(d, String(process.pid));
  // Appended whole lines: a gc reading at the same time sees complete names.
  if (names.length) appendFileSync(file, names.map((n) => `${n}\n`).join(""));
  let released = false;
  return () => {
    if (released) return;
    released = true;
    // One file per process: the other holders in this process keep theirs by writing again.
    const mine = new Set(names);
    const rest = existsSync(file)
      ? readFileSync(file, "utf8")
          .split("\n")
          .filter((n) => n && !mine.has(n))
      : [];
    rmSync(file, { force: true });
    if (rest.length) appendFileSync(file, rest.map((n) => `${n}\n`).join(""));
  };
}

/** The store names held by live processes; files of dead processes are removed. */
export function readTempRoots(varDir: string): string[] {
  const d = dir(varDir);
  if (!existsSync(d)) return [];
  const out = new Set<string>();
  for (const e of readdirSync(d)) {
    const pid = Number.parseInt(e, 10);
    const file = join(d, e);
    if (!/^\d+$/.test(e) || !pidAlive(pid)) {
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
