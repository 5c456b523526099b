// The store locator: which store holds what for one run, and the one way paths move between
// stores (copyClosure). The local store (the DB's `paths`) and the stores of the run's
// backends (`store_paths`, as this machine last wrote or read it); a store whose backend is
// not available now is not asked (like a substituter that is down: its paths are rebuilt).
import type { Backend } from "../builders/backend.js";
import { copyClosure, MissingPathError } from "../store/copy.js";
import type { Store } from "../store/store-api.js";
import { LOCAL_STORE } from "../db/db.js";
import type { Engine } from "./engine.js";

/**
 * Which store holds what, for one run: the local store (the `paths` table) and each
 * configured backend's store (`store_paths`, as this machine last wrote or read it), and
 * the one way paths move between them (copyClosure, through the local store).
 */
export class StoreLocator {
  private readonly byId = new Map<string, Store>();
  /** copies in flight, so two builds needing one input copy it once */
  private readonly inflight = new Map<string, Promise<void>>();

  /** store id → its backend, asked once per run whether it is available */
  private readonly backendOf = new Map<string, Backend>();
  private readonly usable = new Map<string, boolean>();

  constructor(
    private readonly engine: Engine,
    readonly backends: Backend[],
  ) {
    this.byId.set(LOCAL_STORE, engine.store);
    for (const b of backends) {
      if (b.store === engine.store || this.byId.has(b.store.backend)) continue;
      this.byId.set(b.store.backend, b.store);
      this.backendOf.set(b.store.backend, b);
    }
  }

  /** A store can give its paths if its backend is configured and available (else: rebuild, like a substituter that is down). */
  private reachable(id: string): boolean {
    if (id === LOCAL_STORE) return true;
    const b = this.backendOf.get(id);
    if (!b) return false;
    let ok = this.usable.get(id);
    if (ok === undefined) this.usable.set(id, (ok = b.availability().available));
    return ok;
  }

  idOf(store: Store): string {
    return store === this.engine.store ? LOCAL_STORE : store.backend;
  }

  /** The first store holding a valid `name` (local first), among the stores reachable now. */
  holding(name: string): string | undefined {
    if (this.engine.store.has(name)) return LOCAL_STORE;
    return this.engine.db.storesOf(name).find((id) => this.reachable(id));
  }

  /** Where a store name is (local path when it is here), for events and results. */
  pathOf(name: string): string {
    const id = this.holding(name);
    return (id ? this.byId.get(id)! : this.engine.store).path(name);
  }

  /** Make `names` and their closures valid in `dest`, copying from the stores that hold them. */
  async bring(dest: Store, names: string[], signal?: AbortSignal): Promise<void> {
    if (!names.length) return;
    const destId = this.idOf(dest);
    const have = await dest.queryPathInfos(names, { signal });
    const bySource = new Map<string, string[]>();
    for (const n of names) {
      if (have.has(n)) continue;
      const src = this.holding(n);
      if (!src || src === destId) throw new Error(`${n} is in no store that bramble can reach now (run the build again to rebuild it)`);
      let list = bySource.get(src);
      if (!list) bySource.set(src, (list = []));
      list.push(n);
    }
    for (const [src, list] of bySource) {
      if (signal?.aborted) throw new Error("cancelled");
      const key = `${src}>${destId}:${[...list].sort().join(",")}`;
      let p = this.inflight.get(key);
      if (!p) {
        p = this.copy(this.byId.get(src)!, src, dest, destId, list, signal).finally(() => this.inflight.delete(key));
        this.inflight.set(key, p);
      }
      await p;
    }
  }

  private async copy(from: Store, fromId: string, to: Store, toId: string, names: string[], signal?: AbortSignal): Promise<void> {
    try {
      // Remote stores record in the DB what they are found to hold.
      await copyClosure(from, to, names, { signal });
    } catch (e) {
      // The DB said the other store had them; if it does not (wiped, collected), forget it.
      if (e instanceof MissingPathError && fromId !== LOCAL_STORE) this.engine.db.deleteStorePaths(fromId, e.names);
      throw new Error(
        `copying ${names.length === 1 ? names[0] : `${names.length} paths`} from the ${fromId} store to the ${toId} store failed: ${(e as Error).message}`,
      );
    }
  }
}
