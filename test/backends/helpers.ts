// Shared by the backend tests: the engine tests' helpers, and skipping with a printed
// reason when a tool truly cannot run here.
export { SANDBOX_PATHS, build, cleanupTemps, eventsOf, graph, ref, shDrv, tempDir, tempEngine } from "../engine/helpers.js";
import type { PathInfo, Store } from "../../core/store/store-api.js";
import type { Engine } from "../../core/build/engine.js";
import type { Backend } from "../../core/builders/backend.js";
import type { BackendConfig } from "../../core/builders/backends-config.js";

/** Print why a suite is skipped, so a skip is never silent. */
export function skipReason(suite: string, reason: string | null): string | null {
  if (reason) console.warn(`SKIP ${suite}: ${reason} (scripts/setup-backends.sh installs what is missing)`);
  return reason;
}

/** A path's info in any store (it must be valid there). */
export async function infoOf(store: Store, name: string): Promise<PathInfo> {
  const i = (await store.queryPathInfos([name])).get(name);
  if (!i) throw new Error(`${name} is not valid in the ${store.backend} store`);
  return i;
}

/** Is `name` valid in `store`? */
export async function holds(store: Store, name: string): Promise<boolean> {
  return (await store.queryPathInfos([name])).has(name);
}

/**
 * Give a test engine one project's backends (`[backends.*]` tables): what the service does per
 * project with engine.backendsFor, for tests that build with the engine's default list.
 */
export function useBackends(engine: Engine, configs: BackendConfig[]): Backend[] {
  engine.backends = engine.backendsFor(configs);
  return engine.backends;
}
