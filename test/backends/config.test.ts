// Where backends come from: the defaults, the user's config file ($BRAMBLE_CONFIG or
// ~/.config/bramble/config.toml) and a project's [backends.<name>] tables; a bad entry
// becomes an unavailable backend that says why instead of breaking the engine.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readBackendConfigs, useProjectBackends } from "../../core/builders/backends-config.js";
import { cleanupTemps, tempDir, tempEngine } from "./helpers.js";

afterEach(() => {
  delete process.env.BRAMBLE_CONFIG;
  cleanupTemps();
});

describe("backend configuration", () => {
  it("every engine has local first, then qemu and docker", () => {
    process.env.BRAMBLE_CONFIG = join(tempDir(), "none.toml");
    const engine = tempEngine();
    expect(engine.backends.map((b) => `${b.name}:${b.kind}`)).toEqual(["local:local", "qemu:qemu", "docker:docker"]);
    engine.close();
  });

  it("reads [backends.<name>] from the user's config file; a bad one is unavailable with the reason", () => {
    const file = join(tempDir(), "config.toml");
    writeFileSync(
      file,
      [
        `[backends.box]`,
        `kind = "ssh"`,
        `host = "127.0.0.1"`,
        `port = 1`,
        `connect_timeout = 1`,
        `store = "/var/lib/bramble-box"`,
        `systems = ["x86_64-linux"]`,
        `[backends.docker]`,
        `kind = "docker"`,
        `socket = "/nonexistent/docker.sock"`,
        `image = "localhost/other:1"`,
        `[backends.vm]`,
        `kind = "vmware"`,
        "",
      ].join("\n"),
    );
    process.env.BRAMBLE_CONFIG = file;
    expect(readBackendConfigs().map((c) => c.name)).toEqual(["box", "docker", "vm"]);
    const engine = tempEngine();
    const infos = Object.fromEntries(engine.backends.map((b) => [b.name, b.info()]));
    expect(infos.box).toMatchObject({ kind: "ssh", platforms: ["x86_64-linux"], available: false });
    expect(infos.box!.reason).toMatch(/cannot reach 127\.0\.0\.1:1/);
    expect(infos.docker).toMatchObject({ kind: "docker", available: false });
    expect(infos.docker!.reason).toContain("/nonexistent/docker.sock");
    expect(infos.vm).toMatchObject({ available: false, reason: expect.stringContaining('unknown kind "vmware"') });
    engine.close();
  });

  it("a project's backends are added after the others, replacing ones of the same name", () => {
    process.env.BRAMBLE_CONFIG = join(tempDir(), "none.toml");
    const engine = tempEngine();
    useProjectBackends(engine, [
      { name: "arm", kind: "qemu", systems: ["aarch64-linux"] },
      { name: "docker", kind: "docker", socket: "/nonexistent/x.sock" },
      { name: "broken", kind: "ssh" },
    ]);
    expect(engine.backends.map((b) => b.name)).toEqual(["local", "qemu", "docker", "arm", "broken"]);
    expect(engine.backends.find((b) => b.name === "docker")!.availability().reason).toContain("/nonexistent/x.sock");
    expect(engine.backends.find((b) => b.name === "broken")!.info().reason).toContain('needs host = "..."');
    engine.close();
  });
});
