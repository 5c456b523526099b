// `npm run lint` in the test run: biome's linter and formatter (biome.json, `biome check`) and
// knip's unused files and dependencies (knip.json) pass over the whole tree.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repo } from "./helpers/cli.js";

function run(bin: string, args: string[]) {
  const r = spawnSync(join(repo, "node_modules/.bin", bin), args, { cwd: repo, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, output: `${r.stdout}\n${r.stderr}` };
}

describe("lint", () => {
  it("biome check (lint and format) finds no errors", () => {
    const r = run("biome", ["check", "--max-diagnostics=50", "."]);
    expect(r.code, r.output).toBe(0);
  });

  it("knip finds no unused files and no unused or unlisted dependencies (unused exports are warnings)", () => {
    const r = run("knip", ["--no-progress"]);
    expect(r.code, r.output).toBe(0);
  });
});
