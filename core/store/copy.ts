// Moving closures between stores (`bramble store copy`, and backends fetching their inputs
// and returning their outputs): the only way a path gets from one store to another.
// Store names are content hashes, so a path keeps its name and hash in every store.
import { RemoteStore, RemoteStoreError, topoOrder } from "./remote-store.js";
import { LocalStore, type Store } from "./store.js";

export interface CopyResult {
  /** the closure that was asked for */
  closure: string[];
  /** the paths that were not in the destination and were copied */
  copied: string[];
}

/**
 * Copy `names` and everything they reference from one store to another, references first.
 * Paths already valid in `to` are skipped. Between two remote stores the copy goes through
 * `via` (the local store). Nothing is registered in `to` before it is complete, so an
 * interrupted copy leaves both stores whole.
 */
export async function copyClosure(from: Store, to: Store, names: Iterable<string>, opts: { via?: LocalStore } = {}): Promise<CopyResult> {
  if (from instanceof RemoteStore) await from.refresh();
  if (to instanceof RemoteStore) await to.refresh();
  const wanted = [...names];
  for (const n of wanted) if (!from.has(n)) throw new RemoteStoreError(`${n} is not valid in the ${from.backend} store`);
  const closure = topoOrder(from.closure(wanted), (n) => from.references(n));
  const copied = closure.filter((n) => !to.has(n));
  if (!copied.length) return { closure, copied };
  if (from instanceof RemoteStore && to instanceof RemoteStore) {
    const via = opts.via;
    if (!via) throw new RemoteStoreError(`copying from ${from.backend} to ${to.backend} needs the local store in between`);
    await from.copyToLocal(via, copied);
    await to.addFromLocal(via, copied);
  } else if (to instanceof RemoteStore) {
    if (!(from instanceof LocalStore)) throw new RemoteStoreError(`cannot copy from the ${from.backend} store to ${to.backend}`);
    await to.addFromLocal(from, copied);
  } else if (from instanceof RemoteStore) {
    if (!(to instanceof LocalStore)) throw new RemoteStoreError(`cannot copy from ${from.backend} to the ${to.backend} store`);
    await from.copyToLocal(to, copied);
  } else {
    for (const n of copied) to.importPath(from, n);
  }
  return { closure, copied };
}
