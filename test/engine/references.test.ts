// Reference scanning (core/store/archive.ts): hash parts found in one pass over the bytes,
// whatever the number of candidates (issue 17 point 5), exactly where a search would find them.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findNeedles, hashTree, makeNeedles } from "../../core/store/archive.js";
import { cleanupTemps, tempDir } from "./helpers.js";

afterEach(cleanupTemps);

const A = "0123456789abcdfghijklmnpqrsvwxyz";
const B = "zyxwvsrqpnmlkjihgfdcba9876543210";
const C = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const D = "0000000000000000000000000000000d";

describe("reference scanning", () => {
  it("finds a hash part at the start, the end, inside a longer run of hash characters, and next to bytes outside the alphabet", () => {
    const needles = makeNeedles([A, B, C, D, "/some/store"]);
    const found = new Set<string>();
    findNeedles(Buffer.from(`${A}-x zz${B}zz e${C}`), needles, found);
    expect([...found].sort()).toEqual([A, B, C].sort());
    const more = new Set<string>();
    // "e" and "t" are not hash characters (Nix's base32 has no e, o, t, u): D is still found after them.
    findNeedles(Buffer.from(`t${D}u /some/store/x`), needles, more);
    expect([...more].sort()).toEqual(["/some/store", D]);
    const none = new Set<string>();
    findNeedles(Buffer.from(`${A.slice(0, 31)}e${A.slice(1)}`), needles, none);
    expect([...none]).toEqual([]);
  });

  it("finds references across the 1 MiB read boundary and in symlink targets, among 20,000 candidates", () => {
    const candidates: string[] = [];
    for (let i = 0; i < 20_000; i++)
      candidates.push(
        i
          .toString(32)
          .padStart(32, "0")
          .replace(/[eotu]/g, "z"),
      );
    const root = join(tempDir(), "out");
    mkdirSync(root);
    // A straddles the first chunk's end: it starts 10 bytes before 1 MiB.
    writeFileSync(join(root, "big"), Buffer.concat([Buffer.alloc((1 << 20) - 10, "."), Buffer.from(`${A}...`)]));
    symlinkSync(`/s/${B}-name/bin`, join(root, "link"));
    const t = hashTree(root, { storeDir: "/s", candidates: [...candidates, A, B, C] });
    expect([...t.references].sort()).toEqual([A, B].sort());
  });
});
