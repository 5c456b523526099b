// Nix's result symlinks: `bramble build -o result` (default name `result`) makes `result` point
// at the first root's output, `result-dev` at its `dev` output, and `result-2`, `result-2-dev`
// at the second root's. Each link is an indirect gc root: var/gcroots/auto holds a symlink to
// the link, and gc keeps what the link still points at (a deleted or re-pointed link keeps
// nothing, as in Nix).
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

function autoDir(varDir: string): string {
  return join(varDir, "gcroots", "auto");
}

/** Make (or replace) the symlink `link` → `target` and register it as an indirect gc root. */
export function makeOutLink(varDir: string, link: string, target: string): void {
  const abs = resolve(link);
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(abs);
  } catch {
    existing = undefined;
  }
  if (existing && !existing.isSymbolicLink()) throw new Error(`${abs} exists and is not a symlink: not replacing it with an out-link`);
  if (existing) rmSync(abs);
  mkdirSync(dirname(abs), { recursive: true });
  symlinkSync(target, abs);
  const dir = autoDir(varDir);
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, createHash("sha256").update(abs).digest("hex").slice(0, 32));
  rmSync(entry, { force: true });
  symlinkSync(abs, entry);
}

/** Store names the registered out-links still point at; dead registrations are removed. */
export function outLinkRoots(varDir: string, storeDir: string): string[] {
  const dir = autoDir(varDir);
  if (!existsSync(dir)) return [];
  const roots: string[] = [];
  for (const e of readdirSync(dir)) {
    const entry = join(dir, e);
    let target: string;
    try {
      target = readlinkSync(readlinkSync(entry));
    } catch {
      rmSync(entry, { force: true }); // the link is gone: it roots nothing
      continue;
    }
    if (target.startsWith(`${storeDir}/`)) roots.push(target.slice(storeDir.length + 1).split("/")[0]!);
    else if (!target.includes("/")) roots.push(basename(target));
  }
  return roots;
}
