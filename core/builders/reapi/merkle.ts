// Trees as REAPI Directory messages and back. A store path is turned into a node of the
// input root once per process (store paths never change), relocated from this machine's
// store directory to the canonical one every action sees; output trees come back from the
// CAS into a local directory.
import { createHash } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digestKey, encodeMessage, decodeMessage, type Digest, type ReapiClient } from "./client.js";
import { pb } from "./protos.js";

const V2 = "build.bazel.remote.execution.v2";

/** Blobs an action needs, by digest key: how to get each one's bytes. */
export type BlobSet = Map<string, { digest: Digest; data: () => Buffer }>;

export type TreeNode = { kind: "file"; digest: Digest; executable: boolean } | { kind: "dir"; digest: Digest } | { kind: "symlink"; target: string };

export function digestOf(data: Buffer): Digest {
  return { hash: createHash("sha256").update(data).digest("hex"), size_bytes: data.length };
}

function replaceAll(buf: Buffer, from: Buffer, to: Buffer): Buffer {
  let at = buf.indexOf(from);
  if (at < 0) return buf;
  const out = Buffer.from(buf);
  while (at >= 0) {
    to.copy(out, at);
    at = buf.indexOf(from, at + from.length);
  }
  return out;
}

export interface Relocation {
  from: string;
  to: string;
}

/** A Directory message from named nodes (sorted, as REAPI requires). */
export function directoryMessage(entries: Map<string, TreeNode>, blobs: BlobSet): Digest {
  const names = [...entries.keys()].sort();
  const files = [];
  const directories = [];
  const symlinks = [];
  for (const name of names) {
    const n = entries.get(name)!;
    if (n.kind === "file") files.push({ name, digest: n.digest, is_executable: n.executable });
    else if (n.kind === "dir") directories.push({ name, digest: n.digest });
    else symlinks.push({ name, target: n.target });
  }
  const bytes = encodeMessage(`${V2}.Directory`, { files, directories, symlinks });
  const d = digestOf(bytes);
  blobs.set(digestKey(d), { digest: d, data: () => bytes });
  return d;
}

/** The node of a file, directory or symlink on disk, adding its blobs to `blobs`. */
export function treeNode(path: string, blobs: BlobSet, reloc?: Relocation, opts: { keepSmall?: boolean } = {}): TreeNode {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) {
    const t = readlinkSync(path);
    return { kind: "symlink", target: reloc ? t.split(reloc.from).join(reloc.to) : t };
  }
  if (st.isDirectory()) {
    const entries = new Map<string, TreeNode>();
    for (const e of readdirSync(path)) entries.set(e, treeNode(join(path, e), blobs, reloc, opts));
    return { kind: "dir", digest: directoryMessage(entries, blobs) };
  }
  if (!st.isFile()) throw new Error(`${path}: not a file, directory or symlink`);
  const load = () => {
    const raw = readFileSync(path);
    return reloc ? replaceAll(raw, Buffer.from(reloc.from), Buffer.from(reloc.to)) : raw;
  };
  const data = load();
  const digest = digestOf(data);
  // Small files stay in memory (unless the node is cached for long: store paths); others are read again when uploaded.
  blobs.set(digestKey(digest), { digest, data: opts.keepSmall !== false && data.length <= 64 * 1024 ? () => data : load });
  return { kind: "file", digest, executable: (st.mode & 0o100) !== 0 };
}

/** The raw bytes of Tree.root and each Tree.children, so their digests are the server's. */
function splitTree(buf: Buffer): { root: Buffer; children: Buffer[] } {
  const r = pb().Reader.create(buf);
  let root = Buffer.alloc(0);
  const children: Buffer[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if ((tag & 7) === 2) {
      const b = Buffer.from(r.bytes());
      if (tag >>> 3 === 1) root = b;
      else if (tag >>> 3 === 2) children.push(b);
    } else r.skipType(tag & 7);
  }
  return { root, children };
}

interface DirMsg {
  files?: { name: string; digest: Digest; is_executable?: boolean }[];
  directories?: { name: string; digest: Digest }[];
  symlinks?: { name: string; target: string }[];
}

/** Fetch an output directory (its Tree) from the CAS into `dest`. */
export async function materializeTree(client: ReapiClient, treeDigest: Digest, dest: string): Promise<void> {
  const treeBuf = (await client.download([treeDigest])).get(digestKey(treeDigest))!;
  const { root, children } = splitTree(treeBuf);
  const byDigest = new Map(children.map((c) => [digestKey(digestOf(c)), decodeMessage<DirMsg>(`${V2}.Directory`, c)] as const));
  const files: { path: string; digest: Digest; exec: boolean }[] = [];
  const links: { path: string; target: string }[] = [];
  const dirs: string[] = [];
  const walk = (d: DirMsg, at: string) => {
    dirs.push(at);
    for (const f of d.files ?? []) files.push({ path: join(at, f.name), digest: f.digest, exec: !!f.is_executable });
    for (const s of d.symlinks ?? []) links.push({ path: join(at, s.name), target: s.target });
    for (const sub of d.directories ?? []) {
      const child = byDigest.get(digestKey(sub.digest));
      if (!child) throw new Error(`the output tree ${digestKey(treeDigest)} lacks directory ${digestKey(sub.digest)}`);
      walk(child, join(at, sub.name));
    }
  };
  walk(decodeMessage<DirMsg>(`${V2}.Directory`, root), dest);
  for (const d of dirs) mkdirSync(d, { recursive: true });
  const data = await client.download(files.map((f) => f.digest));
  for (const f of files) {
    writeFileSync(f.path, data.get(digestKey(f.digest))!);
    chmodSync(f.path, f.exec ? 0o755 : 0o644);
  }
  for (const l of links) symlinkSync(l.target, l.path);
}

/** Fetch one output file from the CAS. */
export async function materializeFile(client: ReapiClient, digest: Digest, exec: boolean, dest: string, inline?: Uint8Array): Promise<void> {
  const data = inline && inline.length === digest.size_bytes ? Buffer.from(inline) : (await client.download([digest])).get(digestKey(digest))!;
  writeFileSync(dest, data);
  chmodSync(dest, exec ? 0o755 : 0o644);
}

/**
 * An output directory as a REAPI Tree (its root and every Directory below it), the way a
 * worker uploads it, adding the Tree and its files to `blobs`.
 */
export function treeOf(path: string, blobs: BlobSet): Digest {
  const dirBytes = new Map<string, Buffer>();
  const local: BlobSet = new Map();
  const root = treeNode(path, local);
  if (root.kind !== "dir") throw new Error(`${path} is not a directory`);
  for (const [k, b] of local) {
    blobs.set(k, b);
    dirBytes.set(k, b.data());
  }
  // Every Directory message reachable from the root (files' blobs are not Directories: walk).
  const rootBytes = dirBytes.get(digestKey(root.digest))!;
  const children: Buffer[] = [];
  const seen = new Set<string>();
  const walk = (bytes: Buffer) => {
    const d = decodeMessage<DirMsg>(`${V2}.Directory`, bytes);
    for (const sub of d.directories ?? []) {
      const k = digestKey(sub.digest);
      if (seen.has(k)) continue;
      seen.add(k);
      const b = dirBytes.get(k)!;
      children.push(b);
      walk(b);
    }
  };
  walk(rootBytes);
  const w = pb().Writer.create();
  w.uint32((1 << 3) | 2).bytes(rootBytes);
  for (const c of children) w.uint32((2 << 3) | 2).bytes(c);
  const tree = Buffer.from(w.finish());
  const d = digestOf(tree);
  blobs.set(digestKey(d), { digest: d, data: () => tree });
  return d;
}
