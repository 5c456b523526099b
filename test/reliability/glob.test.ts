// files() patterns cannot backtrack exponentially: they are matched segment by segment with
// the two-pointer wildcard algorithm. The hostile cases below took minutes as a RegExp; here
// they answer at once (a hang would show as the test's timeout).
import { describe, expect, it } from "vitest";
import { globMatcher } from "../../core/project/glob.js";
import { record } from "./record.js";

describe("glob patterns", () => {
  it("match as before: *, ?, classes, ** in the middle and at the end", () => {
    const cases: [string, string, boolean][] = [
      ["*.c", "a.c", true],
      ["*.c", "d/a.c", false],
      ["**/*.c", "a.c", true],
      ["**/*.c", "x/y/a.c", true],
      ["src/**", "src", false],
      ["src/**", "src/a", true],
      ["src/**", "src/a/b", true],
      ["**", "a/b", true],
      ["a/**/b", "a/b", true],
      ["a/**/b", "a/x/y/b", true],
      ["a/**/b", "a/x/y/c", false],
      ["[a-c]?.txt", "bx.txt", true],
      ["[!a-c]?.txt", "bx.txt", false],
      ["[!a-c]?.txt", "dx.txt", true],
      ["a.b", "axb", false],
      ["(x)+", "(x)+", true],
      ["*", "", true],
      ["a*", "b", false],
    ];
    for (const [pattern, path, want] of cases) expect(globMatcher(pattern)(path), `${pattern} ~ ${path}`).toBe(want);
  });

  it("answer hostile patterns without exponential backtracking", () => {
    const got = [
      globMatcher(`${"*a".repeat(30)}*b`)("a".repeat(100)),
      globMatcher(`${"**/".repeat(30)}x`)(Array(200).fill("a").join("/")),
      globMatcher(`${"**/*a*/".repeat(10)}b`)(Array(100).fill("aaaa").join("/")),
      globMatcher(`${"*a".repeat(30)}*`)("a".repeat(100)),
    ];
    record({
      area: "input",
      attack: "files() patterns built to backtrack exponentially (*a*a…*b, **/**/…/x)",
      tries: 4,
      held: got.join() === "false,false,false,true",
      detail: "two-pointer wildcard match, segment by segment: answered at once",
    });
    expect(got).toEqual([false, false, false, true]);
  });
});
