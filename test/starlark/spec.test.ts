// Spec-section tests driven by testdata/*.star (one file per section of the spec).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runStarFile } from "./harness.js";

const dir = join(import.meta.dirname, "testdata");
for (const f of readdirSync(dir)
  .filter((f) => f.endsWith(".star"))
  .sort()) {
  describe(f, () => {
    for (const r of runStarFile(join(dir, f))) {
      it(`chunk at line ${r.line}`, () => {
        expect(r.ok, r.message).toBe(true);
      });
    }
  });
}
