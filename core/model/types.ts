// The domain types: what a store path, a build, a backend and a build event are. Below every
// other layer: the store, the database, the scheduler and the backends import these, and
// core/api re-exports them for its clients (it adds the request schemas on top).

export interface PathInfo {
  /** store name, `<hash>-<name>` */
  name: string;
  /** `sha256:<base32>` of the normalized archive */
  hash: string;
  size: number;
  /** store names this path refers to (may include itself) */
  references: string[];
  /** the derivation that built it, if known */
  deriver: string | null;
  registeredAt: number;
  /** hash parts of sibling outputs it refers to → the placeholders they had while it was hashed */
  normalize?: Record<string, string>;
}

export interface OutputInfo {
  name: string;
  path: string;
  hash: string;
  size: number;
  references: string[];
}

/** skipped: it never ran because a dependency failed (recorded by the scheduler, not built) */
export type BuildStatus = "running" | "built" | "failed" | "cancelled" | "skipped";

/** How a run ended; interrupted: its process died while it ran (builds die with it). */
export type RunStatus = "running" | "built" | "failed" | "cancelled" | "interrupted";

export interface RunRecord {
  runId: string;
  project: string;
  moduleArg: string;
  target: string;
  status: RunStatus;
  startedAt: number;
  endedAt: number | null;
  pid: number;
}

export interface BuildRecord {
  id: number;
  runId: string;
  drvHash: string;
  name: string;
  backend: string;
  platform: string;
  system: string;
  status: BuildStatus;
  startedAt: number;
  endedAt: number | null;
  exitCode: number | null;
  error: string | null;
  logFile: string;
  keptDir: string | null;
}

export interface BackendInfo {
  name: string;
  kind: string;
  platforms: string[];
  available: boolean;
  /** a probe (ssh, the Docker engine) is running: not known yet */
  probing?: boolean;
  reason?: string;
}

/** The one event stream the scheduler emits; CLI, app and DB all consume it. */
export type BuildEvent =
  | { type: "run-started"; runId: string; total: number; nodes: { hash: string; name: string; backend: string; system?: string }[] }
  | { type: "planned"; runId: string; hash: string; backend: string }
  /** `remote`: the reapi backend whose Action Cache had it ("cached (remote)") */
  | { type: "cached"; runId: string; hash: string; outputs: Record<string, string>; remote?: string }
  | { type: "started"; runId: string; hash: string; buildId: number; backend: string }
  | { type: "log"; runId: string; hash: string; buildId: number; line: string }
  | { type: "built"; runId: string; hash: string; buildId: number; outputs: Record<string, string> }
  | {
      type: "failed";
      runId: string;
      hash: string;
      buildId: number | null;
      exitCode: number | null;
      error: string;
      logTail: string[];
      keptDir?: string;
    }
  | { type: "cancelled"; runId: string; hash: string; buildId: number | null }
  /** it will not run: `dependency` (maybe indirect) failed; recorded in the history as skipped */
  | { type: "skipped"; runId: string; hash: string; buildId: number | null; dependency: string; error: string }
  | { type: "run-finished"; runId: string; status: "built" | "failed" | "cancelled"; built: number; cached: number; failed: number }
  /** a watched project's .bramble files or bramble.toml changed on disk (bramble serve and the app watch; not part of a run) */
  | { type: "sources-changed"; runId?: undefined; project: string; files: string[] };
