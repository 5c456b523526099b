// Evaluation history stays bounded: the app re-evaluates on every view change.
import { describe, expect, it } from "vitest";
import { openEngine } from "../../core/build/engine.js";
import type { Derivation } from "../../core/derivation/derivation.js";
import { freshHome } from "../helpers/cli.js";

const drv: Derivation = {
  name: "x",
  builder: "/bin/sh",
  args: [],
  env: {},
  outputs: ["out"],
  network: false,
  platform: "x86_64-linux",
  system: "x86_64-linux",
};

describe("evaluations", () => {
  it("keeps the newest 20 per project, module and target, and their derivation links", () => {
    const engine = openEngine(freshHome());
    try {
      const drvs = new Map([["a".repeat(32), drv]]);
      const ids: number[] = [];
      for (let i = 0; i < 25; i++) ids.push(engine.db.recordEvaluation({ project: "/p", moduleArg: ".:f", target: "x86_64-linux", roots: [], drvs }));
      engine.db.recordEvaluation({ project: "/p", moduleArg: ".:f", target: "aarch64-linux", roots: [], drvs });
      const sql = (engine.db as unknown as { sql: import("better-sqlite3").Database }).sql;
      const evals = sql.prepare("SELECT id, target FROM evaluations ORDER BY id").all() as { id: number; target: string }[];
      expect(evals.filter((e) => e.target === "x86_64-linux").map((e) => e.id)).toEqual(ids.slice(5));
      expect(evals.filter((e) => e.target === "aarch64-linux")).toHaveLength(1);
      const links = sql.prepare("SELECT count(*) AS n FROM evaluation_drvs").get() as { n: number };
      expect(links.n).toBe(21);
    } finally {
      engine.close();
    }
  });
});
