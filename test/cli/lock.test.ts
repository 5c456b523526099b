// A first fetch with no hash records it in bramble.lock; later evaluations use it, and a
// changed file then fails with both hashes shown.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bramble, freshHome } from "../helpers/cli.js";

describe("bramble.lock", () => {
  it("records a first fetch's hash and holds later fetches to it", () => {
    const root = mkdtempSync(join(tmpdir(), "bramble-lock-"));
    const data = join(root, "data.txt");
    writeFileSync(data, "version one\n");
    writeFileSync(join(root, "bramble.toml"), '[package]\nname = "locked"\n');
    writeFileSync(join(root, "default.bramble"), `def src():\n    return fetch_url("file://${data}")\n`);
    const home = freshHome();

    const first = bramble(["build", `${root}:src`], { home });
    expect(first.code).toBe(0);
    const lock = readFileSync(join(root, "bramble.lock"), "utf8");
    expect(lock).toMatch(new RegExp(`\\[urlhashes\\]\\n"file://${data.replace(/[/.]/g, "\\$&")}" = "sha256:[0-9a-z]{52}"`));

    const graph = JSON.parse(bramble(["graph", `${root}:src`, "--json"], { home }).stdout);
    expect(graph.nodes[0].badge).toBe("fetch_url");

    writeFileSync(data, "version two\n");
    const again = bramble(["build", `${root}:src`], { home: freshHome() });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/sha256:[0-9a-z]{52}[\s\S]*sha256:[0-9a-z]{52}/);
    expect(readFileSync(join(root, "bramble.lock"), "utf8")).toBe(lock);
  });
});
