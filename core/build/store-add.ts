// `bramble store add PATH`: bring a local file or directory into the store, content-addressed,
// and say how to pin it. It is the fetch_url("file://...") a project would write, built by the
// engine's own fetcher (a directory is copied, symlinks kept as links; an archive is unpacked),
// recorded both without and with its hash, so that the pinned fetch_url is already built.
import { existsSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { derivationHash, type Derivation } from "../derivation/derivation.js";
import { ANY_SYSTEM } from "../derivation/systems.js";
import type { Engine } from "./engine.js";
import { resolvedKey, runBuild } from "./scheduler.js";

export interface StoreAddResult {
  /** the output hash (`sha256:...`), the pin */
  hash: string;
  /** the store path */
  path: string;
  url: string;
  /** the Starlark line that fetches it pinned */
  pin: string;
  /** the same pin as a bramble.lock [urlhashes] line */
  lockLine: string;
}

/** The derivation `fetch_url(url, hash=...)` makes (see core/project/builtins.ts). */
function fetchUrlDerivation(url: string, outputHash?: string): Derivation {
  const name = (basename(new URL(url).pathname) || "fetch-url").replace(/[^A-Za-z0-9._+-]/g, "_");
  const drv: Derivation = { name, builder: "fetch_url", args: [], env: { url }, outputs: ["out"], network: true, platform: ANY_SYSTEM, system: ANY_SYSTEM };
  if (outputHash) drv.outputHash = outputHash;
  return drv;
}

/**
 * Build one derivation with no inputs (a built-in fetch) and say where its first output is:
 * `bramble store add`, and the dependencies by version fetched before an evaluation.
 */
async function realiseAlone(engine: Engine, drv: Derivation, projectRoot: string, what: string, signal?: AbortSignal): Promise<{ path: string; hash: string }> {
  const h = derivationHash(drv);
  const errors: string[] = [];
  const r = await runBuild(engine, { runId: `${what}-${process.pid}-${h}`, drvs: new Map([[h, drv]]), roots: [h], projectRoot, signal }, (e) => {
    if (e.type === "failed") errors.push(e.error);
  });
  if (r.status !== "built") throw new Error(errors.join("; ") || r.status);
  return engine.db.outputsOf(h)[0]!;
}

/**
 * Fetch a fixed-output derivation (a dependency by version's tree) and, when it had no pinned
 * hash, record the pinned derivation (the same with `outputHash`, as the next evaluation makes
 * it from the lock) as realised by the same output: it is not fetched a second time. `signal`:
 * the evaluation that needs it was cancelled or replaced by a newer one (a save).
 */
export async function fetchPinning(engine: Engine, drv: Derivation, projectRoot: string, signal?: AbortSignal): Promise<{ path: string; hash: string }> {
  const got = await realiseAlone(engine, drv, projectRoot, "fetch-dependency", signal);
  if (drv.outputHash === undefined) {
    const pinned: Derivation = { ...drv, outputHash: got.hash };
    const ph = derivationHash(pinned);
    engine.db.putDerivations(new Map([[ph, pinned]]));
    engine.db.linkOutputs(
      ph,
      { [drv.outputs[0] ?? "out"]: basename(got.path) },
      resolvedKey(pinned, () => ""),
    );
  }
  return got;
}

export async function storeAdd(engine: Engine, path: string): Promise<StoreAddResult> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`store add: ${abs} does not exist`);
  const url = pathToFileURL(abs).href;
  const build = async (drv: Derivation) => {
    try {
      return await realiseAlone(engine, drv, dirname(abs), "store-add");
    } catch (err) {
      throw new Error(`store add: ${abs}: ${(err as Error).message}`);
    }
  };
  const first = await build(fetchUrlDerivation(url));
  // The pinned derivation too: same bytes, same store path, and a project's pinned fetch_url finds it built.
  const pinned = await build(fetchUrlDerivation(url, first.hash));
  return {
    hash: first.hash,
    path: pinned.path,
    url,
    pin: `fetch_url(${JSON.stringify(url)}, hash = ${JSON.stringify(first.hash)})`,
    lockLine: `${JSON.stringify(url)} = ${JSON.stringify(first.hash)}`,
  };
}
