// bwrap 0.8 sometimes fails to bring up a new network namespace's loopback before the builder
// runs ("loopback: Failed RTM_NEWADDR"); local.ts starts the sandbox again. The store view's
// overlay is mounted volatile, and its work directory refused the second mount (EINVAL) until
// the retry cleared it. A bwrap that fails that way once (BRAMBLE_BWRAP, read on first use).
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { build, cleanupTemps, eventsOf, graph, shDrv, tempDir, tempEngine } from "./helpers.js";

afterEach(cleanupTemps);

describe("a sandbox started again", () => {
  it("after bwrap's loopback set-up failed, runs the builder over the same overlay", async () => {
    const dir = tempDir();
    const fake = join(dir, "bwrap");
    const count = join(dir, "count");
    writeFileSync(
      fake,
      `#!/bin/sh\nif [ ! -e ${count} ]; then : > ${count}; echo "bwrap: loopback: Failed RTM_NEWADDR: No child processes" >&2; exit 1; fi\nexec /usr/bin/bwrap "$@"\n`,
    );
    chmodSync(fake, 0o755);
    process.env.BRAMBLE_BWRAP = fake;
    const engine = tempEngine();
    try {
      const d = shDrv("retried", "echo ran > $out");
      const r = await build(engine, graph(d), [d]);
      const logs = eventsOf(r.events, "log").map((e) => e.line);
      expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
      expect(logs).toContain("bramble: the sandbox's network set-up failed before the builder ran; starting the sandbox again");
      expect(existsSync(count)).toBe(true);
      expect(readFileSync(r.result.outputs.get(derivationHash(d))!.out!, "utf8")).toBe("ran\n");
    } finally {
      delete process.env.BRAMBLE_BWRAP;
      engine.close();
    }
  });
});
