// Planning: before anything builds, each derivation gets a backend, or an error that names
// the derivation, its platform and the backends there are.
import { isBuiltin, type Derivation } from "../derivation/derivation.js";
import type { Engine } from "./engine.js";

export interface PlanEntry {
  hash: string;
  /** a backend name, a built-in's name (fetch_url, fetch_git), or null when none can build it */
  backend: string | null;
  error?: string;
}

function describeBackends(engine: Engine): string {
  return engine.backends
    .map((b) => {
      const a = b.availability();
      return `${b.name} (${b.platforms().join(", ")}${a.available ? "" : `; unavailable: ${a.reason}`})`;
    })
    .join(", ");
}

export function planGraph(engine: Engine, drvs: Map<string, Derivation>, opts: { builder?: string } = {}): Map<string, PlanEntry> {
  const plan = new Map<string, PlanEntry>();
  const avail = new Map(engine.backends.map((b) => [b.name, b.availability()] as const));
  const offers = new Map(engine.backends.map((b) => [b.name, new Set(b.platforms())] as const));
  for (const [hash, drv] of drvs) {
    if (isBuiltin(drv)) {
      plan.set(hash, { hash, backend: drv.builder });
      continue;
    }
    const forced = opts.builder ?? drv.builderBackend;
    if (forced) {
      const b = engine.backends.find((x) => x.name === forced);
      let error: string | undefined;
      if (!b) error = `${drv.name} (${hash}) must be built by backend "${forced}", which does not exist; backends: ${describeBackends(engine)}`;
      else if (!avail.get(b.name)!.available) error = `${drv.name} (${hash}) must be built by backend "${forced}", which is unavailable: ${avail.get(b.name)!.reason}`;
      else if (!offers.get(b.name)!.has(drv.platform))
        error = `${drv.name} (${hash}) has platform ${drv.platform}, which backend "${forced}" does not offer (it offers ${[...offers.get(b.name)!].join(", ")})`;
      plan.set(hash, error ? { hash, backend: null, error } : { hash, backend: forced });
      continue;
    }
    const b = engine.backends.find((x) => avail.get(x.name)!.available && offers.get(x.name)!.has(drv.platform));
    plan.set(
      hash,
      b
        ? { hash, backend: b.name }
        : { hash, backend: null, error: `no backend can build ${drv.name} (${hash}) for platform ${drv.platform}; backends: ${describeBackends(engine)}` },
    );
  }
  return plan;
}
