// Shared by the engine and backend tests: temporary BRAMBLE_PATHs, derivations, and running builds.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BuildEvent } from "../../core/api/schema.js";
import { derivationHash, outputTemplate, type Derivation } from "../../core/derivation/derivation.js";
import { hostSystem } from "../../core/builders/backend.js";
import { hostPathIdentities } from "../../core/builders/host-access.js";
import { openEngine, type Engine } from "../../core/build/engine.js";
import { runBuild, type BuildRequest, type BuildResult } from "../../core/build/scheduler.js";

/** The host directories a /bin/sh builder needs (what examples/hello declares). */
export const SANDBOX_PATHS = ["/usr", "/bin", "/lib", "/lib64"];

const made: string[] = [];

export function tempDir(prefix = "bramble-eng-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

export function cleanupTemps(): void {
  for (const d of made.splice(0)) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // read-only store directories (copied from another store): make them writable first
      spawnSync("chmod", ["-R", "u+w", d]);
      rmSync(d, { recursive: true, force: true });
    }
  }
}

export function tempEngine(): Engine {
  return openEngine(join(tempDir(), "home"));
}

/** A derivation running `script` with /bin/sh; `deps` are template strings to put in env. */
export function shDrv(name: string, script: string, extra: Partial<Derivation> = {}): Derivation {
  return {
    name,
    builder: "/bin/sh",
    args: ["-c", script],
    env: { PATH: "/usr/bin:/bin" },
    outputs: ["out"],
    network: false,
    platform: hostSystem(),
    system: hostSystem(),
    // It runs the host's /bin/sh: an impure derivation that names the host paths it sees.
    hostPaths: hostPathIdentities(SANDBOX_PATHS),
    ...extra,
  };
}

export function ref(drv: Derivation, output = "out"): string {
  return outputTemplate(derivationHash(drv), output);
}

export function graph(...drvs: Derivation[]): Map<string, Derivation> {
  return new Map(drvs.map((d) => [derivationHash(d), d]));
}

let runs = 0;

export async function build(
  engine: Engine,
  drvs: Map<string, Derivation>,
  roots: Derivation[],
  opts: Partial<BuildRequest> = {},
): Promise<{ result: BuildResult; events: BuildEvent[] }> {
  const events: BuildEvent[] = [];
  const result = await runBuild(
    engine,
    {
      runId: `test-${process.pid}-${++runs}`,
      drvs,
      roots: roots.map(derivationHash),
      projectRoot: opts.projectRoot ?? tempDir(),
      sandboxPaths: SANDBOX_PATHS,
      ...opts,
    },
    (e) => events.push(e),
  );
  return { result, events };
}

export function eventsOf<T extends BuildEvent["type"]>(events: BuildEvent[], type: T): Extract<BuildEvent, { type: T }>[] {
  return events.filter((e): e is Extract<BuildEvent, { type: T }> => e.type === type);
}
