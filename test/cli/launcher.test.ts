// bin/bramble, the package's command: a shell script that starts node on bin/bramble.mjs, without
// NODE_EXTRA_CA_CERTS for the verbs that make no TLS connection (--version, starlark, repl, help:
// node reads that bundle at start-up, most of `node -e 0`'s time here), and with the environment
// untouched for every other verb, so an https fetch still trusts the CA it names. Issue 17 point 4;
// how fast: `npm run bench -- startup`.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCli, freshHome, repo } from "../helpers/cli.js";

const launcher = join(repo, "bin/bramble");

function run(command: string, args: string[], env: Record<string, string | undefined>, cwd = repo): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { cwd, encoding: "utf8", timeout: 120_000, env: { ...process.env, BRAMBLE_PATH: freshHome(), NO_COLOR: "1", ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** As run, without blocking this process (which serves the https fetches). */
function runAsync(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { cwd, env: { ...process.env, BRAMBLE_PATH: freshHome(), NO_COLOR: "1", ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** Node's complaint about a NODE_EXTRA_CA_CERTS it could not read: seen only when node started with the variable. */
const IGNORING = /Warning: Ignoring extra certs from `\/nonexistent\/ca\.pem`/;

beforeAll(() => ensureCli(), 120_000);

describe("bin/bramble", () => {
  it("answers --version, -V, starlark -c and --help, node started without NODE_EXTRA_CA_CERTS", () => {
    const env = { NODE_EXTRA_CA_CERTS: "/nonexistent/ca.pem" };
    expect(run(launcher, ["--version"], env)).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
    expect(run(launcher, ["-V"], env)).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
    // (bin/bramble prints dist/version.txt, which the build writes: the full CLI's version)
    expect(readFileSync(join(repo, "dist/version.txt"), "utf8")).toBe(run(process.execPath, [join(repo, "dist/cli.mjs"), "--version"], {}).stdout);
    expect(run(launcher, ["starlark", "-c", 'print("hello", 1 + 2)'], env)).toEqual({ code: 0, stdout: "hello 3\n", stderr: "" });
    const fail = run(launcher, ["starlark", "-c", 'fail("no")'], env);
    expect(fail.code).toBe(1);
    expect(fail.stderr).not.toMatch(IGNORING);
    const help = run(launcher, ["--help"], env);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe("");
    expect(help.stdout).toMatch(/^Usage: bramble \[options\] \[command\]\n/);
    expect(help.stdout).toMatch(/\n {2}build \[options\] \[module-args\.\.\.\] +evaluate module arguments and build their derivations\n/);
    const buildHelp = run(launcher, ["build", "--help"], env);
    expect(buildHelp.code).toBe(0);
    expect(buildHelp.stderr).toBe("");
    expect(buildHelp.stdout).toMatch(/^Usage: bramble build \[options\] \[module-args\.\.\.\]\n/);
    // The local store's readers: gc on a new store.
    expect(run(launcher, ["gc", "--dry-run"], env)).toEqual({ code: 0, stdout: "would free 0 B (0 paths)\n", stderr: "" });
    // The same command through node directly: node reads the variable (and warns that it cannot).
    expect(run(process.execPath, [join(repo, "bin/bramble.mjs"), "--version"], env).stderr).toMatch(IGNORING);
  });

  it("runs starlark from dist/fast.cjs with V8's code cache, made at the first run; a cache V8 refuses is made again", () => {
    // A copy of bin/ and dist/fast.cjs of its own: a build (another test's) replaces dist/ and
    // removes its caches at any time.
    const copy = freshHome();
    mkdirSync(join(copy, "bin"));
    mkdirSync(join(copy, "dist"));
    for (const f of ["bin/bramble", "bin/bramble-fast.cjs", "dist/fast.cjs"]) copyFileSync(join(repo, f), join(copy, f));
    chmodSync(join(copy, "bin/bramble"), 0o755);
    const own = join(copy, "bin/bramble");
    const caches = () => readdirSync(join(copy, "dist")).filter((f) => /^fast\.cjs\.\d+-\d+\.v8cache$/.test(f));
    const prog = ["starlark", "-c", 'print(sorted({"b": 1, "a": 2}.items()))'];
    const want = { code: 0, stdout: '[("a", 2), ("b", 1)]\n', stderr: "" };
    expect(caches()).toEqual([]);
    expect(run(own, prog, {})).toEqual(want);
    expect(caches()).toHaveLength(1);
    const cache = join(copy, "dist", caches()[0]!);
    const made = readFileSync(cache);
    expect(made.length).toBeGreaterThan(10_000);
    expect(run(own, prog, {})).toEqual(want);
    writeFileSync(cache, Buffer.alloc(made.length, 7));
    expect(run(own, prog, {})).toEqual(want);
    expect(readFileSync(cache).equals(Buffer.alloc(made.length, 7))).toBe(false);
    // -recursion's worker thread loads the same bundle (core/starlark/cli.ts runDeep).
    const deep = run(own, ["starlark", "-recursion", "-c", "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nprint(f(100000))"], {});
    expect(deep).toEqual({ code: 0, stdout: "100000\n", stderr: "" });
  });

  it("keeps NODE_EXTRA_CA_CERTS for the other verbs", () => {
    const r = run(launcher, ["backends", "--json"], { NODE_EXTRA_CA_CERTS: "/nonexistent/ca.pem" });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(IGNORING);
  });

  it("runs through a relative symbolic link to it, as npm's node_modules/.bin/bramble is", () => {
    const dir = freshHome();
    mkdirSync(join(dir, "node_modules/.bin"), { recursive: true });
    symlinkSync(repo, join(dir, "node_modules/bramble-studio"));
    symlinkSync("../bramble-studio/bin/bramble", join(dir, "node_modules/.bin/bramble"));
    expect(run(join(dir, "node_modules/.bin/bramble"), ["--version"], {})).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
  });
});

describe("an https fetch through bin/bramble", () => {
  let dir: string;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    // A CA of our own and a certificate it signed for 127.0.0.1 (openssl: scripts/setup.sh installs it).
    dir = freshHome();
    const openssl = (args: string[]) => {
      const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
    };
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Bramble launcher test CA"]);
    openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    writeFileSync(join(dir, "ext"), "subjectAltName=IP:127.0.0.1\n");
    openssl([
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "ext",
    ]);
    server = createServer({ key: readFileSync(join(dir, "server.key")), cert: readFileSync(join(dir, "server.pem")) }, (req, res) => {
      if (req.url === "/hello.txt") res.end("hello over TLS\n");
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  function project(): string {
    const p = join(freshHome(), "tls");
    mkdirSync(p);
    writeFileSync(join(p, "bramble.toml"), '[package]\nname = "tls"\n');
    writeFileSync(join(p, "default.bramble"), 'def default():\n    return fetch_url("mirror://tlstest/hello.txt")\n');
    return p;
  }
  /** The server is a mirror of this host the user configured: fetchers reach no other local service. */
  const mirror = () => ({ BRAMBLE_MIRROR_TLSTEST: `https://127.0.0.1:${port}` });

  it("trusts the CA that NODE_EXTRA_CA_CERTS names", async () => {
    const r = await runAsync(launcher, ["build", ".:default"], { ...mirror(), NODE_EXTRA_CA_CERTS: join(dir, "ca.pem") }, project());
    expect(r.stderr).toMatch(/built: 1 built, 0 cached, 0 failed\n$/);
    expect(r.code).toBe(0);
    const out = /^hello\.txt: (\/\S+)$/m.exec(r.stdout)?.[1];
    expect(out).toBeDefined();
    expect(existsSync(join(out!, "hello.txt"))).toBe(true);
    expect(readFileSync(join(out!, "hello.txt"), "utf8")).toBe("hello over TLS\n");
  }, 120_000);

  it("without it, refuses the server's certificate", async () => {
    const r = await runAsync(launcher, ["build", ".:default"], { ...mirror(), NODE_EXTRA_CA_CERTS: undefined }, project());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/fetching https:\/\/127\.0\.0\.1:\d+\/hello\.txt: unable to verify the first certificate/);
  }, 120_000);
});
