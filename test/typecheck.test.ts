// Every layer type-checks under its own configuration: core and tests (Node), electron/
// against Electron's own types, and the renderer (DOM, bundler resolution).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repo } from "./helpers/cli.js";

const tsc = join(repo, "node_modules/typescript/bin/tsc");

describe("tsc --noEmit", () => {
  for (const project of ["tsconfig.json", "electron/tsconfig.json", "renderer/tsconfig.json", "test/e2e/tsconfig.json"]) {
    it(`passes for ${project}`, () => {
      const r = spawnSync(process.execPath, [tsc, "-p", join(repo, project), "--noEmit"], { cwd: repo, encoding: "utf8" });
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
    }, 240_000);
  }
});
