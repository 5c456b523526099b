// Where backends come from: the defaults, the user's config file ($BRAMBLE_CONFIG or
// ~/.config/bramble/config.toml) and a project's [backends.<name>] tables; a bad entry
// becomes an unavailable backend that says why instead of breaking the engine.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readBackendConfigs } from "../../core/builders/backends-config.js";
import { caller, createService } from "../../core/api/service.js";
import { bramble } from "../helpers/cli.js";
import { backendInfos } from "../../core/build/engine.js";
import { planGraph } from "../../core/build/plan.js";
import { derivationHash } from "../../core/derivation/derivation.js";
import { cleanupTemps, graph, shDrv, tempDir, tempEngine } from "./helpers.js";

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

  it("reads [backends.<name>] from the user's config file; a bad one is unavailable with the reason", async () => {
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
    // Known without the network: the ssh host is being probed, the missing socket is not there.
    const box = engine.backends.find((b) => b.name === "box")!;
    expect(box.availability()).toEqual({ available: false, probing: true, reason: "probing 127.0.0.1:1" });
    const infos = Object.fromEntries((await backendInfos(engine.backends)).map((b) => [b.name, b]));
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
    const list = engine.backendsFor([
      { name: "arm", kind: "qemu", systems: ["aarch64-linux"] },
      { name: "docker", kind: "docker", socket: "/nonexistent/x.sock" },
      { name: "broken", kind: "ssh" },
    ]);
    expect(list.map((b) => b.name)).toEqual(["local", "qemu", "docker", "arm", "broken"]);
    expect(list.find((b) => b.name === "docker")!.availability().reason).toContain("/nonexistent/x.sock");
    expect(list.find((b) => b.name === "broken")!.info().reason).toContain('needs host = "..."');
    engine.close();
  });

  it("a project's backends belong to that project: another project's plans never see them, the same tables give the same backends", () => {
    process.env.BRAMBLE_CONFIG = join(tempDir(), "none.toml");
    const engine = tempEngine();
    const a = [{ name: "abox", kind: "ssh", host: "127.0.0.1", port: 1, connect_timeout: 1, systems: ["x86_64-linux"] }];
    const listA = engine.backendsFor(a);
    expect(listA.map((b) => b.name)).toEqual(["local", "qemu", "docker", "abox"]);
    // Project B (no tables, or others) after A: no abox anywhere.
    expect(engine.backends.map((b) => b.name)).toEqual(["local", "qemu", "docker"]);
    const listB = engine.backendsFor([{ name: "arm", kind: "qemu", systems: ["aarch64-linux"] }]);
    expect(listB.map((b) => b.name)).toEqual(["local", "qemu", "docker", "arm"]);
    const forced = shDrv("on-abox", "echo > $out", { builderBackend: "abox" });
    expect(planGraph(listB, graph(forced)).get(derivationHash(forced))!.error).toContain(`"abox", which does not exist`);
    expect(planGraph(engine.backendsFor([]), graph(forced)).get(derivationHash(forced))!.error).toContain(`"abox", which does not exist`);
    // A's plan uses it without waiting on the network: the unreachable host is still being probed.
    expect(planGraph(listA, graph(forced)).get(derivationHash(forced))).toEqual({ hash: derivationHash(forced), backend: "abox" });
    // A again (an equal table): the same backend objects, so what their probes learnt is kept.
    expect(engine.backendsFor(a.map((c) => ({ ...c })))[3]).toBe(listA[3]);
    engine.close();
  });

  it("through the service: after evaluating project A, project B's graph cannot use A's backend", async () => {
    process.env.BRAMBLE_CONFIG = join(tempDir(), "none.toml");
    const project = (name: string, toml: string) => {
      const dir = join(tempDir(), name);
      mkdirSync(dir);
      writeFileSync(join(dir, "bramble.toml"), `[package]\nname = "${name}"\n${toml}`);
      writeFileSync(
        join(dir, "default.bramble"),
        'def default():\n    return derivation(name = "on-abox", builder = "/bin/sh", args = ["-c", "echo > $out"], builder_backend = "abox")\n',
      );
      return dir;
    };
    const a = project("a", '[backends.abox]\nkind = "ssh"\nhost = "127.0.0.1"\nport = 1\nconnect_timeout = 1\nsystems = ["x86_64-linux"]\n');
    const b = project("b", "");
    const host = createService({ home: join(tempDir(), "home") });
    try {
      const call = caller(host.service);
      // Planned on abox without waiting for its probe (nothing answers on that port).
      const ga = await call("graph.evaluate", { project: a, moduleArg: ".:default" });
      expect(ga.nodes[0]!.backend).toBe("abox");
      const gb = await call("graph.evaluate", { project: b, moduleArg: ".:default" });
      expect(gb.nodes[0]!.backend).toBe(null);
      expect(gb.nodes[0]!.planError).toContain(`"abox", which does not exist`);
      expect((await call("backends.list", {})).map((x) => x.name)).toEqual(["local", "qemu", "docker"]);
      // A again: its backend is there (by now its probe may have said the host is down).
      const again = (await call("graph.evaluate", { project: a, moduleArg: ".:default" })).nodes[0]!;
      expect(again.backend === "abox" || /"abox", which is unavailable: cannot reach 127\.0\.0\.1:1/.test(again.planError ?? "")).toBe(true);
    } finally {
      host.close();
    }
  });

  it("bramble backends lists the project's backends too when run in it, and only the user's elsewhere", () => {
    const config = join(tempDir(), "none.toml");
    writeFileSync(config, "");
    const dir = join(tempDir(), "withbackends");
    mkdirSync(dir);
    writeFileSync(join(dir, "bramble.toml"), '[package]\nname = "wb"\n\n[backends.arm]\nkind = "qemu"\nsystems = ["aarch64-linux"]\n');
    const home = join(tempDir(), "home");
    const names = (cwd: string) =>
      (JSON.parse(bramble(["backends", "--json"], { home, cwd, env: { BRAMBLE_CONFIG: config } }).stdout) as { name: string }[]).map((b) => b.name);
    expect(names(dir)).toEqual(["local", "qemu", "docker", "arm"]);
    expect(names(tempDir())).toEqual(["local", "qemu", "docker"]);
  });
});
