// A store in a REAPI service's CAS and Action Cache (`bramble store copy --to reapi:NAME`):
// the store of a `reapi` backend as other machines and CI see it. A valid path is an Action
// Cache entry under a synthetic Action for its store name (Command `bramble-store-path NAME`,
// an empty input root), whose ActionResult holds the tree at `path` (in the canonical store
// directory, as actions see it) and its PathInfo at `path-info.json`; the service's
// completeness checking makes an entry whose blobs left the CAS invalid, never half there.
// The service owns eviction: gc deletes nothing; verify re-hashes the paths it is asked about.
// A realisation (`store copy` carries them) is an entry under the synthetic Action
// `bramble-realisation <resolved key>`, whose `realisation.json` is {output: store name}.
import { lstatSync, readlinkSync, renameSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { canonicalizeTree } from "./archive.js";
import { CANONICAL_STORE_DIR, isStoreName } from "./layout.js";
import {
  closureOf,
  exportStream,
  MissingPathError,
  readExportStream,
  topoOrder,
  type AddOptions,
  type GcOptions,
  type GcResult,
  type PathInfo,
  type PendingOutput,
  isResolvedKey,
  type Realisation,
  type Store,
  type StoreCallOptions,
  type VerifyProblem,
} from "./store-api.js";
import { checkStagedPath, prepareOutputs, relocate, removeTree, stagingDir } from "./store.js";
import { packTrees, unpackTrees } from "./tar.js";
import { digestKey, encodeMessage, type Digest, type ReapiClient } from "../builders/reapi/client.js";
import { digestOf, directoryMessage, materializeFile, materializeTree, treeNode, treeOf, type BlobSet } from "../builders/reapi/merkle.js";

const V2 = "build.bazel.remote.execution.v2";

export class ReapiStore implements Store {
  readonly dir = CANONICAL_STORE_DIR;

  constructor(
    /** `reapi:NAME` */
    readonly backend: string,
    readonly client: ReapiClient,
    /** a local directory for staging (the local store's var/tmp) */
    private readonly tmpDir: string,
  ) {}

  path(name: string): string {
    return `${this.dir}/${name}`;
  }

  /** The synthetic Action whose cached result is the path `name`. */
  private pathAction(name: string, blobs: BlobSet): Digest {
    return this.syntheticAction(["bramble-store-path", name], ["path", "path-info.json"], blobs);
  }

  /** An Action no worker runs: its Action Cache entry is what this store writes under it. */
  private syntheticAction(args: string[], outputPaths: string[], blobs: BlobSet): Digest {
    const command = encodeMessage(`${V2}.Command`, { arguments: args, output_paths: outputPaths });
    const cd = digestOf(command);
    blobs.set(digestKey(cd), { digest: cd, data: () => command });
    const root = directoryMessage(new Map(), blobs);
    const action = encodeMessage(`${V2}.Action`, { command_digest: cd, input_root_digest: root, do_not_cache: false });
    const ad = digestOf(action);
    blobs.set(digestKey(ad), { digest: ad, data: () => action });
    return ad;
  }

  private async result(name: string): Promise<Record<string, unknown> | undefined> {
    return this.client.getActionResult(this.pathAction(name, new Map()));
  }

  async queryPathInfos(names: Iterable<string>): Promise<Map<string, PathInfo>> {
    const out = new Map<string, PathInfo>();
    for (const name of new Set(names)) {
      const r = (await this.result(name)) as { output_files?: { path: string; digest: Digest; contents?: Uint8Array }[] } | undefined;
      const f = r?.output_files?.find((x) => x.path === "path-info.json");
      if (!f) continue;
      const data = f.contents?.length ? Buffer.from(f.contents) : (await this.client.download([f.digest])).get(digestKey(f.digest))!;
      out.set(name, JSON.parse(data.toString("utf8")) as PathInfo);
    }
    return out;
  }

  async addRealisations(realisations: Realisation[]): Promise<void> {
    const byKey = new Map<string, Record<string, string>>();
    for (const r of realisations) if (isResolvedKey(r.resolved)) byKey.set(r.resolved, { ...byKey.get(r.resolved), [r.output]: r.path });
    for (const [key, outs] of byKey) {
      const blobs: BlobSet = new Map();
      const ad = this.syntheticAction(["bramble-realisation", key], ["realisation.json"], blobs);
      const bytes = Buffer.from(JSON.stringify(outs));
      const d = digestOf(bytes);
      blobs.set(digestKey(d), { digest: d, data: () => bytes });
      const missing = await this.client.findMissing([...blobs.values()].map((b) => b.digest));
      await this.client.upload(missing.map((m) => blobs.get(digestKey(m))!));
      await this.client.updateActionResult(ad, { output_files: [{ path: "realisation.json", digest: d }], exit_code: 0 });
    }
  }

  async queryRealisation(resolved: string): Promise<Record<string, string> | undefined> {
    if (!isResolvedKey(resolved)) return undefined;
    const r = (await this.client.getActionResult(this.syntheticAction(["bramble-realisation", resolved], ["realisation.json"], new Map()))) as
      | { output_files?: { path: string; digest: Digest; contents?: Uint8Array }[] }
      | undefined;
    const f = r?.output_files?.find((x) => x.path === "realisation.json");
    if (!f) return undefined;
    let outs: Record<string, string>;
    try {
      const data = f.contents?.length ? Buffer.from(f.contents) : (await this.client.download([f.digest])).get(digestKey(f.digest))!;
      outs = JSON.parse(data.toString("utf8")) as Record<string, string>;
    } catch {
      return undefined;
    }
    const names = outs && typeof outs === "object" ? Object.values(outs) : [];
    if (!names.length || names.some((n) => typeof n !== "string" || !isStoreName(n))) return undefined;
    const valid = await this.queryPathInfos(names);
    return names.every((n) => valid.has(n)) ? outs : undefined;
  }

  async closure(names: Iterable<string>): Promise<Set<string>> {
    const infos = new Map<string, PathInfo>();
    let frontier = [...new Set(names)];
    while (frontier.length) {
      const got = await this.queryPathInfos(frontier.filter((n) => !infos.has(n)));
      for (const [n, i] of got) infos.set(n, i);
      frontier = [...got.values()].flatMap((i) => i.references).filter((r) => !infos.has(r));
    }
    return closureOf(
      [...infos.keys()].filter((n) => [...names].includes(n)),
      (n) => infos.get(n)?.references ?? [],
    );
  }

  /** Fetch valid paths into `stage/<name>` (canonical store directory). */
  private async fetch(names: string[], stage: string): Promise<void> {
    for (const name of names) {
      const r = (await this.result(name)) as {
        output_files?: { path: string; digest: Digest; is_executable?: boolean; contents?: Uint8Array }[];
        output_directories?: { path: string; tree_digest: Digest }[];
        output_symlinks?: { path: string; target: string }[];
      };
      const dest = join(stage, name);
      const file = r?.output_files?.find((f) => f.path === "path");
      const dir = r?.output_directories?.find((d) => d.path === "path");
      const link = r?.output_symlinks?.find((s) => s.path === "path");
      if (file) await materializeFile(this.client, file.digest, !!file.is_executable, dest, file.contents);
      else if (dir) await materializeTree(this.client, dir.tree_digest, dest);
      else if (link) symlinkSync(link.target, dest);
      else throw new MissingPathError([name], this.backend);
    }
  }

  async exportPaths(names: string[], opts: StoreCallOptions = {}): Promise<Readable> {
    const infos = await this.queryPathInfos(names);
    const absent = names.filter((n) => !infos.has(n));
    if (absent.length) throw new MissingPathError(absent, this.backend);
    const order = topoOrder(infos.keys(), (n) => infos.get(n)!.references);
    const stage = stagingDir(this.tmpDir, "reapi-export");
    try {
      if (opts.signal?.aborted) throw new Error("cancelled");
      await this.fetch(order, stage);
    } catch (e) {
      removeTree(stage);
      throw e;
    }
    return exportStream({ storeDir: this.dir, paths: order.map((n) => infos.get(n)!) }, packTrees(stage, order), () => removeTree(stage));
  }

  /** Upload staged trees (canonical store directory, final names) and record them, references first. */
  private async publish(stage: string, infos: PathInfo[]): Promise<void> {
    for (const info of topoOrder(
      infos.map((i) => i.name),
      (n) => infos.find((i) => i.name === n)?.references ?? [],
    ).map((n) => infos.find((i) => i.name === n)!)) {
      const blobs: BlobSet = new Map();
      const ad = this.pathAction(info.name, blobs);
      const p = join(stage, info.name);
      const result: Record<string, unknown[]> = { output_files: [], output_directories: [], output_symlinks: [] };
      const st = lstatSync(p);
      if (st.isSymbolicLink()) result.output_symlinks!.push({ path: "path", target: readlinkSync(p) });
      else if (st.isDirectory()) result.output_directories!.push({ path: "path", tree_digest: treeOf(p, blobs) });
      else {
        const n = treeNode(p, blobs);
        if (n.kind === "file") result.output_files!.push({ path: "path", digest: n.digest, is_executable: n.executable });
      }
      const infoBytes = Buffer.from(JSON.stringify(info));
      const id = digestOf(infoBytes);
      blobs.set(digestKey(id), { digest: id, data: () => infoBytes });
      result.output_files!.push({ path: "path-info.json", digest: id });
      const missing = await this.client.findMissing([...blobs.values()].map((b) => b.digest));
      await this.client.upload(missing.map((d) => blobs.get(digestKey(d))!));
      // The entry is written last: a path is valid only once all its blobs are in the CAS.
      await this.client.updateActionResult(ad, { ...result, exit_code: 0 });
    }
  }

  async importPaths(stream: Readable): Promise<PathInfo[]> {
    const { header, body } = await readExportStream(stream);
    const stage = stagingDir(this.tmpDir, "reapi-import");
    try {
      await unpackTrees(body, stage);
      const have = await this.queryPathInfos(header.paths.map((p) => p.name));
      const batch = new Set(header.paths.map((p) => p.name));
      const todo = header.paths.filter((p) => !have.has(p.name));
      const refsHere = await this.queryPathInfos(todo.flatMap((i) => i.references).filter((r) => !batch.has(r)));
      for (const info of todo) {
        for (const r of info.references) {
          if (r !== info.name && !batch.has(r) && !refsHere.has(r))
            throw new Error(`cannot import ${info.name}: its reference ${r} is not in the ${this.backend} store`);
        }
        const tree = join(stage, info.name);
        checkStagedPath(tree, info, header.storeDir);
        relocate(tree, header.storeDir, this.dir);
        canonicalizeTree(tree);
      }
      await this.publish(stage, todo);
      return header.paths.map((p) => have.get(p.name) ?? p);
    } finally {
      removeTree(stage);
    }
  }

  async add(pending: PendingOutput[], opts: AddOptions): Promise<Map<string, PathInfo>> {
    const stage = stagingDir(this.tmpDir, "reapi-add");
    try {
      if (opts.builtFor && opts.builtFor !== this.dir) for (const p of pending) relocate(p.tmpPath, opts.builtFor, this.dir);
      const { infos, finals } = await prepareOutputs(pending, opts.candidates, opts.deriver, this.dir);
      for (const { p, final } of finals) renameSync(p.tmpPath, join(stage, final));
      await this.publish(stage, [...infos.values()]);
      opts.register?.(infos);
      return infos;
    } finally {
      removeTree(stage);
    }
  }

  /** The service evicts by itself (LRU in Buildbarn's local blob stores): nothing to delete here. */
  async gc(opts: GcOptions): Promise<GcResult> {
    return { deleted: [], bytes: 0, dryRun: !!opts.dryRun };
  }

  /** A REAPI store cannot be listed: nothing to re-hash without names (`bramble store copy` checks each path it moves). */
  async verify(): Promise<VerifyProblem[]> {
    return [];
  }
}
