// Moving closures between stores (`bramble store copy`, and the scheduler bringing inputs to the
// backend that builds and outputs to the user): the only way a path gets from one store to
// another, and the same for any two stores: the source's export stream into the destination's
// import. Store names are content hashes, so a path keeps its name and hash in every store.
import { MissingPathError, topoOrder, type Store, type StoreCallOptions } from "./store-api.js";

export { MissingPathError } from "./store-api.js";

export interface CopyResult {
  /** the closure that was asked for, references first */
  closure: string[];
  /** the paths that were not in the destination and were copied */
  copied: string[];
}

/**
 * Copy `names` and everything they reference from one store to another. Paths already valid
 * in `to` are skipped. Nothing is valid in `to` before it is complete, so an interrupted copy
 * leaves both stores whole.
 */
export async function copyClosure(from: Store, to: Store, names: Iterable<string>, opts: StoreCallOptions = {}): Promise<CopyResult> {
  const wanted = [...new Set(names)];
  const found = await from.queryPathInfos(wanted, opts);
  const absent = wanted.filter((n) => !found.has(n));
  if (absent.length) throw new MissingPathError(absent, from.backend);
  const all = await from.queryPathInfos(await from.closure(wanted, opts), opts);
  const closure = topoOrder(all.keys(), (n) => all.get(n)!.references);
  const have = await to.queryPathInfos(closure, opts);
  const copied = closure.filter((n) => !have.has(n));
  if (copied.length) {
    if (opts.signal?.aborted) throw new Error("cancelled");
    await to.importPaths(await from.exportPaths(copied, opts), opts);
  }
  return { closure, copied };
}
