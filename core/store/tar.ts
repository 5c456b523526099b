// Store trees as tar streams, with npm `tar` (never the system tar: its options differ between
// GNU, BSD and busybox). Only files, directories and symlinks; no absolute or `..` paths; no
// owners (a store tree belongs to whoever holds the store).
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { create, extract } from "tar";

/** A tar stream of the trees `names` (relative to `cwd`), each entry under `prefix/` if given. */
export function packTrees(cwd: string, names: string[], opts: { prefix?: string } = {}): Readable {
  const out = new PassThrough();
  const t = create(
    { cwd, portable: true, follow: false, noDirRecurse: false, ...(opts.prefix ? { prefix: opts.prefix } : {}) },
    names,
  ) as unknown as NodeJS.ReadableStream & {
    on(e: "error", f: (e: Error) => void): void;
  };
  t.on("error", (e: Error) => out.destroy(e));
  t.pipe(out);
  return out;
}

/**
 * Unpack a tar stream into `dir`. Directories are unpacked writable (store trees are read-only;
 * the store that takes them in canonicalizes them again).
 */
export async function unpackTrees(stream: Readable | NodeJS.ReadableStream, dir: string): Promise<void> {
  const refused: string[] = [];
  const links: string[] = [];
  const x = extract({
    cwd: dir,
    strict: true,
    // Symlinks in a store tree may point anywhere (absolute targets into the store are the
    // rule), so tar must keep them as they are; entry paths are checked here instead.
    preservePaths: true,
    preserveOwner: false,
    filter: (path, entry) => {
      const type = (entry as { type?: string }).type;
      const p = path.replace(/\/+$/, "");
      let why: string | undefined;
      if (!(type === "File" || type === "OldFile" || type === "ContiguousFile" || type === "Directory" || type === "SymbolicLink")) why = `a ${type}`;
      else if (p.startsWith("/") || p.split("/").includes("..")) why = "outside the tree";
      else if (links.some((l) => p.startsWith(`${l}/`))) why = "through a symlink";
      if (why) {
        refused.push(`${path} (${why})`);
        return false;
      }
      if (type === "SymbolicLink") links.push(p);
      return true;
    },
    onReadEntry: (entry) => {
      if (entry.type === "Directory") entry.mode = ((entry.mode ?? 0o755) | 0o700) & 0o777;
    },
  });
  await pipeline(stream as Readable, x as unknown as NodeJS.WritableStream);
  if (refused.length) throw new Error(`the archive holds entries a store path cannot have: ${refused.slice(0, 5).join(", ")}`);
}
