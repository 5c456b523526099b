// The app (bramble serve in Chromium) shows a reapi build's Action on the node panel: the
// action digest, the service, the worker (its pool) and the timings.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { bramble } from "../helpers/cli.js";
import { TEST_ALLOWED_PATHS } from "../helpers/user-config.js";
import { launch, node, open, repo, screenshot, serve, type Served } from "../e2e/helpers.js";
import { startCluster, X86_64_POOL, type Cluster } from "./cluster.js";

let cluster: Cluster;
let server: Served;
let browser: Browser;
let env: Record<string, string>;
beforeAll(async () => {
  cluster = await startCluster({ pools: [X86_64_POOL] });
  const dir = mkdtempSync(join(tmpdir(), "bramble-reapi-config-"));
  writeFileSync(
    join(dir, "config.toml"),
    `[sandbox]\nallowed_paths = ${JSON.stringify(TEST_ALLOWED_PATHS)}\n\n[backends.farm]\nkind = "reapi"\nendpoint = "${cluster.endpoint}"\n`,
  );
  env = { BRAMBLE_CONFIG: join(dir, "config.toml") };
  [server, browser] = await Promise.all([serve(join(repo, "examples/hello"), { env }), launch()]);
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await cluster?.stop();
});

describe("the app with a reapi backend", () => {
  it("shows the action digest, the worker and the timings of a node built on the farm", async () => {
    // built on the farm in the served BRAMBLE_PATH, by the CLI
    const b = bramble(["build", "./examples/hello:default", "--builder", "farm"], { home: server.home, env, timeoutMs: 120_000 });
    expect(b.code, b.stderr).toBe(0);
    const { page, context, errors } = await open(browser, server.url);
    try {
      await node(page, "hello").click();
      const facts = page.getByTestId("remote-facts");
      await facts.waitFor();
      const text = await facts.innerText();
      expect(text).toMatch(/Action\s+[0-9a-f]{64}\/\d+/);
      expect(text).toContain(cluster.endpoint);
      expect(text).toMatch(/Result\s+executed/);
      expect(text).toContain('"pool":"x86_64"');
      expect(text).toMatch(/Timings\s+queued \d+ ms, inputs \d+ ms, executing \d+ ms, outputs \d+ ms/);
      await facts.scrollIntoViewIfNeeded();
      await screenshot(page, "reapi-node-panel");
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);
});
