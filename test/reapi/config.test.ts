// [backends.NAME] kind = "reapi" tables: what they become, and bad input named by its field.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { reapiOptions } from "../../core/builders/reapi/config.js";
import { actionOutputNames, defaultPlatformProperties, envProgram, retryDelayMs } from "../../core/builders/reapi/backend.js";
import { remoteFacts } from "../../core/builders/reapi/log-facts.js";
import { CANONICAL_STORE_DIR } from "../../core/store/layout.js";

const table = (t: Record<string, unknown>) => ({ name: "farm", kind: "reapi", ...t });

describe("reapi backend config", () => {
  it("reads endpoint, instance, TLS, headers, actions in flight, remote cache and platform properties", () => {
    const o = reapiOptions(
      table({
        endpoint: "grpcs://farm.example.org:443",
        instance_name: "main",
        tls: { ca: "/etc/ca.pem" },
        headers: { authorization: "Bearer x" },
        actions_in_flight: 16,
        remote_cache: true,
        retry_seconds: 120,
        platform_properties: { "aarch64-linux": { ISA: "aarch64", OSFamily: "linux", pool: "arm" } },
        systems: ["x86_64-linux"],
      }),
    );
    expect(o).toEqual({
      name: "farm",
      endpoint: "grpcs://farm.example.org:443",
      instanceName: "main",
      tls: { ca: "/etc/ca.pem" },
      headers: { authorization: "Bearer x" },
      actionsInFlight: 16,
      uploadLocalResults: true,
      retrySeconds: 120,
      platformProperties: {
        "aarch64-linux": { ISA: "aarch64", OSFamily: "linux", pool: "arm" },
        "x86_64-linux": { ISA: "x86-64", OSFamily: "linux" },
      },
    });
  });

  it("names the field that is wrong", () => {
    expect(() => reapiOptions(table({}))).toThrow('backend farm (kind reapi) needs endpoint = "grpc://host:port"');
    expect(() => reapiOptions(table({ endpoint: 5 }))).toThrow('backends.farm.endpoint must be a string ("grpc://host:port")');
    expect(() => reapiOptions(table({ endpoint: "x:1", platform_properties: { "x86_64-linux": { ISA: 1 } } }))).toThrow(
      'backends.farm.platform_properties."x86_64-linux".ISA must be a string',
    );
    expect(() => reapiOptions(table({ endpoint: "x:1", platform_properties: { amd64: {} } }))).toThrow(
      'backends.farm.platform_properties: "amd64" is not a system (<arch>-<os>)',
    );
    expect(() => reapiOptions(table({ endpoint: "x:1", tls: { cafile: "x" } }))).toThrow("backends.farm.tls.cafile: unknown (known: ca, cert, key)");
    expect(() => reapiOptions(table({ endpoint: "x:1", actions_in_flight: 0 }))).toThrow("backends.farm.actions_in_flight must be at least 1");
    expect(() => reapiOptions(table({ endpoint: "x:1", retry_seconds: -1 }))).toThrow("backends.farm.retry_seconds must be 0 or more");
    expect(() => reapiOptions(table({ endpoint: "x:1", retry_seconds: "1m" }))).toThrow("backends.farm.retry_seconds must be a number of seconds");
    expect(() => reapiOptions(table({ endpoint: "x:1", endpiont: "y" }))).toThrow(/backends\.farm: unknown setting endpiont/);
  });

  it("retries back off from 0.5 s, doubling, to at most 5 s", () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(retryDelayMs)).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it("default platform properties follow Bazel's RBE conventions", () => {
    expect(defaultPlatformProperties("x86_64-linux")).toEqual({ ISA: "x86-64", OSFamily: "linux" });
    expect(defaultPlatformProperties("aarch64-linux")).toEqual({ ISA: "aarch64", OSFamily: "linux" });
  });

  it("an Action's output names depend only on the derivation hash and the output", () => {
    const drv = { name: "hello", builder: "/x", args: [], env: {}, outputs: ["out", "doc"], network: false, platform: "x86_64-linux", system: "x86_64-linux" };
    const a = actionOutputNames(drv, "0".repeat(32));
    expect([...a.keys()]).toEqual(["out", "doc"]);
    expect(a.get("out")).toMatch(/^[0-9a-z]{32}-hello$/);
    expect(a.get("doc")).toMatch(/^[0-9a-z]{32}-hello-doc$/);
    expect(actionOutputNames(drv, "0".repeat(32))).toEqual(a);
    expect(actionOutputNames(drv, "1".repeat(32)).get("out")).not.toBe(a.get("out"));
  });

  it("/usr/bin/env of an input root: the closure's bin/env, else its busybox, else none", () => {
    const store = mkdtempSync(join(tmpdir(), "bramble-envprog-"));
    for (const f of ["a-busybox/bin/busybox", "b-coreutils/bin/env", "c-data/share/x"]) {
      mkdirSync(join(store, dirname(f)), { recursive: true });
      writeFileSync(join(store, f), "");
    }
    const at = (n: string) => join(store, n);
    expect(envProgram(["a-busybox", "b-coreutils", "c-data"], at)).toBe(`${CANONICAL_STORE_DIR}/b-coreutils/bin/env`);
    expect(envProgram(["c-data", "a-busybox"], at)).toBe(`${CANONICAL_STORE_DIR}/a-busybox/bin/busybox`);
    expect(envProgram(["c-data"], at)).toBeUndefined();
    rmSync(store, { recursive: true, force: true });
  });

  it("reads the remote facts a reapi build wrote at the head of its log", () => {
    const d = "a".repeat(64) + "/178";
    expect(
      remoteFacts([
        `reapi: action ${d} on grpc://127.0.0.1:9`,
        "reapi: uploaded 3 blobs",
        'reapi: ran on {"pool":"x86_64"}: 7 ms queued, 12 ms fetching inputs, 40 ms executing, 3 ms uploading outputs',
        "builder output",
      ]),
    ).toEqual({
      actionDigest: d,
      endpoint: "grpc://127.0.0.1:9",
      cached: false,
      worker: '{"pool":"x86_64"}',
      queuedMs: 7,
      inputsMs: 12,
      executionMs: 40,
      outputsMs: 3,
    });
    expect(remoteFacts([`reapi: cached (remote) on farm: action ${d}`])).toEqual({ actionDigest: d, cached: true });
    expect(remoteFacts(["nothing remote here"])).toBeUndefined();
  });
});
