// `bramble build --check` (Nix's --check): build a tree again and compare. Every derivation
// of the closure that is not fixed-output is rebuilt in a fresh temporary store (its fixed-output
// inputs are copied in, not fetched again: their hashes are pinned), and each output's hash is
// compared with the one the user's store holds. Output hashes are taken on the store-location
// independent form, so two stores' hashes compare directly. For an output that differs, the
// first file that differs (in sorted path order) is named.
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, lstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFixedOutput, type Derivation } from "../derivation/derivation.js";
import { copyClosure } from "../store/copy.js";
import { removeTree } from "../store/store.js";
import { openEngine, type Engine } from "./engine.js";
import { runBuild } from "./scheduler.js";
import type { BuildEvent } from "../model/types.js";

export interface CheckDifference {
  drvHash: string;
  name: string;
  output: string;
  expected: string;
  got: string;
  /** the first path inside the output that differs, and how */
  firstDifference: string;
}

export interface CheckResult {
  /** derivations rebuilt and compared */
  checked: number;
  differences: CheckDifference[];
  /** derivations whose rebuild failed (nothing to compare) */
  failed: string[];
}

/**
 * Rebuild every non-fixed-output derivation of `drvs` (already built in `engine`) in a temporary
 * store and compare the outputs.
 */
export async function checkBuild(
  engine: Engine,
  req: { drvs: Map<string, Derivation>; roots: string[]; projectRoot: string; jobs?: number; log?: (e: BuildEvent) => void },
): Promise<CheckResult> {
  const home = mkdtempSync(join(tmpdir(), "bramble-check-"));
  const again = openEngine(home);
  try {
    // Fixed-output derivations are pinned by hash: bring their outputs along instead of fetching.
    for (const [h, drv] of req.drvs) {
      if (!isFixedOutput(drv)) continue;
      const outs = engine.db.drvOutputs(h);
      if (!outs) throw new Error(`--check: ${drv.name} (${h}) is not built in this store; build it first`);
      await copyClosure(engine.store, again.store, Object.values(outs));
      again.db.linkOutputs(h, outs);
    }
    const result = await runBuild(
      again,
      { runId: `check-${process.pid}`, drvs: req.drvs, roots: req.roots, projectRoot: req.projectRoot, jobs: req.jobs },
      (e) => req.log?.(e),
    );
    const differences: CheckDifference[] = [];
    let checked = 0;
    for (const [h, drv] of req.drvs) {
      if (isFixedOutput(drv)) continue;
      const mine = new Map(engine.db.outputsOf(h).map((o) => [o.name, o] as const));
      const theirs = new Map(again.db.outputsOf(h).map((o) => [o.name, o] as const));
      if (!theirs.size) continue;
      checked++;
      for (const [output, o] of mine) {
        const t = theirs.get(output);
        if (!t || t.hash === o.hash) continue;
        differences.push({
          drvHash: h,
          name: drv.name,
          output,
          expected: o.hash,
          got: t.hash,
          firstDifference: firstDifference(o.path, t.path, engine.store.dir, again.store.dir) ?? "(the trees hash differently, but no file differs)",
        });
      }
    }
    return { checked, differences, failed: result.failed.map((h) => req.drvs.get(h)?.name ?? h) };
  } finally {
    again.close();
    removeTree(home);
  }
}

/**
 * The first path (sorted order) at which two trees differ, with why; store paths inside the
 * second tree are read as if in the first store (same length: stores are padded).
 */
export function firstDifference(a: string, b: string, storeA: string, storeB: string, rel = "."): string | undefined {
  const sa = lstatSync(a, { throwIfNoEntry: false });
  const sb = lstatSync(b, { throwIfNoEntry: false });
  if (!sa || !sb) return `${rel}: ${!sa ? "only in the rebuild" : "missing in the rebuild"}`;
  const kind = (s: typeof sa) => (s.isDirectory() ? "directory" : s.isSymbolicLink() ? "symlink" : s.isFile() ? "file" : "special file");
  if (kind(sa) !== kind(sb)) return `${rel}: a ${kind(sa)}, rebuilt as a ${kind(sb)}`;
  if (sa.isSymbolicLink()) {
    const la = readlinkSync(a);
    const lb = readlinkSync(b).split(storeB).join(storeA);
    return la === lb ? undefined : `${rel}: symlink to ${la}, rebuilt to ${lb}`;
  }
  if (sa.isFile()) {
    if ((sa.mode & 0o111) !== (sb.mode & 0o111)) return `${rel}: executable bit differs`;
    const ca = readFileSync(a);
    const cb = Buffer.from(readFileSync(b).toString("latin1").split(storeB).join(storeA), "latin1");
    if (ca.equals(cb)) return undefined;
    let at = 0;
    while (at < ca.length && at < cb.length && ca[at] === cb[at]) at++;
    return `${rel}: contents differ at byte ${at} (${ca.length} bytes, rebuilt ${cb.length})`;
  }
  if (sa.isDirectory()) {
    const names = [...new Set([...readdirSync(a), ...readdirSync(b)])].sort();
    for (const n of names) {
      const d = firstDifference(join(a, n), join(b, n), storeA, storeB, rel === "." ? n : `${rel}/${n}`);
      if (d) return d;
    }
  }
  return undefined;
}
