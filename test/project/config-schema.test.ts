// The config files are checked by zod schemas (core/config/schema.ts): every error names the
// file and the key, a TOML syntax error its line and column too.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readBackendConfigs, makeBackend } from "../../core/builders/backends-config.js";
import { readUserSandboxConfig } from "../../core/builders/host-access.js";
import { ConfigError, parseConfig, ProjectToml, UserConfigToml } from "../../core/config/schema.js";
import { readLock } from "../../core/project/lock.js";
import { readProject } from "../../core/project/project.js";
import { bramble, freshHome } from "../helpers/cli.js";

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), "bramble-config-test-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d, name, ".."), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}

describe("bramble.toml", () => {
  it("takes bramble's [module] table as [package] (bramble's own repository writes it so)", () => {
    const root = dir({ "bramble.toml": '[module]\nname = "github.com/me/proj"\nversion = "0.0.1"\nread_only_paths = ["./"]\nhidden_paths = ["./lib"]\n' });
    const p = readProject(root);
    expect([p.name, p.version]).toEqual(["github.com/me/proj", "0.0.1"]);
  });

  it("names the file and the key of each kind of mistake", () => {
    const cases: [string, string][] = [
      ["[package]\nname = 5\n", "package.name must be a string"],
      ["[build]\ntimeout = 3\n", "package is missing"],
      ['[package]\nname = "p"\n[build]\ntimeout = -1\n', "build.timeout must be a positive number of seconds"],
      ['[package]\nname = "p"\n[build]\ntimeout = "soon"\n', "build.timeout must be a positive number of seconds"],
      ['sandbox_paths = ["/ok", "rel"]\n[package]\nname = "p"\n', "sandbox_paths must be a list of absolute paths"],
      ['[package]\nname = "p"\n[dependencies]\nlib = 3\n', "dependencies.lib must be a version string or a table"],
      ['[package]\nname = "p"\n[backends]\nbox = 1\n', "backends.box must be a table"],
      ['[package]\nname = "p"\n[backends.box]\nkind = 7\n', "backends.box.kind must be a string"],
      ['package = "x"\n', "package must be a table"],
      ['[package]\nname = "p"\n[module]\nname = "p"\n', "module and [package] are the same table: give one of them"],
    ];
    for (const [toml, message] of cases) {
      const root = dir({ "bramble.toml": toml });
      expect(() => readProject(root), toml).toThrow(`${join(root, "bramble.toml")}: ${message}`);
    }
  });

  it("reports a TOML syntax error at its line and column", () => {
    const root = dir({ "bramble.toml": '[package]\nname = "p"\nversion = = 1\n' });
    expect(() => readProject(root)).toThrow(new RegExp(`^${join(root, "bramble.toml")}:3:\\d+: `));
  });

  it("reads a good file as before", () => {
    const root = dir({
      "bramble.toml": '[package]\nname = "p"\nversion = "1.2.0"\n[build]\ntimeout = 30\nsandbox_paths = ["/usr"]\n[backends.arm]\nkind = "qemu"\n',
    });
    const p = readProject(root);
    expect([p.name, p.version, p.timeout, p.sandboxPaths, p.backends]).toEqual(["p", "1.2.0", 30, ["/usr"], [{ kind: "qemu", name: "arm" }]]);
  });
});

describe("bramble.lock", () => {
  it("names the entry that is not a string", () => {
    const root = dir({ "bramble.lock": '[urlhashes]\n"https://x/a.tar" = 5\n' });
    expect(() => readLock(root)).toThrow(`${join(root, "bramble.lock")}: urlhashes.https://x/a.tar must be a hash string`);
  });
});

describe("the user's config", () => {
  it("names the file and key for backends, sandbox, fetch, mirrors and evaluation", () => {
    const cases: [string, string][] = [
      ["[backends.box]\nkind = 1\n", "backends.box.kind must be a string"],
      ['[sandbox]\nallowed_paths = "/usr"\n', "sandbox.allowed_paths must be a list of absolute paths"],
      ['[fetch]\nfile_roots = ["srv"]\n', "fetch.file_roots must be a list of absolute paths"],
      ["[mirrors]\ndebian = 1\n", "mirrors.debian must be a URL"],
      ["[evaluation]\ntimeout = 0\n", "evaluation.timeout must be a positive number of seconds"],
      ["[evaluation]\nmax_steps = 2.5\n", "evaluation.max_steps must be a positive whole number"],
    ];
    for (const [toml, message] of cases) {
      const file = join(dir({ "config.toml": toml }), "config.toml");
      const err = (() => {
        try {
          parseConfig(UserConfigToml, toml, file);
        } catch (e) {
          return e as ConfigError;
        }
      })();
      expect(err?.message, toml).toBe(`${file}: ${message}`);
    }
    const bad = join(dir({ "config.toml": '[sandbox]\nallowed_paths = ["usr"]\n' }), "config.toml");
    expect(() => readBackendConfigs(bad)).toThrow(`${bad}: sandbox.allowed_paths must be a list of absolute paths`);
    expect(() => readUserSandboxConfig(bad)).toThrow(`${bad}: sandbox.allowed_paths must be a list of absolute paths`);
  });

  it("keeps every section the other readers use", () => {
    const toml =
      '[sandbox]\nallowed_paths = ["/usr"]\n[fetch]\nfile_roots = ["/srv"]\n[mirrors]\ndebian = "http://127.0.0.1:1/debian"\n[evaluation]\ntimeout = 5\nmax_steps = 1000\n[backends.b]\nkind = "ssh"\nhost = "h"\n';
    expect(parseConfig(UserConfigToml, toml, "c.toml")).toEqual({
      sandbox: { allowed_paths: ["/usr"] },
      fetch: { file_roots: ["/srv"] },
      mirrors: { debian: "http://127.0.0.1:1/debian" },
      evaluation: { timeout: 5, max_steps: 1000 },
      backends: { b: { kind: "ssh", host: "h" } },
    });
    expect(parseConfig(ProjectToml, '[package]\nname = "p"\n', "bramble.toml").package?.name).toBe("p");
  });

  it("refuses a docker volume that is a host path or has a mode, as a clear error", () => {
    for (const volume of ["/etc", "../x", "store:rw", "a b", ""]) {
      expect(() => makeBackend({ name: "d", kind: "docker", volume }, { store: undefined as never }), volume).toThrow(
        `backends.d.volume must be a Docker volume name (letters, digits, _ . -; not a path), not ${JSON.stringify(volume)}`,
      );
    }
  });

  it("shows a bad docker volume in bramble backends as an unavailable backend with the reason", () => {
    const config = join(dir({ "config.toml": '[backends.box]\nkind = "docker"\nvolume = "/etc"\n' }), "config.toml");
    const r = bramble(["backends", "--json"], { home: freshHome(), env: { BRAMBLE_CONFIG: config } });
    expect(r.code, r.stderr).toBe(0);
    const box = (JSON.parse(r.stdout) as { name: string; available: boolean; reason?: string }[]).find((b) => b.name === "box");
    expect(box).toMatchObject({
      available: false,
      reason: expect.stringContaining('backends.box.volume must be a Docker volume name (letters, digits, _ . -; not a path), not "/etc"'),
    });
  });
});
