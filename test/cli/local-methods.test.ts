// The service's local methods (core/api/local.ts): what the CLI's store verbs call. They are
// validated like the API's methods, and no transport reaches them: a WebSocket or IPC client
// asking for gc, store add or store copy is told the method does not exist.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ClientMessage } from "../../core/api/schema.js";
import { createService, dispatch, type ServiceHost } from "../../core/api/service.js";
import { localCaller, UsageProblem } from "../../core/api/local.js";
import { cleanupTemps, tempDir } from "../engine/helpers.js";

let host: ServiceHost | undefined;
afterEach(() => {
  host?.close();
  host = undefined;
  cleanupTemps();
});

describe("local methods", () => {
  it("are not on the API: dispatch (IPC, WebSocket) refuses them as unknown methods", async () => {
    host = createService({ home: join(tempDir(), "home") });
    await expect(dispatch(host.service, "store.gc", {})).rejects.toThrow('unknown method "store.gc"');
    await expect(dispatch(host.service, "store.add", { path: "/etc/passwd" })).rejects.toThrow('unknown method "store.add"');
    await expect(dispatch(host.service, "store.copy", { from: "local", to: "path:/tmp/x", paths: ["a"] })).rejects.toThrow('unknown method "store.copy"');
    expect(ClientMessage.safeParse({ id: 1, method: "store.gc", params: {} }).success).toBe(false);
  });

  it("validate their params with zod: a bad one is a usage problem naming the field", async () => {
    host = createService({ home: join(tempDir(), "home") });
    const call = localCaller(host);
    const bad = call("log.chunk", { buildId: 0, fromLine: 0 });
    await expect(bad).rejects.toBeInstanceOf(UsageProblem);
    await expect(bad).rejects.toThrow("invalid log.chunk request: buildId:");
    await expect(call("store.gc", { store: "" })).rejects.toThrow("invalid store.gc request: store:");
  });

  it("answer from the service's store: its directory, and an empty gc", async () => {
    const home = join(tempDir(), "home");
    host = createService({ home });
    const call = localCaller(host);
    // the store directory: <home>/store, padded with underscores to a fixed length (core/store/layout.ts)
    const [dir, ...more] = await call("store.paths", {});
    expect(more).toEqual([]);
    expect(dir).toMatch(new RegExp(`^${home}/store_+$`));
    expect(await call("store.gc", { dryRun: true })).toEqual({ dryRun: true, deleted: [], bytes: 0 });
    await expect(call("store.gc", { store: "nosuch" })).rejects.toBeInstanceOf(UsageProblem);
  });
});
