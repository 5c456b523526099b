// Bad input: broken project files, huge and binary .bramble files, hostile files() patterns,
// a dangling output, archives that try to write outside (tar slip), a hash mismatch, an
// unknown system and an enormous log. Each is a clear error (or a bounded, said limit) and
// nothing is stored.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { spawn, type ChildProcess } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { LOG_CAP_BYTES } from "../../core/store/logs.js";
import { build, cleanupTemps, eventsOf, graph, shDrv, tempDir, tempEngine } from "../engine/helpers.js";
import { bramble, freshHome } from "../helpers/cli.js";
import { record } from "./record.js";

afterEach(cleanupTemps);

const TOML = '[package]\nname = "bad"\n\n[build]\nsandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n';

function project(files: Record<string, string | Buffer>): string {
  const dir = tempDir("bramble-bad-");
  for (const [name, text] of Object.entries({ "bramble.toml": TOML, ...files })) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Store entries that are outputs (not .drv files) under a BRAMBLE_PATH. */
function outputs(home: string): string[] {
  const store = existsSync(home) ? readdirSync(home).find((n) => n.startsWith("store_")) : undefined;
  return store ? readdirSync(join(home, store)).filter((n) => !n.endsWith(".drv")) : [];
}

function buildIn(dir: string, arg = ".:default", home = freshHome()) {
  const r = bramble(["build", arg], { home, cwd: dir, timeoutMs: 60_000 });
  return { ...r, text: r.stdout + r.stderr, home, stored: outputs(home) };
}

const SIMPLE = 'def default():\n    return derivation(name = "ok", builder = "/bin/sh", args = ["-c", "echo ok > $out"])\n';

/** A ustar archive from raw entries, so hostile names survive (tar libraries refuse to write them). */
function tarball(entries: { name: string; type?: "0" | "2" | "5"; body?: string; link?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? "");
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, "utf8");
    h.write("0000644\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    h.write(body.length.toString(8).padStart(11, "0") + "\0", 124);
    h.write("00000000000\0", 136);
    h.write("        ", 148);
    h.write(e.type ?? "0", 156);
    if (e.link) h.write(e.link, 157, 100, "utf8");
    h.write("ustar\u000000", 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

// The HTTP server runs in its own process: the CLI is run with spawnSync, which blocks this one.
let server: ChildProcess;
let base = "";
let servedDir = "";
const served = {
  set(path: string, body: Buffer) {
    writeFileSync(join(servedDir, path.replace(/^\//, "")), body);
  },
};
beforeAll(async () => {
  servedDir = mkdtempSync(join(tmpdir(), "bramble-served-"));
  const code = `const http=require("http"),fs=require("fs"),path=require("path");const s=http.createServer((q,r)=>{try{r.end(fs.readFileSync(path.join(process.argv[1],path.basename(q.url))))}catch{r.writeHead(404).end()}});s.listen(0,"127.0.0.1",()=>console.log(s.address().port))`;
  server = spawn(process.execPath, ["-e", code, servedDir], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((r) => server.stdout!.once("data", (d: Buffer) => r(String(d).trim())));
  base = `http://127.0.0.1:${port}`;
  // A fetcher reaches a service of this host only when it is a configured mirror (fetch-proxy.ts).
  process.env.BRAMBLE_MIRROR_BAD_INPUT = base;
});
afterAll(() => {
  delete process.env.BRAMBLE_MIRROR_BAD_INPUT;
  server.kill("SIGKILL");
  rmSync(servedDir, { recursive: true, force: true });
});

describe("bad input", () => {
  it("a malformed bramble.toml and bramble.lock are clear errors naming the file", () => {
    const cases = [
      { file: "bramble.toml", text: '[package\nname = "x"\n' },
      { file: "bramble.toml", text: '[package]\nname = "x"\n[build]\nsandbox_paths = "/bin"\n' },
      { file: "bramble.toml", text: '[package]\nname = "x"\n[build]\ntimeout = -5\n' },
      { file: "bramble.toml", text: Buffer.concat([Buffer.from('[package]\nname = "'), randomBytes(200), Buffer.from('"\n')]) },
      { file: "bramble.lock", text: "[urlhashes\nfoo = \n" },
      { file: "bramble.lock", text: '[urlhashes]\n"http://x" = 42\n' },
    ];
    const seen: string[] = [];
    let held = true;
    for (const c of cases) {
      const r = buildIn(project({ "default.bramble": SIMPLE, [c.file]: c.text }));
      const ok = r.code !== 0 && r.text.includes(c.file) && r.stored.length === 0 && !/at .*\.m?js:\d+/.test(r.text);
      held &&= ok;
      seen.push(
        r.text
          .trim()
          .split("\n")[0]!
          .replace(/^.*?(bramble\.(toml|lock))/, "$1")
          .slice(0, 90),
      );
      expect(r.code, r.text).not.toBe(0);
      expect(r.text).toContain(c.file);
      expect(r.text).not.toMatch(/at .*\.m?js:\d+/);
      expect(r.stored).toEqual([]);
    }
    record({
      area: "input",
      attack: "malformed bramble.toml (syntax, wrong types, binary) and bramble.lock",
      tries: cases.length,
      held,
      detail: `errors name the file, no stack traces, nothing stored: e.g. "${seen[0]}"`,
    });
  });

  it("a 10 MB .bramble file is evaluated in bounded time, and binary junk is a positioned error", () => {
    const lines = ["def default():", "    x = 0"];
    for (let i = 0; lines.join("\n").length < 10 * 1024 * 1024; i++) {
      for (let j = 0; j < 1000; j++) lines.push(`    x = x + ${i * 1000 + j}  # padding padding padding padding padding padding`);
    }
    lines.push('    return derivation(name = "big", builder = "/bin/sh", args = ["-c", "echo %d > $out" % x])');
    const big = project({ "default.bramble": lines.join("\n") + "\n" });
    const size = statSync(join(big, "default.bramble")).size;
    const start = Date.now();
    const r1 = buildIn(big);
    const took = Date.now() - start;

    const junk = project({ "default.bramble": randomBytes(4096) });
    const r2 = buildIn(junk);
    const nul = project({ "default.bramble": Buffer.concat([Buffer.from(SIMPLE), Buffer.from([0, 0, 0xff, 0xfe]), Buffer.from("\n")]) });
    const r3 = buildIn(nul);
    const held =
      r1.code === 0 && r2.code === 1 && /default\.bramble:\d+:\d+/.test(r2.text) && r2.stored.length === 0 && r3.code === 1 && r3.stored.length === 0;
    record({
      area: "input",
      attack: "a 10 MB .bramble file; random binary; NUL bytes after valid code",
      tries: 3,
      held,
      detail: `${(size / 1048576).toFixed(1)} MB evaluated and built in ${(took / 1000).toFixed(1)} s; junk: "${r2.text
        .split("\n")[0]!
        .replace(/^.*default\.bramble/, "default.bramble")
        .replace(/[^\x20-\x7e]/g, "?")
        .slice(0, 60)}", nothing stored`,
    });
    expect(r1.code, r1.text).toBe(0);
    expect(r2.code).toBe(1);
    expect(r2.text).toMatch(/default\.bramble:\d+:\d+/);
    expect(r2.stored).toEqual([]);
    expect(r3.code).toBe(1);
    expect(r3.stored).toEqual([]);
  });

  it("files() refuses '..' and absolute patterns, and does not follow symlink loops or links out", () => {
    const drv = (pattern: string) =>
      `def default():\n    return derivation(name = "src", builder = "/bin/sh", args = ["-c", "ls -la > $out"], sources = files(${pattern}))\n`;
    const tries: { pattern: string; code: number; text: string; stored: number }[] = [];
    for (const p of ['["../*"]', '["../../etc/passwd"]', '["/etc/passwd"]', '["sub/../../x"]']) {
      const r = buildIn(project({ "default.bramble": drv(p) }));
      tries.push({ pattern: p, code: r.code, text: r.text, stored: r.stored.length });
    }
    const cycle = project({ "default.bramble": drv('["**"]'), "sub/file": "x" });
    symlinkSync("b", join(cycle, "a"));
    symlinkSync("a", join(cycle, "b"));
    const rc = buildIn(cycle);
    const loop = project({ "default.bramble": drv('["**"]'), "sub/file": "x" });
    symlinkSync("..", join(loop, "sub/up"));
    symlinkSync("/", join(loop, "root"));
    const start = Date.now();
    const rl = buildIn(loop);
    const took = Date.now() - start;
    const refused =
      tries.every((t) => t.code === 1 && /must stay inside the project/.test(t.text) && t.stored === 0) &&
      rc.code === 1 &&
      /is a symlink loop/.test(rc.text) &&
      rc.stored.length === 0;
    let listing = "";
    if (rl.code === 0) {
      const store = readdirSync(rl.home).find((n) => n.startsWith("store_"))!;
      listing = readFileSync(join(rl.home, store, rl.stored[0]!), "utf8");
    }
    const held = refused && rl.code === 0 && took < 60_000 && !/etc|proc/.test(listing);
    record({
      area: "input",
      attack: "files() with '..', absolute paths; a symlink loop, a link to '..' and to '/'",
      tries: tries.length + 2,
      held,
      detail: `'..'/absolute: "${tries[0]!.text.split("\n")[0]!.replace(/^.*files: /, "files: ")}"; a loop: "${(rc.text.match(/source "[^"]+" is a symlink loop/) ?? ["?"])[0]}"; links to '..' and '/' are copied as symlinks, never followed (${(took / 1000).toFixed(1)} s)`,
    });
    for (const t of tries) {
      expect(t.code, t.text).toBe(1);
      expect(t.text).toMatch(/must stay inside the project/);
      expect(t.stored).toBe(0);
    }
    expect(rc.code, rc.text).toBe(1);
    expect(rc.text).toMatch(/derivation: source "(a|b)" is a symlink loop/);
    expect(rc.stored).toEqual([]);
    expect(rl.code, rl.text).toBe(0);
  });

  it("an output that is a dangling symlink is refused and nothing is stored", () => {
    const cases = ["ln -s /nonexistent/thing $out", "ln -s nothing-here $out", "ln -s $out $out.loop; ln -s $out.loop $out"];
    let held = true;
    const errs: string[] = [];
    for (const script of cases) {
      const r = buildIn(
        project({
          "default.bramble": `def default():\n    return derivation(name = "dangling", builder = "/bin/sh", args = ["-c", ${JSON.stringify(script)}])\n`,
        }),
      );
      held &&= r.code === 1 && /dangling/.test(r.text) && r.stored.length === 0;
      errs.push(r.text.split("\n").find((l) => /is a dangling/.test(l)) ?? r.text.trim().split("\n").pop()!);
      expect(r.code, r.text).toBe(1);
      expect(r.text).toMatch(/dangling/);
      expect(r.stored).toEqual([]);
    }
    record({
      area: "input",
      attack: "an output that is a dangling symlink (absolute, relative, a loop)",
      tries: cases.length,
      held,
      detail: `refused: "${errs[0]!.replace(/^.*?(output)/, "$1").slice(0, 100)}"; the build fails, nothing stored`,
    });
  });

  it("a fetched archive with ../ or absolute paths (tar slip) is refused and writes nothing outside", () => {
    const tag = randomBytes(6).toString("hex");
    const victims = [join(tmpdir(), `bramble-slip-abs-${tag}`), join(tmpdir(), `bramble-slip-rel-${tag}`)];
    const archives = {
      [`/dotdot-${tag}.tar.gz`]: tarball([
        { name: "pkg/ok.txt", body: "ok" },
        { name: `../../../../../../../../tmp/bramble-slip-rel-${tag}`, body: "evil" },
      ]),
      [`/abs-${tag}.tar.gz`]: tarball([
        { name: "pkg/ok.txt", body: "ok" },
        { name: victims[0]!, body: "evil" },
      ]),
      [`/link-${tag}.tar.gz`]: tarball([
        { name: "pkg/escape", type: "2", link: tmpdir() },
        { name: `pkg/escape/bramble-slip-rel-${tag}`, body: "evil" },
      ]),
      [`/linkdotdot-${tag}.tar.gz`]: tarball([
        { name: "pkg/up", type: "2", link: "../../../../../../.." },
        { name: `pkg/up/tmp/bramble-slip-rel-${tag}`, body: "evil" },
      ]),
    };
    const results: string[] = [];
    let held = true;
    for (const [path, body] of Object.entries(archives)) {
      served.set(path, body);
      const r = buildIn(project({ "default.bramble": `def default():\n    return fetch_url(${JSON.stringify(base + path)})\n` }));
      const escaped = victims.some((v) => existsSync(v));
      held &&= r.code === 1 && r.stored.length === 0 && !escaped;
      results.push(
        r.text
          .trim()
          .split("\n")
          .find((l) => /refus|outside|unsafe|absolute|\.\./i.test(l)) ?? r.text.trim().split("\n")[0]!,
      );
      expect(r.code, r.text).toBe(1);
      expect(r.stored).toEqual([]);
      expect(escaped).toBe(false);
    }
    record({
      area: "input",
      attack: "fetch_url archives with ../, absolute paths, or a symlink then a file through it (tar slip)",
      tries: results.length,
      held,
      detail: `all refused, nothing written outside: "${results[0]!.slice(0, 110)}"`,
    });
  });

  it("a fetch whose content changed is a hash mismatch showing both hashes, and nothing is stored", () => {
    const tag = randomBytes(6).toString("hex");
    served.set(`/file-${tag}.txt`, Buffer.from("version one\n"));
    const dir = project({ "default.bramble": `def default():\n    return fetch_url("${base}/file-${tag}.txt")\n` });
    const first = buildIn(dir);
    expect(first.code, first.text).toBe(0);
    const lock = readFileSync(join(dir, "bramble.lock"), "utf8");
    served.set(`/file-${tag}.txt`, Buffer.from("version two, tampered\n"));
    const second = buildIn(dir);
    const hashes = second.text.match(/sha256:[0-9a-z]{52}/g) ?? [];
    const held = second.code === 1 && new Set(hashes).size >= 2 && second.stored.length === 0 && readFileSync(join(dir, "bramble.lock"), "utf8") === lock;
    record({
      area: "input",
      attack: "a hash mismatch (served content changed after bramble.lock recorded it)",
      tries: 1,
      held,
      detail: `refused with both hashes shown, bramble.lock unchanged, nothing stored`,
    });
    expect(second.code, second.text).toBe(1);
    expect(new Set(hashes).size).toBeGreaterThanOrEqual(2);
    expect(second.stored).toEqual([]);
    expect(readFileSync(join(dir, "bramble.lock"), "utf8")).toBe(lock);
  });

  it("an unknown system is an error naming it and the known ones", () => {
    const r = buildIn(
      project({
        "default.bramble": 'def default():\n    return derivation(name = "u", builder = "/bin/sh", args = ["-c", "echo > $out"], system = "pdp11-unix")\n',
      }),
    );
    const r2 = bramble(["build", ".:default", "--target", "vax-vms"], { home: freshHome(), cwd: project({ "default.bramble": SIMPLE }) });
    const held =
      r.code === 1 &&
      /unknown system "pdp11-unix"/.test(r.text) &&
      /x86_64/.test(r.text) &&
      r.stored.length === 0 &&
      r2.code !== 0 &&
      /vax-vms/.test(r2.stdout + r2.stderr);
    record({
      area: "input",
      attack: "an unknown system (system= and --target)",
      tries: 2,
      held,
      detail: `"unknown system "pdp11-unix"", with the known architectures and systems; --target refused before evaluating`,
    });
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/unknown system "pdp11-unix"/);
    expect(r.stored).toEqual([]);
    expect(r2.code).not.toBe(0);
    expect(r2.stdout + r2.stderr).toMatch(/vax-vms/);
  });

  it("an enormous log is capped, and the log says where", async () => {
    const engine = tempEngine();
    try {
      // ~80 MB in 4 KiB lines, past the 64 MiB cap.
      const d = shDrv("loud", "line=$(head -c 4000 /dev/zero | tr '\\0' x); yes \"$line\" | head -n 20000; echo done > $out");
      const r = await build(engine, graph(d), [d]);
      const started = eventsOf(r.events, "started")[0]!;
      const logFile = join(engine.layout.logDir, `${started.buildId}.log`);
      const size = statSync(logFile).size;
      const tail = readFileSync(logFile, "utf8").slice(-200);
      const held = r.result.status === "built" && size <= LOG_CAP_BYTES + 200 && /log capped at \d+ bytes/.test(tail);
      record({
        area: "input",
        attack: "an enormous log (80 MB)",
        tries: 1,
        held,
        detail: `log file stopped at ${(size / 1048576).toFixed(1)} MiB with "${tail.trim().split("\n").pop()}"; the build still succeeded`,
      });
      expect(r.result.status).toBe("built");
      expect(size).toBeLessThanOrEqual(LOG_CAP_BYTES + 200);
      expect(tail).toMatch(/log capped at \d+ bytes/);
      void derivationHash;
    } finally {
      engine.close();
    }
  });
});
