// Fixed-output built-ins: fetch_url over http and file URLs (archives unpacked safely) and
// fetch_git from a local repository; the output hash is checked, recorded when absent.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { crc32 } from "node:zlib";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { hostSystem } from "../../core/builders/backend.js";
import { derivationHash, type Derivation } from "../../core/derivation/derivation.js";
import { build, cleanupTemps, eventsOf, graph, ref, shDrv, tempDir, tempEngine } from "./helpers.js";

let server: Server;
let base = "";
let files = "";
let requests: string[] = [];

beforeAll(async () => {
  files = tempDir("bramble-files-");
  writeFileSync(join(files, "hello.txt"), "hello over http\n");
  mkdirSync(join(files, "pkg-1.0", "src"), { recursive: true });
  writeFileSync(join(files, "pkg-1.0", "src", "main.c"), "int main(){return 0;}\n");
  writeFileSync(join(files, "pkg-1.0", "README"), "readme\n");
  execFileSync("tar", ["-czf", join(files, "pkg-1.0.tar.gz"), "-C", files, "pkg-1.0"]);
  writeFileSync(join(files, "f"), "escape\n");
  execFileSync("tar", ["-czf", join(files, "evil.tar.gz"), "-P", "-C", files, "--transform", "s,^f,../../evil,", "f"], { stdio: "ignore" });
  server = createServer((req, res) => {
    requests.push(req.url ?? "");
    if (req.url === "/moved") {
      res.writeHead(302, { location: "/hello.txt" }).end();
      return;
    }
    const p = join(files, (req.url ?? "/").slice(1));
    if (!existsSync(p) || req.url === "/") {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200).end(readFileSync(p));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  // A fetcher reaches a service of this host only when it is a configured mirror (fetch-proxy.ts).
  process.env.BRAMBLE_MIRROR_FETCH_TEST = base;
});

afterAll(() => {
  delete process.env.BRAMBLE_MIRROR_FETCH_TEST;
  server.close();
  cleanupTemps();
});

afterEach(() => {
  requests = [];
});

function fetchUrl(name: string, url: string, outputHash?: string): Derivation {
  return {
    name,
    builder: "fetch_url",
    args: [],
    env: { url },
    outputs: ["out"],
    network: true,
    platform: hostSystem(),
    system: hostSystem(),
    ...(outputHash ? { outputHash } : {}),
  };
}

describe("fetch_url", () => {
  it("downloads over http, records the hash, and checks it next time", async () => {
    const engine = tempEngine();
    const got: string[] = [];
    const d = fetchUrl("hello", `${base}/moved`);
    const r = await build(engine, graph(d), [d], { onFixedOutput: (_h, _d, hash) => got.push(hash) });
    expect(r.result.status).toBe("built");
    const out = r.result.outputs.get(derivationHash(d))!.out!;
    expect(readFileSync(join(out, "moved"), "utf8")).toBe("hello over http\n");
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(/^sha256:[0-9a-z]{52}$/);
    expect(engine.db.outputsOf(derivationHash(d))[0]!.hash).toBe(got[0]);
    expect(eventsOf(r.events, "started")[0]!.backend).toBe("fetch_url");

    // The same content with its hash declared: a new derivation, same store path.
    const pinned = fetchUrl("hello", `${base}/moved`, got[0]);
    const r2 = await build(engine, graph(pinned), [pinned]);
    expect(r2.result.status).toBe("built");
    expect(r2.result.outputs.get(derivationHash(pinned))!.out).toBe(out);

    // A dependent can use it.
    const user = shDrv("user", `cat ${ref(pinned)}/moved > $out`);
    const r3 = await build(engine, graph(pinned, user), [user]);
    expect(readFileSync(r3.result.outputs.get(derivationHash(user))!.out!, "utf8")).toBe("hello over http\n");
    engine.close();
  });

  it("fails on a hash mismatch showing both hashes, and stores nothing", async () => {
    const engine = tempEngine();
    const wrong = `sha256:${"1".repeat(52)}`;
    const d = fetchUrl("hello", `${base}/hello.txt`, wrong);
    const before = readdirSync(engine.store.dir);
    const r = await build(engine, graph(d), [d]);
    expect(r.result.status).toBe("failed");
    const f = eventsOf(r.events, "failed")[0]!;
    expect(f.error).toContain(wrong);
    expect(f.error).toMatch(/got: +sha256:[0-9a-z]{52}/);
    expect(readdirSync(engine.store.dir)).toEqual(before);
    expect(readdirSync(engine.layout.tmpDir)).toEqual([]);
    engine.close();
  });

  it("unpacks archives (stripping the top directory) from http and file URLs alike", async () => {
    const engine = tempEngine();
    const overHttp = fetchUrl("pkg", `${base}/pkg-1.0.tar.gz`);
    const fromFile = fetchUrl("pkg", pathToFileURL(join(files, "pkg-1.0.tar.gz")).href);
    // A file:// URL may name a file of the project (here: the directory served over http).
    const r = await build(engine, graph(overHttp, fromFile), [overHttp, fromFile], { projectRoot: files });
    expect(r.result.status).toBe("built");
    const a = r.result.outputs.get(derivationHash(overHttp))!.out!;
    const b = r.result.outputs.get(derivationHash(fromFile))!.out!;
    expect(a).toBe(b);
    expect(readFileSync(join(a, "src", "main.c"), "utf8")).toContain("main");
    expect(readdirSync(a).sort()).toEqual(["README", "src"]);
    engine.close();
  });

  it("does not let an archive write outside its output", async () => {
    const engine = tempEngine();
    const d = fetchUrl("evil", `${base}/evil.tar.gz`);
    const r = await build(engine, graph(d), [d]);
    // Either refused outright or the entry dropped; never written outside.
    if (r.result.status === "built") {
      expect(readdirSync(r.result.outputs.get(derivationHash(d))!.out!)).not.toContain("evil");
    }
    for (const dir of [engine.home, engine.layout.varDir, engine.layout.tmpDir, engine.store.dir]) {
      expect(existsSync(join(dir, "evil"))).toBe(false);
    }
    expect(existsSync(join(engine.layout.tmpDir, "..", "evil"))).toBe(false);
    engine.close();
  });

  it("reports HTTP errors", async () => {
    const engine = tempEngine();
    const d = fetchUrl("missing", `${base}/nope`);
    const r = await build(engine, graph(d), [d]);
    expect(eventsOf(r.events, "failed")[0]!.error).toContain("HTTP 404");
    engine.close();
  });
});

describe("fetch_git", () => {
  it("checks out a ref of a local repository, without .git, by branch or commit", async () => {
    // A local repository must be inside the project (or [fetch] file_roots).
    const project = tempDir("bramble-proj-");
    const repo = join(project, "repo");
    mkdirSync(repo);
    const git = (...args: string[]) =>
      execFileSync("git", ["-C", repo, "-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { encoding: "utf8" }).trim();
    git("init", "-q", "-b", "main");
    writeFileSync(join(repo, "file.txt"), "v1\n");
    git("add", ".");
    git("commit", "-q", "-m", "one");
    const first = git("rev-parse", "HEAD");
    writeFileSync(join(repo, "file.txt"), "v2\n");
    git("commit", "-q", "-am", "two");

    const engine = tempEngine();
    const mk = (name: string, ref: string): Derivation => ({
      name,
      builder: "fetch_git",
      args: [],
      env: { url: repo, ref },
      outputs: ["out"],
      network: true,
      platform: hostSystem(),
      system: hostSystem(),
    });
    const head = mk("src-main", "main");
    const old = mk("src-first", first);
    const r = await build(engine, graph(head, old), [head, old], { projectRoot: project });
    expect(r.result.status).toBe("built");
    const h = r.result.outputs.get(derivationHash(head))!.out!;
    const o = r.result.outputs.get(derivationHash(old))!.out!;
    expect(readFileSync(join(h, "file.txt"), "utf8")).toBe("v2\n");
    expect(readFileSync(join(o, "file.txt"), "utf8")).toBe("v1\n");
    expect(existsSync(join(h, ".git"))).toBe(false);

    const hash = engine.db.outputsOf(derivationHash(old))[0]!.hash;
    const bad = { ...mk("src-first", first), outputHash: `sha256:${"2".repeat(52)}` };
    const r2 = await build(engine, graph(bad), [bad], { projectRoot: project });
    expect(eventsOf(r2.events, "failed")[0]!.error).toContain(hash);
    engine.close();
  });

  it("clones over http and git:// through the engine's proxy, from a configured mirror only", async () => {
    // A bare repository served two ways on loopback: as static files (git's dumb http protocol)
    // and by git daemon (git://). Neither is reachable until it is a configured mirror.
    const top = tempDir("bramble-remote-");
    const work = join(top, "work");
    mkdirSync(work);
    const git = (cwd: string, ...args: string[]) =>
      execFileSync("git", ["-C", cwd, "-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { encoding: "utf8" }).trim();
    git(work, "init", "-q", "-b", "main");
    writeFileSync(join(work, "file.txt"), "remote\n");
    git(work, "add", ".");
    git(work, "commit", "-q", "-m", "one");
    execFileSync("git", ["clone", "-q", "--bare", work, join(top, "repo.git")]);
    git(join(top, "repo.git"), "update-server-info");
    const hits: string[] = [];
    const web = createServer((req, res) => {
      hits.push(req.url ?? "");
      const p = join(top, new URL(req.url ?? "/", "http://x").pathname);
      if (!p.startsWith(`${top}/repo.git/`) || !existsSync(p) || statSync(p).isDirectory()) return void res.writeHead(404).end();
      res.writeHead(200).end(readFileSync(p));
    });
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", () => r()));
    const httpUrl = `http://127.0.0.1:${(web.address() as { port: number }).port}/repo.git`;
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
    const daemonPort = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const daemon = spawn("git", ["daemon", "--export-all", `--base-path=${top}`, "--listen=127.0.0.1", `--port=${daemonPort}`, "--reuseaddr", top], {
      stdio: "ignore",
    });
    const gitUrl = `git://127.0.0.1:${daemonPort}/repo.git`;
    try {
      for (let i = 0; i < 100 && spawnSync("git", ["ls-remote", gitUrl]).status !== 0; i++) await new Promise((r) => setTimeout(r, 50));
      const engine = tempEngine();
      const mk = (name: string, url: string): Derivation => ({
        name,
        builder: "fetch_git",
        args: [],
        env: { url, ref: "main" },
        outputs: ["out"],
        network: true,
        platform: hostSystem(),
        system: hostSystem(),
      });
      const overHttp = mk("over-http", httpUrl);
      const overGit = mk("over-git", gitUrl);
      const refused = await build(engine, graph(overHttp, overGit), [overHttp, overGit], { keepGoing: true });
      expect(refused.result.status).toBe("failed");
      const errors = eventsOf(refused.events, "failed").map((f) => f.error);
      expect(errors).toHaveLength(2);
      for (const e of errors) expect(e).toMatch(/^git clone failed \(exit code 128\): 127\.0\.0\.1:\d+ is this host's own address \(127\.0\.0\.1\)/);
      expect(hits).toEqual([]);

      process.env.BRAMBLE_MIRROR_GIT_HTTP = httpUrl;
      process.env.BRAMBLE_MIRROR_GIT_DAEMON = gitUrl.replace("git://", "http://");
      const r = await build(engine, graph(overHttp, overGit), [overHttp, overGit]);
      expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
      for (const d of [overHttp, overGit]) expect(readFileSync(join(r.result.outputs.get(derivationHash(d))!.out!, "file.txt"), "utf8")).toBe("remote\n");
      expect(hits).toContain("/repo.git/info/refs?service=git-upload-pack");
      engine.close();
    } finally {
      delete process.env.BRAMBLE_MIRROR_GIT_HTTP;
      delete process.env.BRAMBLE_MIRROR_GIT_DAEMON;
      daemon.kill();
      web.close();
    }
  });
});

describe("fetch_url unpacking every archive kind, in-process", () => {
  let dir = "";
  beforeAll(() => {
    // One tree (with a symlink) packed five ways; a Debian package; made with the host's
    // packers (scripts/setup-seeds.sh installs zip and zstd): the code under test uses none.
    dir = join(files, "kinds");
    mkdirSync(join(dir, "pkg-2.0", "bin"), { recursive: true });
    writeFileSync(join(dir, "pkg-2.0", "README"), "two\n");
    writeFileSync(join(dir, "pkg-2.0", "bin", "run"), "#!/bin/sh\necho run\n", { mode: 0o755 });
    symlinkSync("bin/run", join(dir, "pkg-2.0", "link"));
    const sh = (cmd: string) => execFileSync("sh", ["-c", cmd], { cwd: dir, stdio: "pipe" });
    sh("tar -cf pkg-2.0.tar pkg-2.0 && tar -czf pkg-2.0.tar.gz pkg-2.0 && tar -cJf pkg-2.0.tar.xz pkg-2.0");
    sh("tar -cf - pkg-2.0 | zstd -q -o pkg-2.0.tar.zst && zip -q -r -y pkg-2.0.zip pkg-2.0");
    for (const [name, body] of [
      ["tool", "tool"],
      ["other", "other"],
    ] as const) {
      const root = join(dir, `${name}-deb`);
      mkdirSync(join(root, "DEBIAN"), { recursive: true });
      mkdirSync(join(root, "usr", "bin"), { recursive: true });
      mkdirSync(join(root, "etc"), { recursive: true });
      writeFileSync(join(root, "DEBIAN", "control"), `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.com>\nDescription: t\n`);
      writeFileSync(join(root, "usr", "bin", name), `#!/bin/sh\necho ${body}\n`, { mode: 0o755 });
      symlinkSync(`/usr/bin/${name}`, join(root, "etc", `${name}-alt`));
      sh(`dpkg-deb --root-owner-group -Zxz -b ${name}-deb ${name}_1.0_all.deb >/dev/null`);
    }
  });

  afterEach(() => {
    delete process.env.BRAMBLE_MIRROR_TESTS;
  });

  it("gives one tree, one store path, for tar, tar.gz, tar.xz, tar.zst and zip (top directory stripped, symlink kept)", async () => {
    const engine = tempEngine();
    const kinds = ["tar", "tar.gz", "tar.xz", "tar.zst", "zip"].map((k) => fetchUrl("pkg", `${base}/kinds/pkg-2.0.${k}`));
    const r = await build(engine, graph(...kinds), kinds);
    expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
    const outs = kinds.map((d) => r.result.outputs.get(derivationHash(d))!.out!);
    expect(new Set(outs).size).toBe(1);
    const out = outs[0]!;
    expect(readdirSync(out).sort()).toEqual(["README", "bin", "link"]);
    expect(readlinkSync(join(out, "link"))).toBe("bin/run");
    expect(statSync(join(out, "bin", "run")).mode & 0o111).not.toBe(0);
    engine.close();
  });

  it("unpacks a .deb's data (not its control files), keeping an absolute symlink as it is", async () => {
    const engine = tempEngine();
    const d = fetchUrl("tool", `${base}/kinds/tool_1.0_all.deb`);
    const r = await build(engine, graph(d), [d]);
    expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
    const out = r.result.outputs.get(derivationHash(d))!.out!;
    expect(readdirSync(out).sort()).toEqual(["etc", "usr"]);
    expect(readFileSync(join(out, "usr", "bin", "tool"), "utf8")).toBe("#!/bin/sh\necho tool\n");
    expect(readlinkSync(join(out, "etc", "tool-alt"))).toBe("/usr/bin/tool");
    engine.close();
  });

  it("fetches mirror://<name>/ from the base the user configured, which is not in the derivation", async () => {
    const engine = tempEngine();
    process.env.BRAMBLE_MIRROR_TESTS = `${base}/kinds`;
    const d = fetchUrl("tool", "mirror://tests/tool_1.0_all.deb");
    const r = await build(engine, graph(d), [d]);
    expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
    expect(requests).toContain("/kinds/tool_1.0_all.deb");
    expect(JSON.stringify(d)).not.toContain("127.0.0.1");
    const logs = eventsOf(r.events, "log").map((e) => e.line);
    expect(logs).toContain(`fetching mirror://tests/tool_1.0_all.deb from ${base}/kinds/tool_1.0_all.deb`);
    engine.close();
  });

  it("says which setting is missing for a mirror nobody configured", async () => {
    const engine = tempEngine();
    const d = fetchUrl("x", "mirror://nowhere/x.deb");
    const r = await build(engine, graph(d), [d]);
    expect(eventsOf(r.events, "failed")[0]!.error).toMatch(
      /no mirror is configured for mirror:\/\/nowhere\/ \(set BRAMBLE_MIRROR_NOWHERE, or \[mirrors\] nowhere = /,
    );
    engine.close();
  });

  it("unpacks several .debs into one tree, one fixed output", async () => {
    const engine = tempEngine();
    const d: Derivation = { ...fetchUrl("both", ""), env: { urls: `${base}/kinds/tool_1.0_all.deb\n${base}/kinds/other_1.0_all.deb` } };
    const r = await build(engine, graph(d), [d]);
    expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
    const out = r.result.outputs.get(derivationHash(d))!.out!;
    expect(readdirSync(join(out, "usr", "bin")).sort()).toEqual(["other", "tool"]);
    engine.close();
  });
});

/** A zip of stored (uncompressed) entries, written by hand so a test can put anything in it. */
function zipOf(entries: { name: string; data: string; symlink?: boolean }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const data = Buffer.from(e.data);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by Unix: the external attributes hold a mode
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((e.symlink ? 0o120777 : 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

describe("fetch_url refuses a zip that reaches out of its tree", () => {
  for (const [what, entries, why] of [
    ["a ../ entry", [{ name: "../escaped", data: "x" }], /cannot unpack the zip archive: invalid relative path: \.\.\/escaped/],
    [
      "a file written through a symlink it made",
      [
        { name: "link", data: "/tmp", symlink: true },
        { name: "link/escaped", data: "x" },
      ],
      /an entry below link would be written through a symlink/,
    ],
  ] as const) {
    it(`${what}: the build fails and nothing is written outside`, async () => {
      const dir = tempDir("bramble-zip-");
      const zip = join(dir, "evil.zip");
      writeFileSync(zip, zipOf([...entries]));
      const engine = tempEngine();
      const d = fetchUrl("evil", pathToFileURL(zip).href);
      const r = await build(engine, graph(d), [d], { projectRoot: dir });
      expect(r.result.status).toBe("failed");
      expect(eventsOf(r.events, "failed")[0]!.error).toMatch(why);
      expect(existsSync(join(dir, "escaped"))).toBe(false);
      expect(existsSync("/tmp/escaped")).toBe(false);
      engine.close();
    });
  }
});
