// A builder that fills the disk the store lives on: its build fails with "No space left",
// its half-written output is not stored and its space comes back, and a build beside it
// still succeeds. The store sits on a small tmpfs made for the test (root only).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { openEngine } from "../../core/build/engine.js";
import { build, eventsOf, graph, shDrv } from "../engine/helpers.js";
import { record } from "./record.js";

const mountPoint = mkdtempSync(join(tmpdir(), "bramble-smalldisk-"));
const canMount = process.getuid?.() === 0 && spawnSync("mount", ["-t", "tmpfs", "-o", "size=48m", "tmpfs", mountPoint]).status === 0;
if (!canMount) console.warn("SKIP disk.test: mounting a small tmpfs needs root");

afterAll(() => {
  if (canMount) spawnSync("umount", ["-l", mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

describe.skipIf(!canMount)("the store's disk fills up", () => {
  it("fails the build that filled it, stores nothing of it, frees the space, and builds the one beside it", async () => {
    const engine = openEngine(join(mountPoint, "home"));
    try {
      const filler = shDrv("filler", "mkdir -p $out; dd if=/dev/zero of=$out/big bs=1M count=1000 2>&1; exit 0");
      const other = shDrv("beside", "sleep 2; mkdir -p $out; echo fine > $out/ok");
      const r = await build(engine, graph(filler, other), [filler, other], { keepGoing: true, jobs: 2 });
      const failed = eventsOf(r.events, "failed").find((f) => f.hash === derivationHash(filler));
      const log = eventsOf(r.events, "log")
        .filter((l) => l.hash === derivationHash(filler))
        .map((l) => l.line)
        .join("\n");
      const stored = readdirSync(engine.store.dir).filter((n) => n.endsWith("-filler"));
      const used = Number(execFileSync("df", ["--output=used", "-B1", mountPoint], { encoding: "utf8" }).split("\n")[1]);
      const otherBuilt = r.result.outputs.has(derivationHash(other));
      const held = failed !== undefined && stored.length === 0 && otherBuilt && used < 16 << 20;
      record({
        area: "sandbox",
        attack: "filling the store's disk through $out",
        tries: 1,
        held,
        detail: `store on a 48 MiB tmpfs: dd into $out hit "No space left on device"; the build failed (${failed?.error ?? "?"}), nothing of it stored, ${(used / 1048576).toFixed(1)} MiB in use afterwards; the build beside it ${otherBuilt ? "was built" : "FAILED"}`,
      });
      expect(log).toMatch(/No space left on device/);
      expect(failed).toBeDefined();
      expect(stored).toEqual([]);
      expect(otherBuilt).toBe(true);
      expect(used).toBeLessThan(16 << 20);
    } finally {
      engine.close();
    }
  });
});
