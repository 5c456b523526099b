// The CLI with a reapi backend from the user's config, on the real Buildbarn cluster: the
// examples build on the farm with the same store paths (output hashes) as on local, a fresh
// BRAMBLE_PATH gets everything from the Action Cache ("cached (remote)"), and `bramble
// backends` lists the farm with its systems.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createService } from "../../core/api/service.js";
import { bramble, freshHome } from "../helpers/cli.js";
import { TEST_ALLOWED_PATHS } from "../helpers/user-config.js";
import { startCluster, type Cluster } from "./cluster.js";

let cluster: Cluster;
let env: Record<string, string>;
beforeAll(async () => {
  cluster = await startCluster();
  const dir = mkdtempSync(join(tmpdir(), "bramble-reapi-config-"));
  const props = Object.entries(cluster.platformProperties)
    .map(
      ([sys, p]) =>
        `[backends.farm.platform_properties."${sys}"]\n${Object.entries(p)
          .map(([k, v]) => `${k} = "${v}"`)
          .join("\n")}\n`,
    )
    .join("\n");
  writeFileSync(
    join(dir, "config.toml"),
    `[sandbox]\nallowed_paths = ${JSON.stringify(TEST_ALLOWED_PATHS)}\n\n[backends.farm]\nkind = "reapi"\nendpoint = "${cluster.endpoint}"\n\n${props}`,
  );
  env = { BRAMBLE_CONFIG: join(dir, "config.toml") };
});
afterAll(async () => {
  await cluster?.stop();
});

const paths = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .filter((l) => /^[\w-]+: \//.test(l))
    .map((l) => l.split("/").pop());

describe("bramble CLI with a reapi backend", () => {
  it("lists the farm and its systems", () => {
    const r = bramble(["backends"], { home: freshHome(), env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^farm\s+available\s+x86_64-linux, aarch64-linux/m);
  });

  it("builds examples/hello on the farm with the same store paths as local; a fresh BRAMBLE_PATH builds nothing", async () => {
    const local = bramble(["build", "./examples/hello:default"], { home: freshHome(), env, timeoutMs: 120_000 });
    expect(local.stderr).toMatch(/, 0 failed/);
    expect(local.code).toBe(0);
    // --remote-cache: the fixed-output fetch (a built-in, run here) is shared through the farm's Action Cache too
    const farmHome = freshHome();
    const farm = bramble(["build", "./examples/hello:default", "--builder", "farm", "--remote-cache", "farm"], { home: farmHome, env, timeoutMs: 120_000 });
    expect(farm.code, farm.stderr).toBe(0);
    expect(farm.stderr).toMatch(/building hello on farm/);
    expect(paths(farm.stdout)).toEqual(paths(local.stdout));
    expect(paths(farm.stdout)).toHaveLength(1);

    // the app's node panel: the action digest, the worker and the timings of hello's build
    const host = createService({ home: farmHome });
    try {
      const hello = host.engine.db.listBuilds({ limit: 50 }).find((b) => b.name === "hello")!;
      const details = await host.service["derivation.get"]({ hash: hello.drvHash });
      expect(details.remote).toMatchObject({ cached: false, endpoint: cluster.endpoint });
      expect(details.remote!.actionDigest).toMatch(/^[0-9a-f]{64}\/\d+$/);
      expect(JSON.parse(details.remote!.worker!)).toMatchObject({ pool: "x86_64" });
      expect(details.remote!.executionMs).toBeGreaterThanOrEqual(0);
    } finally {
      host.close();
    }
    // the graph's builder badge knows a reapi backend (its kind colours it)
    const project = mkdtempSync(join(tmpdir(), "bramble-reapi-project-"));
    writeFileSync(join(project, "bramble.toml"), '[package]\nname = "badge"\nversion = "0.1.0"\n');
    writeFileSync(join(project, "default.bramble"), 'def default():\n    return derivation(name = "on-farm", builder = "/x", builder_backend = "farm")\n');
    const saved = process.env.BRAMBLE_CONFIG;
    process.env.BRAMBLE_CONFIG = env.BRAMBLE_CONFIG; // the farm is in this config
    const host2 = createService({ home: freshHome() });
    try {
      const g = await host2.service["graph.evaluate"]({ project, moduleArg: ".:default" });
      expect(g.nodes.find((n) => n.name === "on-farm")).toMatchObject({ badge: "farm", backend: "farm", backendKind: "reapi" });
    } finally {
      host2.close();
      process.env.BRAMBLE_CONFIG = saved;
    }

    const again = bramble(["build", "./examples/hello:default", "--builder", "farm", "--remote-cache", "farm"], { home: freshHome(), env, timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/cached \(remote\) hello from farm/);
    expect(again.stderr).toMatch(/cached \(remote\) greeting from farm/);
    expect(again.stderr).toMatch(/cached \(remote\) busybox-static-x86_64-linux from farm/);
    expect(again.stderr).toMatch(/: 0 built, 4 cached, 0 failed/);
    expect(paths(again.stdout)).toEqual(paths(local.stdout));
  }, 300_000);

  it("bramble store copy --to reapi:farm pushes a closure; another BRAMBLE_PATH copies it back from the farm", () => {
    const home = freshHome();
    const built = bramble(["build", "./examples/hello:default"], { home, env, timeoutMs: 120_000 });
    expect(built.code, built.stderr).toBe(0);
    const path = built.stdout
      .trim()
      .split("\n")
      .find((l) => l.startsWith("hello: "))!
      .slice(7);
    const push = bramble(["store", "copy", "--from", "local", "--to", "reapi:farm", path], { home, env });
    expect(push.code, push.stderr).toBe(0);
    // hello's runtime closure: greeting, busybox (its script's shell) and the busybox-static it links to
    expect(push.stdout).toMatch(/^4 paths copied, 4 derivation outputs recorded in the target$/m);
    expect(bramble(["store", "copy", "--from", "local", "--to", "reapi:farm", path], { home, env }).stdout).toMatch(
      /^0 paths copied, 4 derivation outputs recorded in the target$/m,
    );

    const other = freshHome();
    const pull = bramble(["store", "copy", "--from", "reapi:farm", "--to", "local", path.split("/").pop()!], { home: other, env });
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout).toMatch(/^4 paths copied$/m);
    const copied = pull.stdout
      .split("\n")
      .find((l) => l.startsWith("copied ") && l.endsWith(path.split("/").pop()!))!
      .slice(7);
    expect(copied.startsWith(other)).toBe(true);
    const run = bramble(["store", "verify"], { home: other, env });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const bad = bramble(["store", "copy", "--from", "local", "--to", "reapi:nope", path], { home, env });
    expect(bad.stderr).toMatch(/unknown store reapi:nope: no reapi backend nope \(reapi backends: farm\)/);
  }, 300_000);

  it("builds examples/cross for aarch64 on the farm: the compile on the x86_64 pool, the run step on the aarch64 pool", () => {
    const local = bramble(["build", "./examples/cross:all", "--target", "aarch64-linux"], { home: freshHome(), env, timeoutMs: 300_000 });
    expect(local.code, local.stderr).toBe(0);
    const farm = bramble(["build", "./examples/cross:all", "--target", "aarch64-linux", "--builder", "farm", "-v"], {
      home: freshHome(),
      env,
      timeoutMs: 300_000,
    });
    expect(farm.code, farm.stderr).toBe(0);
    expect(farm.stderr).toMatch(/building hello-c on farm/);
    expect(farm.stderr).toMatch(/building hello-c-run on farm/);
    // the run step's worker is the aarch64 pool, and the program saw an aarch64 machine
    expect(farm.stderr).toMatch(
      /hello-c-run> reapi: ran on \{[^}]*"pool":"aarch64"[^}]*\}: \d+ ms queued, \d+ ms fetching inputs, \d+ ms executing, \d+ ms uploading outputs/,
    );
    expect(farm.stderr).toMatch(/hello-c-run> .*\(uname -m: aarch64\)/);
    expect(paths(farm.stdout)).toEqual(paths(local.stdout));
  }, 600_000);
});
