// Planning: before anything builds, each derivation gets a backend, or an error that names
// the derivation, its platform and the backends there are. Planning never waits on the
// network: a backend whose probe is still running counts as "probing" (unknown), is chosen
// only when forced or when no backend known to be available offers the platform, and its build
// waits for the probe's answer.
import { isBuiltin, type Derivation } from "../derivation/derivation.js";
import type { Backend } from "../builders/backend.js";

export interface PlanEntry {
  hash: string;
  /** a backend name, a built-in's name (fetch_url, fetch_git), or null when none can build it */
  backend: string | null;
  error?: string;
}

function describeBackends(backends: Backend[]): string {
  return backends
    .map((b) => {
      const a = b.availability();
      return `${b.name} (${b.platforms().join(", ")}${a.available ? "" : a.probing ? "; probing" : `; unavailable: ${a.reason}`})`;
    })
    .join(", ");
}

/** Plan `drvs` on `backends` (the engine's and the project's, in planning order, local first). */
export function planGraph(backends: Backend[], drvs: Map<string, Derivation>, opts: { builder?: string } = {}): Map<string, PlanEntry> {
  const plan = new Map<string, PlanEntry>();
  const avail = new Map(backends.map((b) => [b.name, b.availability()] as const));
  const offers = new Map(backends.map((b) => [b.name, new Set(b.platforms())] as const));
  for (const [hash, drv] of drvs) {
    if (isBuiltin(drv)) {
      plan.set(hash, { hash, backend: drv.builder });
      continue;
    }
    const forced = opts.builder ?? drv.builderBackend;
    if (forced) {
      const b = backends.find((x) => x.name === forced);
      const a = b && avail.get(b.name)!;
      let error: string | undefined;
      if (!b) error = `${drv.name} (${hash}) must be built by backend "${forced}", which does not exist; backends: ${describeBackends(backends)}`;
      else if (!a!.available && !a!.probing) error = `${drv.name} (${hash}) must be built by backend "${forced}", which is unavailable: ${a!.reason}`;
      else if (!a!.probing && !offers.get(b.name)!.has(drv.platform))
        error = `${drv.name} (${hash}) has platform ${drv.platform}, which backend "${forced}" does not offer (it offers ${[...offers.get(b.name)!].join(", ")})`;
      plan.set(hash, error ? { hash, backend: null, error } : { hash, backend: forced });
      continue;
    }
    const offering = backends.filter((x) => offers.get(x.name)!.has(drv.platform));
    const b = offering.find((x) => avail.get(x.name)!.available && !avail.get(x.name)!.probing) ?? offering.find((x) => avail.get(x.name)!.probing);
    plan.set(
      hash,
      b
        ? { hash, backend: b.name }
        : { hash, backend: null, error: `no backend can build ${drv.name} (${hash}) for platform ${drv.platform}; backends: ${describeBackends(backends)}` },
    );
  }
  return plan;
}
