// Shared by the backend tests: the engine tests' helpers, and skipping with a printed
// reason when a tool truly cannot run here.
export { SANDBOX_PATHS, build, cleanupTemps, eventsOf, graph, ref, shDrv, tempDir, tempEngine } from "../engine/helpers.js";

/** Print why a suite is skipped, so a skip is never silent. */
export function skipReason(suite: string, reason: string | null): string | null {
  if (reason) console.warn(`SKIP ${suite}: ${reason} (scripts/setup-backends.sh installs what is missing)`);
  return reason;
}
