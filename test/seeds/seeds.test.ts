// The seed library with examples/hello: a build that needs no host path, fetched from the
// tests' loopback Debian mirror; --check passing on it and catching a build that is not
// reproducible; a changed .deb pin changing the derivation hashes and rebuilding.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bramble, freshHome, repo } from "../helpers/cli.js";

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function graphOf(args: string[], env: Record<string, string> = {}): Map<string, string> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const r = bramble(["graph", ...args, "--json"], { home: freshHome() });
    expect(r.code, r.stderr).toBe(0);
    const g = JSON.parse(r.stdout) as { nodes: { name: string; hash: string }[] };
    return new Map(g.nodes.map((n) => [n.name, n.hash]));
  } finally {
    process.env = saved;
  }
}

describe("examples/hello on the seed library", () => {
  const home = freshHome();
  let first: ReturnType<typeof bramble>;
  beforeAll(() => {
    first = bramble(["build", "./examples/hello:default", "-v"], { home, timeoutMs: 120_000 });
  });

  it("declares no host path and builds with busybox from the loopback mirror", () => {
    expect(readFileSync(join(repo, "examples/hello/bramble.toml"), "utf8")).not.toMatch(/sandbox_paths/);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(
      `fetching mirror://debian/pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb from ${process.env.BRAMBLE_MIRROR_DEBIAN}/pool/main/b/busybox/`,
    );
    expect(process.env.BRAMBLE_MIRROR_DEBIAN).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const out = /^hello: (\S+)$/m.exec(first.stdout)![1]!;
    const script = readFileSync(join(out, "bin/hello"), "utf8");
    expect(script.split("\n")[0]).toMatch(new RegExp(`^#!${home}/store_*/[0-9a-z]{32}-busybox/bin/sh$`));
  });

  it("passes --check: built again in a fresh store, every output identical", () => {
    const r = bramble(["build", "./examples/hello:default", "--check"], { home, timeoutMs: 120_000 });
    expect(r.stderr).toContain("check: 3 derivations built again, every output identical");
    expect(r.code).toBe(0);
  });

  it("--check names the first file that differs in a build that is not reproducible, and exits 1", () => {
    const r = bramble(["build", "./test/seeds/fixtures/unstable:unstable", "--check"], { home, timeoutMs: 120_000 });
    expect(r.stderr).toMatch(/check: unstable differs when built again: a\/stamp: contents differ at byte \d+/);
    expect(r.stderr).not.toMatch(/a\/same/);
    expect(r.code).toBe(1);
  });

  it("a changed .deb pin changes the derivation hashes of everything built with it, and rebuilds", () => {
    const lib = mkdtempSync(join(tmpdir(), "bramble-seeds-"));
    made.push(lib);
    cpSync(join(repo, "lib"), lib, { recursive: true });
    // The x86_64 busybox pin in the library's own lock (lib/bramble.lock) replaced by another
    // tree's hash (here: the arm64 package's); the .bramble source is untouched.
    const file = join(lib, "bramble.lock");
    const src = readFileSync(file, "utf8");
    const changed = src.replace(
      '"mirror://debian/pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb" = "sha256:060pmyzly55g76anv0pnl5c8bgp605amlwcwwkkgyvmqhiiqb6bn"',
      '"mirror://debian/pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb" = "sha256:0dyfyn3ijnybkkpxd783xyqdzlrzi4w8k996yk4qdfkxa1vb624v"',
    );
    expect(changed).not.toBe(src);
    writeFileSync(file, changed);
    const before = graphOf(["./examples/hello:default"]);
    const after = graphOf(["./examples/hello:default"], { BRAMBLE_SEEDS: lib });
    for (const name of ["busybox-static-x86_64-linux", "busybox", "greeting", "hello"]) {
      expect(after.get(name), name).toBeDefined();
      expect(after.get(name), name).not.toBe(before.get(name));
    }
    // The same store as before: nothing is cached, the new .deb is fetched.
    const saved = process.env.BRAMBLE_SEEDS;
    process.env.BRAMBLE_SEEDS = lib;
    try {
      const r = bramble(["build", "./examples/hello:default", "--dry-run"], { home });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^busybox-static-x86_64-linux {2}any {2}would build on fetch_url$/m);
      expect(r.stdout).toMatch(/^hello {2}x86_64-linux {2}would build on local$/m);
    } finally {
      if (saved === undefined) delete process.env.BRAMBLE_SEEDS;
      else process.env.BRAMBLE_SEEDS = saved;
    }
  });
});
