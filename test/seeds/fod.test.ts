// A fixed-output derivation with several outputs: every output's hash is pinned and checked,
// not only the first one's.
import { describe, expect, it } from "vitest";
import { bramble, freshHome } from "../helpers/cli.js";

const fixture = "./test/seeds/fixtures/multi";

describe("a multi-output fixed-output derivation", () => {
  const home = freshHome();

  it("builds when both outputs have their pinned hashes", () => {
    const r = bramble(["build", `${fixture}:right`], { home, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^two: \S+-two$/m);
    expect(r.stdout).toMatch(/^two\.doc: \S+-two-doc$/m);
  });

  it("fails when the second output's hash is wrong, naming both hashes", () => {
    const r = bramble(["build", `${fixture}:wrong_second`], { home, timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("hash mismatch in fixed-output derivation two-doc");
    expect(r.stderr).toMatch(/specified: sha256:1{52}/);
    expect(r.stderr).toMatch(/got: +sha256:1j04pkhz2ar2s39cdhmvw1033m6007l8yjq6m96yzm2l1d9wvaab/);
  });

  it("refuses one hash for several outputs, and a hash dict that leaves an output out", () => {
    const one = bramble(["build", `${fixture}:one_hash`], { home });
    expect(one.code).not.toBe(0);
    expect(one.stderr).toContain('a fixed-output derivation with several outputs needs a hash for each: hash = {"out": "sha256:...", "doc": "sha256:..."}');
    expect(one.stderr).toMatch(/default\.bramble:\d+:\d+/);
    const missing = bramble(["build", `${fixture}:missing_one`], { home });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('hash has no entry for output "doc"');
  });
});
