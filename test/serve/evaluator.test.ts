// The pool of evaluation workers (dist/eval-worker.mjs) on its own: at most `max` evaluations
// run at once and the rest wait their turn; a cancel reaches a running one at its line and
// takes a waiting one out of the queue.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { workerEvaluator } from "../../core/api/evaluator.js";
import { ensureCli, repo } from "../helpers/cli.js";

function project(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), "bramble-pool-"));
  writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "pool"\nversion = "0.1.0"\n');
  writeFileSync(join(dir, "default.bramble"), body);
  return dir;
}

const LOOP = "def default():\n    x = 0\n    while True:\n        x += 1\n    return []\n";
const QUICK = 'def default():\n    return derivation(name = "q", builder = "/bin/sh", args = ["-c", "echo > $out"])\n';
const limits = { maxSteps: 1e12, timeoutMs: 600_000 };

ensureCli();
const pool = workerEvaluator(join(repo, "dist/eval-worker.mjs"), { max: 1 });
afterAll(() => pool.close());

describe("the evaluation worker pool", () => {
  it("queues past its limit, and a cancel frees the place for the next", async () => {
    const loop = new AbortController();
    const endless = pool.evaluate({ project: project(LOOP), moduleArg: ".:default", limits }, loop.signal);
    const quick = pool.evaluate({ project: project(QUICK), moduleArg: ".:default", limits });
    let quickDone = false;
    void quick.then(() => (quickDone = true));
    // A waiting evaluation that is cancelled leaves the queue at once.
    const dropped = new AbortController();
    const waiting = pool.evaluate({ project: project(QUICK), moduleArg: ".:default", limits }, dropped.signal);
    dropped.abort();
    await expect(waiting).rejects.toThrow(/evaluation cancelled \(it was waiting for a free evaluation thread\)/);
    expect(pool.running()).toBe(1);
    expect(quickDone).toBe(false);
    loop.abort();
    await expect(endless).rejects.toMatchObject({ info: { message: expect.stringMatching(/evaluation cancelled/) } });
    const ev = await quick;
    expect([...ev.drvs.values()].map((d) => d.name)).toEqual(["q"]);
  });
});
