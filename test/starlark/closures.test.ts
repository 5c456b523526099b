// The spec-section tests again with function bodies compiled to closures only (no
// generated JavaScript), so both compilation paths stay covered.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codegen } from "../../core/starlark/compiler.js";
import { runStarFile } from "./harness.js";

const dir = join(import.meta.dirname, "testdata");
describe("closures only", () => {
  beforeAll(() => {
    codegen.enabled = false;
  });
  afterAll(() => {
    codegen.enabled = true;
  });
  for (const f of readdirSync(dir)
    .filter((f) => f.endsWith(".star"))
    .sort()) {
    it(f, () => {
      const bad = runStarFile(join(dir, f)).filter((r) => !r.ok);
      expect(bad.map((r) => `line ${r.line}: ${r.message}`)).toEqual([]);
    });
  }
});
