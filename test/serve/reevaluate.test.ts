// Issue 14 point 1, the service's half: a watching service (bramble serve, the app) re-evaluates
// a project on save, by itself, every graph a client was shown of it (a function on the host,
// a retarget preview), and sends each to every listener with what changed; an edit that
// breaks a module sends the error with its place; a project no graph was shown of gets its
// module list. Real files, fs.watch and the real evaluator and DB.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { BuildEvent, GraphUpdatedEvent } from "../../core/api/schema.js";
import { createService, type ServiceHost } from "../../core/api/service.js";
import { freshHome } from "../helpers/cli.js";

const hosts: ServiceHost[] = [];
afterAll(() => {
  for (const h of hosts) h.close();
});

function project(word: string): string {
  return `def default():
    a = derivation(name = "a", builder = "/bin/sh", args = ["-c", "echo a > $out"])
    return derivation(name = "b", builder = "/bin/sh", args = ["-c", "echo ${word}; cat " + str(a) + " > $out"])

def other():
    return derivation(name = "c", builder = "/bin/sh", args = ["-c", "echo c > $out"])
`;
}

function updates(host: ServiceHost): { events: GraphUpdatedEvent[]; next: (n: number) => Promise<GraphUpdatedEvent[]> } {
  const events: GraphUpdatedEvent[] = [];
  let wake = () => {};
  host.onEvent((e: BuildEvent) => {
    if (e.type !== "graph-updated") return;
    events.push(e);
    wake();
  });
  return {
    events,
    // Wait for n more events than were there when asked.
    next: (n) => {
      const want = events.length + n;
      return new Promise((resolve) => {
        const check = () => {
          if (events.length >= want) resolve(events.slice(want - n, want));
        };
        wake = check;
        check();
      });
    },
  };
}

describe("re-evaluation on save, by the service", () => {
  it("sends every graph shown of the project, with what changed, to every listener", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bramble-reeval-"));
    writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "reeval"\nversion = "0.1.0"\n');
    writeFileSync(join(dir, "default.bramble"), project("one"));
    const host = createService({ home: freshHome(), watch: true });
    hosts.push(host);
    const { service } = host;
    const first = updates(host);
    const second = updates(host); // another client, which asks for nothing

    const shown = await service["graph.evaluate"]({ project: dir, moduleArg: ".:default" });
    const preview = await service["graph.diff"]({ project: dir, moduleArg: ".:default", target: "aarch64-linux" });
    const hashOf = (g: { nodes: { name: string; hash: string }[] }, name: string) => g.nodes.find((n) => n.name === name)!.hash;

    const got = first.next(2);
    writeFileSync(join(dir, "default.bramble"), project("two"));
    const [a, b] = await got;
    const onHost = [a, b].find((e) => e!.diff === undefined)!;
    const onTarget = [a, b].find((e) => e!.diff !== undefined)!;
    expect(onHost).toMatchObject({ project: dir, moduleArg: ".:default", files: [join(dir, "default.bramble")] });
    expect(onHost.target).toBeUndefined();
    // Only b changed: a's hash is the one shown before.
    expect(hashOf(onHost.graph!, "a")).toBe(hashOf(shown, "a"));
    expect(hashOf(onHost.graph!, "b")).not.toBe(hashOf(shown, "b"));
    expect(onHost.changed).toEqual([hashOf(onHost.graph!, "b")]);
    // The retarget preview is redone: the diff and its graph for the target.
    expect(onTarget).toMatchObject({ project: dir, moduleArg: ".:default", target: "aarch64-linux" });
    expect(onTarget.graph!.target).toBe("aarch64-linux");
    expect(onTarget.diff!.to.nodes.map((n) => n.hash).sort()).toEqual(onTarget.graph!.nodes.map((n) => n.hash).sort());
    expect(onTarget.changed).toEqual([hashOf(onTarget.graph!, "b")]);
    expect(hashOf(onTarget.graph!, "b")).not.toBe(hashOf(preview.to, "b"));
    // The module list comes along (functions and their parameters).
    expect(onHost.modules.map((m) => [m.module, m.functions.map((f) => f.name)])).toEqual([[".", ["default", "other"]]]);
    // The client that asked nothing got the same events.
    expect(second.events).toEqual(first.events);

    // A syntax error: the error and its place, for each graph shown.
    const broken = first.next(2);
    writeFileSync(join(dir, "default.bramble"), project("three").replace("def other():", "def other(:"));
    for (const e of await broken) {
      expect(e.graph).toBeUndefined();
      expect(e.error!.evalError).toMatchObject({ file: join(dir, "default.bramble"), line: 5, col: 12 });
    }
  });

  it("sends the module list of a project no graph was shown of", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bramble-reeval-"));
    writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "reeval"\nversion = "0.1.0"\n');
    writeFileSync(join(dir, "default.bramble"), "def default(:\n    return []\n");
    const host = createService({ home: freshHome(), watch: true });
    hosts.push(host);
    const seen = updates(host);
    const opened = await host.service["project.open"]({ path: dir });
    expect(opened.modules[0]!.error).toMatchObject({ line: 1, col: 14 });
    const got = seen.next(1);
    writeFileSync(join(dir, "default.bramble"), "def default():\n    return []\n");
    const [e] = await got;
    expect(e).toEqual({
      type: "graph-updated",
      project: dir,
      files: [join(dir, "default.bramble")],
      modules: [{ module: ".", file: join(dir, "default.bramble"), functions: [{ name: "default", params: [], doc: "" }] }],
    });
  });
});
