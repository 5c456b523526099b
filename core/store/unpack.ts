// Unpacking fetched archives into a tree, in-process (no host tools): tar (plain, gzip, xz,
// zstd), zip, and Debian .deb (an ar archive whose data.tar.* member is the package's files;
// its control files are left out). Every archive is unpacked safely: no absolute paths, no
// `..`, nothing written through a symlink, and only files, directories, symlinks and hard
// links inside the tree. Decompressors: Node's zlib (gzip), xz-decompress (xz, WebAssembly),
// fzstd (zstd), yauzl (zip): Node 20's zlib has neither xz nor zstd.
import {
  closeSync,
  createReadStream,
  createWriteStream,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  symlinkSync,
} from "node:fs";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { createGunzip } from "node:zlib";
import * as fzstd from "fzstd";
import { x as untar } from "tar";
import xzDecompress from "xz-decompress";
import yauzl from "yauzl";

export type ArchiveKind = "tar" | "tar.gz" | "tar.xz" | "tar.zst" | "zip" | "deb";

/** The archive kind a file name says, or undefined for a plain file (saved as it is). */
export function archiveKind(name: string): ArchiveKind | undefined {
  const n = name.toLowerCase();
  if (n.endsWith(".tar")) return "tar";
  if (n.endsWith(".tar.gz") || n.endsWith(".tgz")) return "tar.gz";
  if (n.endsWith(".tar.xz") || n.endsWith(".txz")) return "tar.xz";
  if (n.endsWith(".tar.zst") || n.endsWith(".tzst")) return "tar.zst";
  if (n.endsWith(".zip")) return "zip";
  if (n.endsWith(".deb")) return "deb";
  return undefined;
}

export class UnpackError extends Error {}

export interface UnpackOptions {
  /**
   * Strip a single top-level directory (most source archives have one). Default: true for
   * tar and zip, false for .deb (its tree starts at the filesystem root).
   */
  strip?: boolean;
}

/** Unpack `file` (of `kind`) into `dir`, which is created (or added to, when it exists). */
export async function unpackArchive(file: string, dir: string, kind: ArchiveKind, opts: UnpackOptions = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (kind === "zip") await unzip(file, dir);
  else if (kind === "deb") {
    const member = debDataMember(file);
    const stream = createReadStream(file, { start: member.offset, end: member.offset + member.size - 1 });
    await untarStream(stream, dir, tarKindOf(member.name, file));
  } else await untarStream(createReadStream(file), dir, kind);
  if (opts.strip ?? kind !== "deb") stripSingleDirectory(dir);
}

function tarKindOf(member: string, file: string): ArchiveKind {
  const kind = archiveKind(member);
  if (kind === undefined || kind === "zip" || kind === "deb") throw new UnpackError(`${file}: the .deb member ${member} is not a tar archive`);
  return kind;
}

function decompressor(kind: ArchiveKind): ((s: Readable) => Readable) | undefined {
  switch (kind) {
    case "tar.gz":
      return (s) => s.pipe(createGunzip());
    case "tar.xz":
      return (s) =>
        Readable.fromWeb(
          new xzDecompress.XzReadableStream(Readable.toWeb(s) as unknown as ReadableStream<Uint8Array>) as unknown as WebReadableStream<Uint8Array>,
        );
    case "tar.zst":
      return (s) => s.pipe(zstdTransform());
    default:
      return undefined;
  }
}

function zstdTransform(): Transform {
  let push: (chunk: Uint8Array) => void = () => {};
  const z = new fzstd.Decompress((data) => push(data));
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      push = (d) => this.push(Buffer.from(d));
      try {
        z.push(chunk);
        done();
      } catch (e) {
        done(new UnpackError(`zstd: ${(e as Error).message}`));
      }
    },
    flush(done) {
      push = (d) => this.push(Buffer.from(d));
      try {
        z.push(new Uint8Array(0), true);
        done();
      } catch (e) {
        done(new UnpackError(`zstd: ${(e as Error).message}`));
      }
    },
  });
}

const TAR_TYPES = new Set(["File", "OldFile", "ContiguousFile", "Directory", "SymbolicLink", "Link"]);

async function untarStream(source: Readable, dir: string, kind: ArchiveKind): Promise<void> {
  const refused: string[] = [];
  const problems: string[] = [];
  // Symlinks stay as they are: to absolute targets (a .deb's /lib64/ld-linux-x86-64.so.2 ->
  // /lib/...), which tar would make relative, and relative ones, which tar refuses when their
  // target is another link (binutils' usr/lib/compat-ld/ld -> ../../bin/ld.bfd -> ...). Made
  // after the rest, never through another link.
  const absoluteLinks: { path: string; target: string }[] = [];
  const input = decompressor(kind)?.(source) ?? source;
  const sink = untar({
    cwd: dir,
    strict: false,
    preservePaths: false,
    preserveOwner: false,
    noMtime: true,
    onwarn: (code: string, message: string) => {
      if (code !== "TAR_ENTRY_INFO") problems.push(`${code}: ${message}`);
    },
    filter: (path, entry) => {
      const e = entry as { type?: string; linkpath?: string };
      const type = e.type ?? "";
      const ok = TAR_TYPES.has(type) && isInside(path);
      if (!ok) refused.push(`${path} (${type})`);
      if (ok && type === "SymbolicLink" && e.linkpath) {
        absoluteLinks.push({ path, target: e.linkpath });
        return false;
      }
      return ok;
    },
  });
  try {
    await pipeline(input, sink as unknown as NodeJS.WritableStream);
  } catch (e) {
    throw new UnpackError(`cannot unpack the ${kind} archive: ${(e as Error).message}`);
  }
  if (refused.length) throw new UnpackError(`archive holds entries that cannot be unpacked: ${refused.slice(0, 5).join(", ")}`);
  if (problems.length) throw new UnpackError(`cannot unpack the ${kind} archive: ${problems.slice(0, 5).join("; ")}`);
  for (const { path, target } of absoluteLinks) {
    const at = join(dir, path);
    refuseThroughLink(dir, dirname(at));
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(target, at);
  }
}

/** A relative path that stays inside the tree (no absolute path, no `..`). */
function isInside(p: string): boolean {
  if (isAbsolute(p)) return false;
  const n = normalize(p);
  return n !== ".." && !n.startsWith(`..${sep}`);
}

/** The data.tar.* member of a .deb (an ar archive): its name, offset and size. */
export function debDataMember(file: string): { name: string; offset: number; size: number } {
  const fd = openSync(file, "r");
  try {
    const magic = Buffer.alloc(8);
    readSync(fd, magic, 0, 8, 0);
    if (magic.toString("latin1") !== "!<arch>\n") throw new UnpackError(`${file}: not a Debian package (no ar header)`);
    let at = 8;
    const header = Buffer.alloc(60);
    for (;;) {
      if (readSync(fd, header, 0, 60, at) < 60) break;
      if (header.toString("latin1", 58, 60) !== "`\n") throw new UnpackError(`${file}: a broken ar member header at byte ${at}`);
      const name = header.toString("latin1", 0, 16).trim().replace(/\/$/, "");
      const size = Number.parseInt(header.toString("latin1", 48, 58).trim(), 10);
      if (!Number.isSafeInteger(size) || size < 0) throw new UnpackError(`${file}: a bad ar member size at byte ${at}`);
      if (name.startsWith("data.tar")) return { name, offset: at + 60, size };
      at += 60 + size + (size % 2);
    }
    throw new UnpackError(`${file}: the Debian package has no data.tar member`);
  } finally {
    closeSync(fd);
  }
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;

function unzip(file: string, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, strictFileNames: true, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) return reject(new UnpackError(`cannot read the zip archive: ${err?.message}`));
      const fail = (e: Error) => {
        zip.close();
        reject(e instanceof UnpackError ? e : new UnpackError(`cannot unpack the zip archive: ${e.message}`));
      };
      zip.on("error", fail);
      zip.on("end", () => resolve());
      zip.on("entry", (entry: yauzl.Entry) => {
        const name = entry.fileName;
        if (!isInside(name)) return fail(new UnpackError(`zip entry ${name} is outside the tree`));
        const target = join(dir, name);
        const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
        const type = mode & S_IFMT;
        try {
          refuseThroughLink(dir, dirname(target));
        } catch (e) {
          return fail(e as Error);
        }
        if (name.endsWith("/") || type === S_IFDIR) {
          mkdirSync(target, { recursive: true });
          return zip.readEntry();
        }
        mkdirSync(dirname(target), { recursive: true });
        zip.openReadStream(entry, (e2, stream) => {
          if (e2 || !stream) return fail(e2 ?? new Error("no stream"));
          if (type === S_IFLNK) {
            const parts: Buffer[] = [];
            stream.on("data", (d: Buffer) => parts.push(d));
            stream.on("error", fail);
            stream.on("end", () => {
              try {
                symlinkSync(Buffer.concat(parts).toString("utf8"), target);
                zip.readEntry();
              } catch (e3) {
                fail(e3 as Error);
              }
            });
            return;
          }
          const out = createWriteStream(target, { mode: mode & 0o111 ? 0o755 : 0o644, flags: "wx" });
          pipeline(stream, out).then(() => zip.readEntry(), fail);
        });
      });
      zip.readEntry();
    });
  });
}

/** Nothing is written through a symlink the archive made earlier. */
function refuseThroughLink(root: string, parent: string): void {
  let p = parent;
  while (p.length > root.length && p.startsWith(root)) {
    try {
      if (lstatSync(p).isSymbolicLink()) throw new UnpackError(`an entry below ${p.slice(root.length + 1)} would be written through a symlink`);
    } catch (e) {
      if (e instanceof UnpackError) throw e;
    }
    p = dirname(p);
  }
}

/** A single top-level directory is stripped, as most source archives have one. */
function stripSingleDirectory(dir: string): void {
  const entries = readdirSync(dir);
  if (entries.length !== 1 || !lstatSync(join(dir, entries[0]!)).isDirectory()) return;
  const inner = join(dir, entries[0]!);
  const tmp = `${dir}.strip`;
  renameSync(inner, tmp);
  rmdirSync(dir);
  renameSync(tmp, dir);
}
