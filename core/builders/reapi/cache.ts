// A REAPI service as the shared cache of builds on this machine (`--remote-cache NAME`, or
// `remote_cache = true` in a reapi backend's table): before a local (or qemu) build, the
// derivation's Action is looked up in the Action Cache, and a hit is fetched instead of built
// ("cached (remote)"); after a local build, its outputs are uploaded as that Action's result.
// A failure to reach the cache never fails a build: it is logged and the build goes on.
import type { PathInfo } from "../../store/store.js";
import type { Backend, BuildJob, BuildOutcome } from "../backend.js";
import { ReapiBackend, type RemoteActionInfo } from "./backend.js";

/** The reapi backend serving as the remote cache for `backend`'s builds, if any. */
export function remoteCacheFor(backends: Backend[], backend: Backend, choice?: string | false): ReapiBackend | undefined {
  if (choice === false || backend instanceof ReapiBackend) return undefined;
  const caches = backends.filter((b): b is ReapiBackend => b instanceof ReapiBackend && (choice ? b.name === choice : !!b.opts.uploadLocalResults));
  const c = caches[0];
  // Outputs are read from and fetched into the local store: only backends that build into it.
  if (!c || c.store.dir !== backend.store.dir || !c.availability().available) return undefined;
  return c;
}

/** Build `job` on `backend`, consulting and filling the remote cache around it. */
export async function buildWithRemoteCache(
  backends: Backend[],
  backend: Backend,
  job: BuildJob,
  choice?: string | false,
): Promise<BuildOutcome & { remote?: RemoteActionInfo }> {
  const cache = remoteCacheFor(backends, backend, choice);
  if (!cache || !cache.serves(job.drv.platform)) return backend.build(job);
  try {
    const hit = await cache.fetchCached(job);
    if (hit) return hit;
  } catch (e) {
    job.log(`bramble: remote cache ${cache.name}: lookup failed, building: ${(e as Error).message}`);
  }
  const outcome = await backend.build(job);
  try {
    const ad = await cache.uploadResult(job, outcome.outputs as Map<string, PathInfo>);
    if (ad) job.log(`bramble: uploaded to the remote cache ${cache.name}: action ${ad}`);
  } catch (e) {
    job.log(`bramble: remote cache ${cache.name}: upload failed: ${(e as Error).message}`);
  }
  return outcome;
}
