// Dependencies by version, fetched as bramble fetches them: a package's name is where its
// repository lives (example.com/me/lib → a git repository, here served on loopback by git's own
// http-backend), the version is the tag v<version>, the fetched tree is pinned in bramble.lock
// under [dependencies], and the versions are chosen by minimal version selection (the highest
// any project in the build requires). Written from bramble's documented behaviour.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, cli, ensureCli, freshHome } from "../helpers/cli.js";
import { type GitServer, startGitServer } from "../helpers/git-server.js";
import { TEST_ALLOWED_PATHS } from "../helpers/user-config.js";

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@example.com",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@example.com",
  GIT_AUTHOR_DATE: "2026-01-01T00:00:00Z",
  GIT_COMMITTER_DATE: "2026-01-01T00:00:00Z",
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "init.defaultBranch=main", ...args], { cwd, env: GIT_ENV, encoding: "utf8" });
}

/** Write `files` into the work tree of package `name`, commit, tag v<version> and push to its bare repository under `served`. */
function publish(served: string, work: string, name: string, version: string, files: Record<string, string>, opts: { force?: boolean } = {}): void {
  const bare = join(served, `${name}.git`);
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, ".git"))) {
    mkdirSync(bare, { recursive: true });
    git(bare, "init", "--quiet", "--bare");
    git(dir, "init", "--quiet");
    git(dir, "remote", "add", "origin", bare);
  }
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  git(dir, "add", "-A");
  git(dir, "commit", "--quiet", "--allow-empty", "-m", `${name} ${version}`);
  git(dir, "tag", ...(opts.force ? ["-f"] : []), `v${version}`);
  git(dir, "push", "--quiet", ...(opts.force ? ["--force"] : []), "origin", "HEAD:refs/heads/main", `refs/tags/v${version}`);
}

/** The CLI as a user runs it, without blocking this process: the git server answers from it. */
function bramble(args: string[], opts: { home: string; cwd: string; env: Record<string, string> }): Promise<CliResult> {
  ensureCli();
  return new Promise((done) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: opts.cwd, env: { ...process.env, BRAMBLE_PATH: opts.home, NO_COLOR: "1", ...opts.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

const LIB = "example.com/me/lib";
const UTIL = "example.com/me/util";

describe("[dependencies] by version", () => {
  const served = mkdtempSync(join(tmpdir(), "bramble-git-served-"));
  const work = mkdtempSync(join(tmpdir(), "bramble-git-work-"));
  let server: GitServer;
  let config: string;

  beforeAll(async () => {
    server = await startGitServer(served);
    // Where packages are fetched from is the user's setting: example.com is the loopback git server.
    config = join(mkdtempSync(join(tmpdir(), "bramble-dep-config-")), "config.toml");
    // A fetcher reaches a service of this host only when the user named it: a package source is such a name (fetch-proxy.ts).
    writeFileSync(config, `[sandbox]\nallowed_paths = ${JSON.stringify(TEST_ALLOWED_PATHS)}\n\n[packages]\n"example.com" = "${server.url}/example.com"\n`);
    publish(served, work, UTIL, "1.0.0", {
      "bramble.toml": `[package]\nname = "${UTIL}"\nversion = "1.0.0"\n`,
      "default.bramble": `VERSION = "util 1.0.0"\n`,
    });
    publish(served, work, UTIL, "1.1.0", {
      "bramble.toml": `[package]\nname = "${UTIL}"\nversion = "1.1.0"\n`,
      "default.bramble": `VERSION = "util 1.1.0"\n`,
    });
    // lib 1.0.0 needs util 1.1.0, and loads it by its package path.
    publish(served, work, LIB, "1.0.0", {
      "bramble.toml": `[package]\nname = "${LIB}"\nversion = "1.0.0"\n\n[dependencies]\n"${UTIL}" = "1.1.0"\n`,
      "default.bramble": `load("${UTIL}")\nload("${LIB}/text", "words")\n\ndef greeting(who):\n    return derivation(name = "greeting", builder = "/bin/sh", args = ["-c", "echo " + words(who) + " > $out"], env = {"UTIL": util.VERSION})\n`,
      "text/default.bramble": `def words(who):\n    return "hello-" + who + "-from-lib-1.0.0"\n`,
      "tools/default.bramble": `load("${LIB}", "greeting")\n\ndef tool():\n    return greeting("tool")\n`,
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(served, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  function project(deps: string, body: string): string {
    const root = mkdtempSync(join(tmpdir(), "bramble-dep-project-"));
    writeFileSync(
      join(root, "bramble.toml"),
      `sandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n[package]\nname = "example.org/app"\nversion = "0.1.0"\n\n[dependencies]\n${deps}`,
    );
    writeFileSync(join(root, "default.bramble"), body);
    return root;
  }

  const APP = `load("${LIB}")\nload("${UTIL}")\n\ndef app():\n    return lib.greeting("app")\n\ndef which():\n    return derivation(name = "which", builder = "/bin/sh", args = ["-c", "echo " + util.VERSION.replace(" ", "-") + " > $out"])\n`;

  it("fetches each package at its tag, evaluates its loads, and pins the trees in bramble.lock", async () => {
    // The project asks for util 1.0.0, lib 1.0.0 needs util 1.1.0: the build gets util 1.1.0 (minimal version selection).
    const root = project(`"${LIB}" = "1.0.0"\n"${UTIL}" = "1.0.0"\n`, APP);
    const home = freshHome();
    const r = await bramble(["build", ".:app", ".:which"], { home, cwd: root, env: { BRAMBLE_CONFIG: config } });
    expect(r.stderr).toMatch(/built greeting/);
    expect(r.code).toBe(0);
    const out = /^greeting: (\S+)$/m.exec(r.stdout)![1]!;
    expect(readFileSync(out, "utf8")).toBe("hello-app-from-lib-1.0.0\n");
    const which = /^which: (\S+)$/m.exec(r.stdout)![1]!;
    expect(readFileSync(which, "utf8")).toBe("util-1.1.0\n");
    const lock = readFileSync(join(root, "bramble.lock"), "utf8");
    // Every version reached is pinned (util 1.0.0's requirements were read too), as go.sum does.
    expect(lock).toMatch(
      /^\[dependencies\]\n"example\.com\/me\/lib@1\.0\.0" = "sha256:[0-9a-z]{52}"\n"example\.com\/me\/util@1\.0\.0" = "sha256:[0-9a-z]{52}"\n"example\.com\/me\/util@1\.1\.0" = "sha256:[0-9a-z]{52}"\n$/,
    );

    // A module argument may name a module of the dependency by its package path.
    const t = await bramble(["build", `${LIB}/tools:tool`], { home, cwd: root, env: { BRAMBLE_CONFIG: config } });
    expect(t.code).toBe(0);
    expect(readFileSync(/^greeting: (\S+)$/m.exec(t.stdout)![1]!, "utf8")).toBe("hello-tool-from-lib-1.0.0\n");
    // --just-parse and --check evaluate through the service's local methods: they load the fetched packages too.
    const parse = await bramble(["build", "--just-parse", ".:app"], { home, cwd: root, env: { BRAMBLE_CONFIG: config } });
    // the project's module, lib's two and util's
    expect(parse.stderr).toBe("parsed 4 modules for .:app\n");
    expect(parse.code).toBe(0);
    const check = await bramble(["build", "--check", ".:app"], { home, cwd: root, env: { BRAMBLE_CONFIG: config } });
    expect(check.code, check.stderr).toBe(0);

    // The second evaluation pins the fetches from the lock: the pinned fetches were realised by the first ones, nothing is fetched again.
    const h = await bramble(["history", "--json", "-n", "100"], { home, cwd: root, env: { BRAMBLE_CONFIG: config } });
    const fetches = (JSON.parse(h.stdout) as { name: string; status: string }[]).filter((b) => /^(lib|util)-/.test(b.name)).map((b) => `${b.name} ${b.status}`);
    expect(fetches.sort()).toEqual(["lib-1.0.0 built", "util-1.0.0 built", "util-1.1.0 built"]);
  });

  it("finds a package nested in a repository (as bramble publishes every bramble.toml of one) at the tag <dir>/v<version>", async () => {
    // example.com/me/mono is a repository; its tools/ directory is the package example.com/me/mono/tools.
    publish(served, work, "example.com/me/mono", "0.0.0", {
      "bramble.toml": `[module]\nname = "example.com/me/mono"\nversion = "0.0.0"\n`,
      "tools/bramble.toml": `[module]\nname = "example.com/me/mono/tools"\nversion = "2.0.0"\n`,
      "tools/default.bramble": `def t():\n    return derivation(name = "t", builder = "/bin/sh", args = ["-c", "echo mono-tools-2.0.0 > $out"])\n`,
    });
    git(join(work, "example.com/me/mono"), "tag", "tools/v2.0.0");
    git(join(work, "example.com/me/mono"), "push", "--quiet", "origin", "refs/tags/tools/v2.0.0");
    const root = project(`"example.com/me/mono/tools" = "2.0.0"\n`, `load("example.com/me/mono/tools")\n\ndef f():\n    return tools.t()\n`);
    const r = await bramble(["build", ".:f"], { home: freshHome(), cwd: root, env: { BRAMBLE_CONFIG: config } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(/^t: (\S+)$/m.exec(r.stdout)![1]!, "utf8")).toBe("mono-tools-2.0.0\n");
    expect(readFileSync(join(root, "bramble.lock"), "utf8")).toMatch(/^"example\.com\/me\/mono\/tools@2\.0\.0" = "sha256:[0-9a-z]{52}"$/m);
  });

  it("fails when a tag's content changed since it was pinned, with both hashes", async () => {
    const root = project(
      `"${UTIL}" = "1.0.0"\n`,
      `load("${UTIL}")\n\ndef v():\n    return derivation(name = "v", builder = "/bin/sh", args = ["-c", "echo " + util.VERSION.replace(" ", "-") + " > $out"])\n`,
    );
    const first = await bramble(["build", ".:v"], { home: freshHome(), cwd: root, env: { BRAMBLE_CONFIG: config } });
    expect(first.code).toBe(0);
    const pinned = /"example\.com\/me\/util@1\.0\.0" = "(sha256:[0-9a-z]+)"/.exec(readFileSync(join(root, "bramble.lock"), "utf8"))![1]!;
    // Someone moves the tag v1.0.0 to other content; a fresh store must refuse it.
    publish(
      served,
      work,
      UTIL,
      "1.0.0",
      { "default.bramble": `VERSION = "util 1.0.0 (moved)"\n`, "bramble.toml": `[package]\nname = "${UTIL}"\nversion = "1.0.0"\n` },
      { force: true },
    );
    const again = await bramble(["build", ".:v"], { home: freshHome(), cwd: root, env: { BRAMBLE_CONFIG: config } });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`dependency "${UTIL}" version 1.0.0 (tag v1.0.0 of ${server.url}/${UTIL}.git)`);
    expect(again.stderr).toContain(pinned);
    expect(again.stderr).toMatch(/sha256:[0-9a-z]+[\s\S]*sha256:[0-9a-z]+/);
  });

  it("refuses a version that has no tag, a package whose bramble.toml names another package, and a malformed version", async () => {
    const missing = project(`"${LIB}" = "9.9.9"\n`, APP);
    const m = await bramble(["build", ".:app"], { home: freshHome(), cwd: missing, env: { BRAMBLE_CONFIG: config } });
    expect(m.code).not.toBe(0);
    // its own repository, then the enclosing one (where a nested package would be tagged lib/v9.9.9)
    expect(m.stderr).toContain(`dependency "${LIB}" version 9.9.9 was found nowhere:\n  tag v9.9.9 of ${server.url}/${LIB}.git: git `);
    expect(m.stderr).toContain(`\n  tag lib/v9.9.9 of ${server.url}/example.com/me.git: git clone failed (exit code 128)`);

    publish(served, work, "example.com/me/impostor", "1.0.0", { "bramble.toml": `[package]\nname = "${LIB}"\nversion = "1.0.0"\n` });
    const impostor = project(`"example.com/me/impostor" = "1.0.0"\n`, "def f():\n    pass\n");
    const i = await bramble(["build", ".:f"], { home: freshHome(), cwd: impostor, env: { BRAMBLE_CONFIG: config } });
    expect(i.code).not.toBe(0);
    expect(i.stderr).toContain(
      `dependency "example.com/me/impostor" version 1.0.0: the package at tag v1.0.0 of ${server.url}/example.com/me/impostor.git is named "${LIB}"`,
    );

    const bad = project(`"${LIB}" = "latest"\n`, APP);
    const b = await bramble(["build", ".:app"], { home: freshHome(), cwd: bad, env: { BRAMBLE_CONFIG: config } });
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain(`bramble.toml: dependencies."${LIB}" version "latest" is not a version MAJOR.MINOR.PATCH`);

    // A name is where the repository lives: no user@, no port, no "..", nothing a URL could be bent with.
    for (const name of ["me@example.com/lib", "127.0.0.1:8080/lib", "example.com/../lib", "lib"]) {
      const odd = project(`"${name}" = "1.0.0"\n`, "def f():\n    pass\n");
      const o = await bramble(["build", ".:f"], { home: freshHome(), cwd: odd, env: { BRAMBLE_CONFIG: config } });
      expect(o.code).not.toBe(0);
      expect(o.stderr).toContain(`bramble.toml: dependencies."${name}": a dependency by version is named by where its repository lives`);
    }
  });
});
