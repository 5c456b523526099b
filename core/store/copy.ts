// Moving closures between stores (`bramble store copy`, and backends fetching their inputs
// and returning their outputs): the only way a path gets from one store to another.
// Store names are content hashes, so a path keeps its name and hash in every store.
import { RemoteStore, RemoteStoreError, topoOrder } from "./remote-store.js";
import { LocalStore, type Store } from "./store.js";

/** Paths asked for that the source store does not hold. */
export class MissingPathError extends RemoteStoreError {
  constructor(
    readonly names: string[],
    store: string,
  ) {
    super(`${names.length === 1 ? `${names[0]} is` : `${names.join(", ")} are`} not valid in the ${store} store`);
  }
}

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
export async function copyClosure(from: Store, to: Store, names: Iterable<string>, opts: { via?: LocalStore; maxAgeMs?: number } = {}): Promise<CopyResult> {
  if (from instanceof RemoteStore) await from.refresh(opts.maxAgeMs);
  if (to instanceof RemoteStore) await to.refresh(opts.maxAgeMs);
  const wanted = [...names];
  const absent = wanted.filter((n) => !from.has(n));
  if (absent.length) throw new MissingPathError(absent, from.backend);
  const closure = topoOrder(from.closure(wanted), (n) => from.references(n));
  const copied = closure.filter((n) => !to.has(n));
  // The local DB remembers what other backends' stores hold (the scheduler reads it).
  const db = opts.via?.db ?? (from instanceof LocalStore ? from.db : to instanceof LocalStore ? to.db : undefined);
  const remember = () => {
    for (const s of [from, to]) if (s instanceof RemoteStore && db) db.addStorePaths(s.backend, closure.map((n) => s.queryPathInfo(n)).filter((i) => i !== undefined));
  };
  if (!copied.length) {
    remember();
    return { closure, copied };
  }
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
    // Outputs of one build may refer to each other: the batch is allowed as references.
    const batch = new Set(copied);
    for (const n of copied) to.importPath(from, n, batch);
  }
  remember();
  return { closure, copied };
}
