// The deterministic archive of an output tree, and what is computed while walking it:
// the output hash (over names, the executable bit, symlink targets and contents, with the
// store directory and the output's own hash part normalized), its size, and its references.
// Also canonicalization (modes, times, no setuid) and self-reference rewriting.
import { createHash, type Hash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  lstatSync,
  lutimesSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  renameSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { base32 } from "../derivation/derivation.js";
import { CANONICAL_STORE_DIR, HASH_PART_LENGTH, SELF_HASH_PLACEHOLDER } from "./layout.js";

const CHUNK = 1 << 20;

export interface Replacement {
  from: Buffer;
  to: Buffer;
}

export interface TreeHashOptions {
  /** the store directory the tree was built for; replaced by CANONICAL_STORE_DIR */
  storeDir: string;
  /** the tree's own hash part (a temporary one while building); replaced by zeros */
  selfHash?: string;
  /** hash parts of store paths that may be referenced; a map's keys are looked up where they are, never copied */
  candidates?: Iterable<string> | ReadonlyMap<string, unknown>;
  /** other hash parts to normalize (sibling outputs of one build): hash part → placeholder */
  normalize?: Map<string, string>;
}

export interface TreeInfo {
  /** sha256 of the normalized archive */
  digest: Buffer;
  /** bytes of file contents */
  size: number;
  /** candidate hash parts found in the tree (may include selfHash) */
  references: Set<string>;
  /** relative paths of files and symlinks that contain selfHash */
  selfRefs: string[];
  /** for selfHash and each `normalize` key: the relative paths that contain it */
  refFiles: Map<string, string[]>;
}

/** `sha256:<base32>` as shown to users and written in bramble.lock. */
export function formatHash(digest: Buffer): string {
  return `sha256:${base32(digest)}`;
}

/** The characters of a hash part (Nix's base32). */
const HASH_CHARS = "0123456789abcdfghijklmnpqrsvwxyz";
const IS_HASH_CHAR = new Uint8Array(256);
for (const c of HASH_CHARS) IS_HASH_CHAR[c.charCodeAt(0)] = 1;

/**
 * What to look for while a tree is read: hash parts (32 base32 characters) in a Set, found in
 * one pass whatever their number (as Nix does: skip ahead past any byte that cannot be in a
 * hash part, look a 32-character run up); any other needle by search.
 */
export interface Needles {
  hashes: Set<string>;
  /** more hash parts, looked up in the caller's own map (a build's closure by hash part: not copied per build) */
  more?: ReadonlyMap<string, unknown>;
  others: Buffer[];
  /** the longest needle */
  maxLength: number;
}

function isHashPart(s: string): boolean {
  if (s.length !== HASH_PART_LENGTH) return false;
  for (let i = 0; i < s.length; i++) if (IS_HASH_CHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

export function makeNeedles(needles: Iterable<string>): Needles {
  const hashes = new Set<string>();
  const others: Buffer[] = [];
  let maxLength = 0;
  for (const n of needles) {
    if (isHashPart(n)) hashes.add(n);
    else others.push(Buffer.from(n, "latin1"));
    maxLength = Math.max(maxLength, n.length);
  }
  return { hashes, others, maxLength };
}

/** Add to `found` every needle in `buf`: linear in its bytes, not in the number of needles. */
export function findNeedles(buf: Uint8Array, needles: Needles, found: Set<string>): void {
  if (needles.hashes.size || needles.more?.size) {
    const L = HASH_PART_LENGTH;
    const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length);
    for (let i = 0; i + L <= b.length; ) {
      let j = L - 1;
      while (j >= 0 && IS_HASH_CHAR[b[i + j]!] === 1) j--;
      if (j >= 0) {
        i += j + 1;
        continue;
      }
      const h = b.toString("latin1", i, i + L);
      if (needles.hashes.has(h) || needles.more?.has(h)) found.add(h);
      i++;
    }
  }
  for (const needle of needles.others) {
    if (Buffer.prototype.indexOf.call(buf, needle) >= 0) found.add(needle.toString("latin1"));
  }
}

const NO_NEEDLES: Needles = { hashes: new Set(), others: [], maxLength: 0 };

/** Stream a file's bytes through `replacements` (all the same length as what they replace). */
function scanStream(read: (buf: Buffer) => number, replacements: Replacement[], needles: Needles, found: Set<string>, emit: (chunk: Buffer) => void): void {
  const keep = Math.max(1, needles.maxLength, ...replacements.map((r) => r.from.length)) - 1;
  let carry = Buffer.alloc(0);
  const buf = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    const n = read(buf);
    const eof = n === 0;
    const window = carry.length ? Buffer.concat([carry, buf.subarray(0, n)]) : Buffer.from(buf.subarray(0, n));
    findNeedles(window, needles, found);
    for (const r of replacements) {
      let at = window.indexOf(r.from);
      while (at >= 0) {
        r.to.copy(window, at);
        at = window.indexOf(r.from, at + r.from.length);
      }
    }
    if (eof) {
      if (window.length) emit(window);
      return;
    }
    const cut = Math.max(0, window.length - keep);
    if (cut > 0) emit(window.subarray(0, cut));
    carry = Buffer.from(window.subarray(cut));
  }
}

function replaceString(s: string, replacements: Replacement[]): string {
  for (const r of replacements) s = s.split(r.from.toString("latin1")).join(r.to.toString("latin1"));
  return s;
}

function sortedEntries(dir: string): string[] {
  return readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Hash a tree (a file, a symlink or a directory) as a deterministic archive. */
export function hashTree(root: string, opts: TreeHashOptions): TreeInfo {
  const h = createHash("sha256");
  const replacements: Replacement[] = [{ from: Buffer.from(opts.storeDir), to: Buffer.from(CANONICAL_STORE_DIR) }];
  if (opts.selfHash) replacements.push({ from: Buffer.from(opts.selfHash), to: Buffer.from(SELF_HASH_PLACEHOLDER) });
  for (const [from, to] of opts.normalize ?? []) replacements.push({ from: Buffer.from(from), to: Buffer.from(to) });
  const tracked = [...(opts.selfHash ? [opts.selfHash] : []), ...(opts.normalize?.keys() ?? [])];
  const more = opts.candidates instanceof Map ? (opts.candidates as ReadonlyMap<string, unknown>) : undefined;
  const needles = makeNeedles(new Set([...(more ? [] : ((opts.candidates as Iterable<string> | undefined) ?? [])), ...tracked]));
  if (more) {
    needles.more = more;
    needles.maxLength = Math.max(needles.maxLength, HASH_PART_LENGTH);
  }
  const info: TreeInfo = { digest: Buffer.alloc(0), size: 0, references: new Set(), selfRefs: [], refFiles: new Map(tracked.map((t) => [t, []])) };
  const noteFound = (found: Set<string>, rel: string) => {
    for (const f of found) {
      info.references.add(f);
      info.refFiles.get(f)?.push(rel);
    }
    if (opts.selfHash && found.has(opts.selfHash)) info.selfRefs.push(rel);
  };
  const str = (s: string | Buffer) => {
    const b = typeof s === "string" ? Buffer.from(s) : s;
    h.update(`${b.length}:`);
    h.update(b);
  };
  const walk = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) {
      const targetBytes = readlinkSync(abs, { encoding: "buffer" });
      const target = targetBytes.toString("latin1");
      const found = new Set<string>();
      findNeedles(targetBytes, needles, found);
      noteFound(found, rel);
      str("symlink");
      str(Buffer.from(replaceString(target, replacements), "latin1"));
    } else if (st.isFile()) {
      str("file");
      str(st.mode & 0o111 ? "x" : "-");
      h.update(`${st.size}:`);
      info.size += st.size;
      const fd = openSync(abs, "r");
      const found = new Set<string>();
      try {
        scanStream(
          (b) => readSync(fd, b, 0, b.length, null),
          replacements,
          needles,
          found,
          (c) => h.update(c),
        );
      } finally {
        closeSync(fd);
      }
      noteFound(found, rel);
    } else if (st.isDirectory()) {
      str("dir");
      for (const name of sortedEntries(abs)) {
        str("entry");
        str(name);
        walk(join(abs, name), rel ? `${rel}/${name}` : name);
      }
      str("end");
    } else {
      throw new Error(`${rel || "output"}: unsupported file type (only files, directories and symlinks may be outputs)`);
    }
  };
  walk(root, "");
  info.digest = h.digest();
  return info;
}

/**
 * Make a tree look the same wherever it was built: files 0444 or 0555, directories 0555
 * (the top one is left writable so it can still be renamed), no setuid/setgid/sticky bits,
 * every mtime 1 s after the epoch. Rejects devices, FIFOs and sockets.
 */
export function canonicalizeTree(root: string): void {
  const walk = (abs: string, top: boolean) => {
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) {
      lutimesSync(abs, 1, 1);
      return;
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(abs)) walk(join(abs, name), false);
      chmodSync(abs, top ? 0o755 : 0o555);
    } else if (st.isFile()) {
      chmodSync(abs, st.mode & 0o111 ? 0o555 : 0o444);
    } else {
      throw new Error(`${abs}: unsupported file type in an output (devices, FIFOs and sockets are not allowed)`);
    }
    lutimesSync(abs, 1, 1);
  };
  walk(root, true);
}

/** Replace `from` by `to` (same length) in the given files and symlinks of a tree. */
export function rewriteTree(root: string, rels: string[], from: string, to: string): void {
  rewriteTreeMany(root, rels, [[from, to]]);
}

/** Several same-length replacements at once, in the given files and symlinks of a tree. */
export function rewriteTreeMany(root: string, rels: string[], pairs: [string, string][]): void {
  if (pairs.some(([f, t]) => f.length !== t.length)) throw new Error("rewriteTree: replacement must keep the length");
  const r: Replacement[] = pairs.map(([from, to]) => ({ from: Buffer.from(from), to: Buffer.from(to) }));
  for (const rel of [...new Set(rels)]) {
    const abs = rel ? join(root, rel) : root;
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) {
      const target = readlinkSync(abs, { encoding: "buffer" }).toString("latin1");
      unlinkSync(abs);
      symlinkSync(Buffer.from(replaceString(target, r), "latin1"), abs);
      lutimesSync(abs, 1, 1);
      continue;
    }
    const tmp = `${abs}.bramble-rewrite`;
    const inFd = openSync(abs, "r");
    const outFd = openSync(tmp, "wx", st.mode & 0o777);
    try {
      scanStream(
        (b) => readSync(inFd, b, 0, b.length, null),
        r,
        NO_NEEDLES,
        new Set(),
        (c) => {
          let off = 0;
          while (off < c.length) off += writeSync(outFd, c, off, c.length - off);
        },
      );
    } finally {
      closeSync(inFd);
      closeSync(outFd);
    }
    chmodSync(tmp, st.mode & 0o777);
    lutimesSync(tmp, 1, 1);
    renameSync(tmp, abs);
  }
}

/** Hash an arbitrary stream's digest state helper (exported for sources hashing). */
export function updateLengthPrefixed(h: Hash, s: string | Buffer): void {
  const b = typeof s === "string" ? Buffer.from(s) : s;
  h.update(`${b.length}:`);
  h.update(b);
}
