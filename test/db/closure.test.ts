// Closure queries (issue 17 point 5): linear in the closure (references are read once and kept:
// a path's references never change), with the names themselves and every path reachable.
import { describe, expect, it } from "vitest";
import { openEngine } from "../../core/build/engine.js";
import { freshHome } from "../helpers/cli.js";

const path = (name: string, references: string[]) => ({ name, hash: `sha256:${name}`, size: 1, references, deriver: null });

describe("closure", () => {
  it("follows references transitively, through cycles and self-references, to names that are not valid", () => {
    const engine = openEngine(freshHome());
    try {
      engine.db.addPath(path("a", ["b", "a"]));
      engine.db.addPath(path("b", ["c"]));
      engine.db.addPath(path("c", ["b", "gone"]));
      engine.db.addPath(path("d", ["a"]));
      engine.db.addPath(path("e", []));
      expect([...engine.db.closure(["a"])].sort()).toEqual(["a", "b", "c", "gone"]);
      expect([...engine.db.closure(["d", "e"])].sort()).toEqual(["a", "b", "c", "d", "e", "gone"]);
      expect([...engine.db.closure(["unknown"])]).toEqual(["unknown"]);
      expect([...engine.db.closure([])]).toEqual([]);
      expect([...engine.store.closureSync(["b"])].sort()).toEqual(["b", "c", "gone"]);
    } finally {
      engine.close();
    }
  });

  it("walks a 20,000-path chain with a second edge per path", () => {
    const engine = openEngine(freshHome());
    try {
      const n = 20_000;
      const name = (i: number) => `p${String(i).padStart(5, "0")}`;
      engine.db.sql.transaction(() => {
        for (let i = 0; i < n; i++) engine.db.addPath(path(name(i), i === 0 ? [] : [name(i - 1), name(Math.floor(i / 2))]));
      })();
      const c = engine.db.closure([name(n - 1)]);
      expect(c.size).toBe(n);
      expect(c.has(name(0))).toBe(true);
      expect(engine.db.closure([name(9)]).size).toBe(10);
    } finally {
      engine.close();
    }
  });
});
