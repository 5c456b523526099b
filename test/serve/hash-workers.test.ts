// Output hashing off the server's thread: with dist/hash-worker.mjs (as `bramble serve` and
// the app's service process use it) hashTree runs in a worker thread, gives the same result
// as on the calling thread, and the calling thread's event loop turns while it runs.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hashTree } from "../../core/store/archive.js";
import { hashTreeOffThread, useHashWorkers } from "../../core/store/hash-pool.js";
import { ensureCli, repo } from "../helpers/cli.js";

const storeDir = "/tmp/bramble-test-store_____________________";
const self = "0123456789abcdfghijklmnpqrsvwxyz";

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), "bramble-hash-"));
  mkdirSync(join(root, "bin"));
  writeFileSync(join(root, "bin", "tool"), `#!/bin/sh\nexec ${storeDir}/${self}-tool/bin/real\n`, { mode: 0o755 });
  writeFileSync(join(root, "big"), Buffer.alloc(8 << 20, 7));
  symlinkSync(`${storeDir}/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-dep/lib`, join(root, "lib"));
  return root;
}

afterAll(() => useHashWorkers(undefined));

describe("output hashing in a worker thread", () => {
  it("gives what hashTree gives, and lets the event loop turn meanwhile", async () => {
    ensureCli();
    const root = tree();
    const opts = { storeDir, selfHash: self, candidates: ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], normalize: new Map<string, string>() };
    const here = hashTree(root, opts);
    useHashWorkers(join(repo, "dist/hash-worker.mjs"));
    let turned = false;
    setImmediate(() => (turned = true));
    const there = await hashTreeOffThread(root, opts);
    expect(turned).toBe(true);
    expect(Buffer.isBuffer(there.digest)).toBe(true);
    expect(there.digest.toString("hex")).toBe(here.digest.toString("hex"));
    expect([there.size, [...there.references].sort(), there.selfRefs, [...there.refFiles]]).toEqual([
      here.size,
      [...here.references].sort(),
      here.selfRefs,
      [...here.refFiles],
    ]);
    expect([...there.references].sort()).toEqual(["0123456789abcdfghijklmnpqrsvwxyz", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]);
  });

  it("reports a tree that cannot be read as an error", async () => {
    useHashWorkers(join(repo, "dist/hash-worker.mjs"));
    await expect(hashTreeOffThread("/nonexistent/bramble-tree", { storeDir })).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("runs on the calling thread without a worker script, as the CLI does", async () => {
    useHashWorkers(undefined);
    let turned = false;
    setImmediate(() => (turned = true));
    const root = tree();
    await hashTreeOffThread(root, { storeDir });
    expect(turned).toBe(false);
  });
});
