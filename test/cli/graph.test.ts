// bramble ls, graph and diff: what a project offers, its graph, and what a retarget changes.
import { describe, expect, it } from "vitest";
import { bramble, freshHome } from "../helpers/cli.js";

const home = freshHome();

describe("bramble ls", () => {
  it("lists modules and their public functions with parameters and docstrings", () => {
    const r = bramble(["ls", "examples/cross"], { home });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\.  \(examples\/cross\/default\.bramble\)$/m);
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
  it("prints nodes with name, hash, builder, platform, system and outputs, and edges, as JSON", () => {
    const r = bramble(["graph", "./examples/cross:all", "--json"], { home });
    expect(r.code).toBe(0);
    const g = JSON.parse(r.stdout);
    const byName = Object.fromEntries(g.nodes.map((n: { name: string }) => [n.name, n]));
    expect(Object.keys(byName).sort()).toEqual(["cc-for", "hello-c", "hello-c-run"]);
    expect(byName["hello-c"]).toMatchObject({ builder: "/bin/sh", platform: g.host, system: g.host, outputs: ["out"] });
    expect(byName["hello-c"].hash).toMatch(/^[0-9a-z]{32}$/);
    const edges = g.edges.map((e: { from: string; to: string }) => `${e.from}->${e.to}`).sort();
    expect(edges).toEqual([`${byName["cc-for"].hash}->${byName["hello-c"].hash}`, `${byName["hello-c"].hash}->${byName["hello-c-run"].hash}`].sort());
  });

  it("retargets with --target: the program follows, the host tool stays", () => {
    const g = JSON.parse(bramble(["graph", "./examples/cross:all", "--json", "--target", "aarch64-linux"], { home }).stdout);
    const byName = Object.fromEntries(g.nodes.map((n: { name: string }) => [n.name, n]));
    expect(byName["cc-for"]).toMatchObject({ platform: g.host, system: g.host });
    expect(byName["hello-c"]).toMatchObject({ platform: g.host, system: "aarch64-linux" });
    expect(byName["hello-c-run"]).toMatchObject({ platform: "aarch64-linux", system: "aarch64-linux" });
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
    expect(r.stdout).toMatch(/-> aarch64-linux: 2 changed, 1 unchanged/);
    expect(r.stdout).toMatch(/changed +hello-c +aarch64-linux/);
    expect(r.stdout).toMatch(/changed +hello-c-run +aarch64-linux/);
    expect(r.stdout).toMatch(/unchanged +cc-for/);
    const json = JSON.parse(bramble(["diff", "./examples/cross:all", "--target", "aarch64-linux", "--json"], { home }).stdout);
    expect(json.changed).toHaveLength(2);
    expect(json.unchanged).toHaveLength(1);
  });
});
