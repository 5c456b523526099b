// bramble ls, graph and diff: what a project offers, its graph, and what a retarget changes.
import { describe, expect, it } from "vitest";
import { bramble, freshHome } from "../helpers/cli.js";

const home = freshHome();

describe("bramble ls", () => {
  it("lists modules and their public functions with parameters and docstrings", () => {
    const r = bramble(["ls", "examples/cross"], { home });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\. {2}\(examples\/cross\/default\.bramble\)$/m);
    expect(r.stdout).toMatch(/^ {2}compile\(system\) {2}hello\.c compiled on this machine for `system`\.$/m);
    expect(r.stdout).toMatch(/^ {2}all\(\) {2}The program for the target system and a run of it on that system\.$/m);
  });
  it("says when there is no project", () => {
    const r = bramble(["ls", "/"], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no bramble\.toml found/);
  });
});

describe("bramble graph", () => {
  // examples/cross uses no host path: every builder is a built-in fetch or a seed library's
  // store path (busybox's sh, or busybox itself making its applet links).
  const storeBuilder = /^(fetch_url|\{\{ [0-9a-z]{32}:out \}\}\/bin\/(sh|busybox))$/;
  type Node = { name: string; hash: string; builder: string; platform: string; system: string };

  it("prints nodes with name, hash, builder, platform, system and outputs, and edges, as JSON", () => {
    const r = bramble(["graph", "./examples/cross:all", "--json"], { home });
    expect(r.code).toBe(0);
    const g = JSON.parse(r.stdout);
    const byName = Object.fromEntries(g.nodes.map((n: Node) => [n.name, n]));
    // hello-c, its run, the toolchain, busybox and its .deb, and the toolchain's 23 pinned .debs.
    expect(g.nodes).toHaveLength(28);
    expect(Object.keys(byName)).toEqual(expect.arrayContaining(["hello-c", "hello-c-run", "cc-x86_64-linux", "busybox", "gcc-12_12.2.0-14+deb12u1_amd64.deb"]));
    for (const n of g.nodes as Node[]) expect(n.builder, n.name).toMatch(storeBuilder);
    expect(byName["hello-c"]).toMatchObject({
      builder: `{{ ${byName["busybox"].hash}:out }}/bin/sh`,
      platform: "x86_64-linux",
      system: "x86_64-linux",
      outputs: ["out"],
    });
    expect(byName["hello-c"].hash).toMatch(/^[0-9a-z]{32}$/);
    const edges = g.edges.map((e: { from: string; to: string }) => `${e.from}->${e.to}`);
    expect(edges).toEqual(
      expect.arrayContaining([
        `${byName["cc-x86_64-linux"].hash}->${byName["hello-c"].hash}`,
        `${byName["busybox"].hash}->${byName["hello-c"].hash}`,
        `${byName["hello-c"].hash}->${byName["hello-c-run"].hash}`,
      ]),
    );
  });

  it("retargets with --target: the program and its run follow, the toolchain stays on the host", () => {
    const g = JSON.parse(bramble(["graph", "./examples/cross:all", "--json", "--target", "aarch64-linux"], { home }).stdout);
    const byName = Object.fromEntries(g.nodes.map((n: Node) => [n.name, n]));
    expect(byName["cc-aarch64-linux"]).toMatchObject({ platform: "x86_64-linux", system: "x86_64-linux" });
    expect(byName["hello-c"]).toMatchObject({ platform: "x86_64-linux", system: "aarch64-linux" });
    expect(byName["hello-c-run"]).toMatchObject({ platform: "aarch64-linux", system: "aarch64-linux" });
    // The run's shell is aarch64 busybox: an aarch64 environment throughout.
    const shells = (g.nodes as Node[]).filter((n) => n.name === "busybox");
    expect(shells.map((n) => n.system).sort()).toEqual(["aarch64-linux", "x86_64-linux"]);
    const arm = shells.find((n) => n.system === "aarch64-linux")!;
    expect(byName["hello-c-run"].builder).toBe(`{{ ${arm.hash}:out }}/bin/sh`);
  });

  it("rejects an unknown target before evaluating", () => {
    const r = bramble(["graph", "./examples/cross:all", "--target", "x86_64 linux"], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/target/);
  });
});

describe("bramble diff", () => {
  it("shows exactly the derivations a retarget changes, with counts", () => {
    const r = bramble(["diff", "./examples/cross:all", "--target", "aarch64-linux"], { home });
    expect(r.code).toBe(0);
    // Changed: the program, its run, the cross toolchain and its 10 .debs, aarch64 busybox and
    // its .deb. Unchanged: what compiles on the host (x86_64 busybox, the libraries gcc runs on).
    expect(r.stdout).toMatch(/-> aarch64-linux: 15 changed, 17 unchanged/);
    expect(r.stdout).toMatch(/changed +hello-c +aarch64-linux/);
    expect(r.stdout).toMatch(/changed +hello-c-run +aarch64-linux/);
    expect(r.stdout).toMatch(/changed +cc-aarch64-linux +x86_64-linux/);
    expect(r.stdout).toMatch(/changed +busybox +aarch64-linux/);
    expect(r.stdout).toMatch(/unchanged +busybox +x86_64-linux/);
    expect(r.stdout).toMatch(/unchanged +libc6-x86_64-linux/);
    const json = JSON.parse(bramble(["diff", "./examples/cross:all", "--target", "aarch64-linux", "--json"], { home }).stdout);
    expect(json.changed).toHaveLength(15);
    expect(json.unchanged).toHaveLength(17);
  });
});
