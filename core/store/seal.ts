// What a build leaves behind is sealed before anyone trusts it. An output, before its hash is
// taken (and after every process of its build is gone, see sandbox.ts): owned by the store's
// user, read-only, no setuid, setgid, sticky or world-writable bit, no file sharing its inode
// with anything else (a hard link to an input would let a later chmod or write reach the
// input), only files, directories and symlinks. A kept failed build directory: no setuid,
// setgid or world-writable bit, so it can give no one else anything.
import { chmodSync, copyFileSync, lchownSync, lstatSync, readdirSync, renameSync, type Stats } from "node:fs";
import { join } from "node:path";

/** The user a store belongs to: its directory's owner (this process when there is none). */
export function storeOwner(storeDir: string): { uid: number; gid: number } {
  try {
    const st = lstatSync(storeDir);
    return { uid: st.uid, gid: st.gid };
  } catch {
    return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  }
}

/** The mode a store entry must have: files 0444 or 0555 (executable), directories 0555. */
function storeMode(st: Stats): number | undefined {
  if (st.isDirectory()) return 0o555;
  if (st.isFile()) return st.mode & 0o111 ? 0o555 : 0o444;
  return undefined;
}

/**
 * Seal a built tree in place before it is hashed. Directories stay writable by the owner only
 * (0755) until the store rewrites hash parts and canonicalizes it (then 0555): no one else can
 * write anything. Throws on a device, FIFO or socket.
 */
export function sealOutput(root: string, owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }): void {
  const walk = (abs: string) => {
    let st = lstatSync(abs);
    if (st.uid !== owner.uid || st.gid !== owner.gid) lchownSync(abs, owner.uid, owner.gid);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      chmodSync(abs, 0o755);
      for (const e of readdirSync(abs)) walk(join(abs, e));
      return;
    }
    if (!st.isFile()) throw new Error(`${abs}: unsupported file type in an output (devices, FIFOs and sockets are not allowed)`);
    if (st.nlink > 1) {
      // A hard link shares its inode: copy it, so nothing outside the output changes with it.
      const tmp = `${abs}.bramble-unlink`;
      copyFileSync(abs, tmp);
      renameSync(tmp, abs);
      st = lstatSync(abs);
    }
    chmodSync(abs, st.mode & 0o111 ? 0o555 : 0o444);
  };
  walk(root);
}

/** Strip setuid, setgid and sticky bits and group/other write from a kept build directory. */
export function defangTree(root: string): void {
  const walk = (abs: string) => {
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) return;
    const mode = st.mode & 0o7777;
    const safe = mode & ~0o7022;
    if (safe !== mode) chmodSync(abs, safe);
    if (st.isDirectory()) for (const e of readdirSync(abs)) walk(join(abs, e));
  };
  walk(root);
}

/**
 * What is wrong with the modes and ownership of a store path (empty when nothing): every entry
 * owned by the store's user, files 0444/0555, directories 0555, nothing else but symlinks.
 */
export function modeProblems(root: string, owner: { uid: number; gid: number }, max = 5): string[] {
  const problems: string[] = [];
  const walk = (abs: string, rel: string) => {
    if (problems.length >= max) return;
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch {
      return;
    }
    const where = rel || ".";
    if (st.uid !== owner.uid || st.gid !== owner.gid) problems.push(`${where}: owned by ${st.uid}:${st.gid}, not the store's ${owner.uid}:${owner.gid}`);
    if (st.isSymbolicLink()) return;
    const want = storeMode(st);
    if (want === undefined) {
      problems.push(`${where}: not a file, directory or symlink`);
      return;
    }
    const mode = st.mode & 0o7777;
    if (mode !== want) problems.push(`${where}: mode ${mode.toString(8).padStart(4, "0")}, not ${want.toString(8).padStart(4, "0")}`);
    if (st.isDirectory()) for (const e of readdirSync(abs).sort()) walk(join(abs, e), rel ? `${rel}/${e}` : e);
  };
  walk(root, "");
  return problems;
}

/** Give a store path the modes and owner it must have (verify --repair; contents untouched). */
export function repairModes(root: string, owner: { uid: number; gid: number }): void {
  const walk = (abs: string) => {
    const st = lstatSync(abs);
    if (st.uid !== owner.uid || st.gid !== owner.gid) lchownSync(abs, owner.uid, owner.gid);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      chmodSync(abs, 0o755);
      for (const e of readdirSync(abs)) walk(join(abs, e));
    }
    const want = storeMode(st);
    if (want !== undefined) chmodSync(abs, want);
  };
  walk(root);
}
