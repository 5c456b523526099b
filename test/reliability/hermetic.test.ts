// Issue 12's attacks on hermeticity, each of which once got through: nothing of the host may
// get into a build (links resolved on the host, files fetched from anywhere, host paths a
// project picked, git options), and nothing may get out of one (a file descriptor passed to
// another build, a writer that outlives its build, setuid files in the store or in a kept
// build directory, a store path that changes after it is registered). Each must fail.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { derivationHash, type Derivation } from "../../core/derivation/derivation.js";
import { hostSystem } from "../../core/builders/backend.js";
import { runFetchSandbox, toolBinds } from "../../core/builders/fetch-sandbox.js";
import { build, cleanupTemps, eventsOf, graph, ref, shDrv, tempDir } from "../engine/helpers.js";
import { bramble, freshHome } from "../helpers/cli.js";
import { enginesClosedAfterAll } from "../helpers/backend-fixtures.js";
import { outsideHost } from "../helpers/outside-host.js";
import { lines, TRY } from "./probes.js";
import { record } from "./record.js";

afterEach(cleanupTemps);

const engine = enginesClosedAfterAll();

function outOf(r: Awaited<ReturnType<typeof build>>, d: Derivation): string {
  expect(r.result.status, JSON.stringify(eventsOf(r.events, "failed"))).toBe("built");
  return r.result.outputs.get(derivationHash(d))!.out!;
}

function fetchDrv(name: string, builder: "fetch_url" | "fetch_git", env: Record<string, string>): Derivation {
  return { name, builder, args: [], env, outputs: ["out"], network: true, platform: hostSystem(), system: hostSystem() };
}

/** A user config of a test's own: what it allows and nothing else. */
function userConfig(text: string): string {
  const dir = tempDir("bramble-cfg-");
  writeFileSync(join(dir, "config.toml"), text);
  return join(dir, "config.toml");
}

async function withEnvAsync<T>(vars: Record<string, string | undefined>, f: () => Promise<T>): Promise<T> {
  const prev = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  try {
    return await f();
  } finally {
    for (const [k, v] of Object.entries(prev))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

function withEnv<T>(vars: Record<string, string | undefined>, f: () => T): T {
  const prev = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  try {
    return f();
  } finally {
    for (const [k, v] of Object.entries(prev))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

describe("nothing of the host gets in", () => {
  it("an output that is a symlink to / is, in a dependent build, a link inside the sandbox: never the host's root", async () => {
    const results: string[] = [];
    let held = true;
    for (const view of ["1", "0"]) {
      const prev = process.env.BRAMBLE_STORE_VIEW;
      if (view === "0") process.env.BRAMBLE_STORE_VIEW = "0";
      try {
        const e = engine();
        const link = shDrv("root-link", "ln -s / $out");
        const dep = shDrv(
          "dependent",
          [
            TRY,
            `try 'ls ${ref(link)}/root' root-dir`,
            `try 'cat ${ref(link)}/etc/shadow' shadow`,
            `try 'cat ${ref(link)}/etc/passwd' passwd`,
            `try 'ls ${ref(link)}/run' run`,
            `try 'ls ${ref(link)}/home' home`,
            `readlink ${ref(link)} > $out/target`,
          ].join("\n"),
        );
        const r = await build(e, graph(link, dep), [dep]);
        const out = outOf(r, dep);
        const report = lines(readFileSync(join(out, "report"), "utf8"));
        const target = readFileSync(join(out, "target"), "utf8").trim();
        const ok = Object.values(report).every((v) => v === "denied") && target === "/";
        held &&= ok;
        results.push(`${view === "1" ? "store view" : "one bind per input"}: ${Object.keys(report).length} reads denied, the input a link to "${target}"`);
        expect(report).toEqual({ "root-dir": "denied", shadow: "denied", passwd: "denied", run: "denied", home: "denied" });
        expect(target).toBe("/");
      } finally {
        if (prev === undefined) delete process.env.BRAMBLE_STORE_VIEW;
        else process.env.BRAMBLE_STORE_VIEW = prev;
      }
    }
    record({
      area: "hermetic",
      attack: "an output that is a symlink to /, used as an input: /root, /etc/shadow, /etc/passwd, /run, /home through it",
      tries: 10,
      held,
      detail: results.join("; "),
    });
  });

  it("a source named through a symlinked directory of the project is refused, never read from outside", () => {
    const home = freshHome();
    const outside = tempDir("bramble-outside-");
    const secret = `secret-${randomBytes(8).toString("hex")}`;
    writeFileSync(join(outside, "secret.txt"), secret + "\n");
    const proj = tempDir("bramble-proj-");
    writeFileSync(join(proj, "bramble.toml"), '[package]\nname = "through"\n\n[build]\nsandbox_paths = ["/bin", "/usr", "/lib", "/lib64"]\n');
    symlinkSync(outside, join(proj, "dir-link"));
    mkdirSync(join(proj, "real"));
    symlinkSync(outside, join(proj, "real", "nested-link"));
    const attempts = ["dir-link/secret.txt", "real/nested-link/secret.txt"];
    const results: string[] = [];
    let held = true;
    for (const [i, src] of attempts.entries()) {
      writeFileSync(
        join(proj, "default.bramble"),
        `def default():\n    return derivation(name = "through${i}", builder = "/bin/sh", args = ["-c", "cat ${src} > $out"], sources = ["${src}"])\n`,
      );
      const r = bramble(["build", `${proj}:default`], { home, cwd: proj });
      const storeDir = readdirSync(home).find((n) => n.startsWith("store_"));
      const stored = storeDir ? readdirSync(join(home, storeDir)).filter((n) => n.includes("through")) : [];
      const text = r.stdout + r.stderr;
      const ok = r.code === 1 && !text.includes(secret) && stored.length === 0 && /sources are never read through a link/.test(text);
      held &&= ok;
      results.push(`${src}: ${ok ? "refused" : `exit ${r.code}`}`);
      expect(text).not.toContain(secret);
      expect(r.code).toBe(1);
      expect(text).toMatch(/is under (dir-link|real\/nested-link), which is a symlink \(to .*\): sources are never read through a link/);
      expect(stored).toEqual([]);
    }
    record({
      area: "hermetic",
      attack: "a source named through a symlinked directory of the project (dir-link/secret.txt, real/nested-link/secret.txt) pointing outside",
      tries: attempts.length,
      held,
      detail: `${results.join("; ")}: the content hash and the copy read sources only through the project's real directories`,
    });
  });

  it("fetch_url of file:///etc/shadow, or of a project link to it, is refused and stores nothing", async () => {
    const e = engine();
    const project = tempDir("bramble-proj-");
    symlinkSync("/etc/shadow", join(project, "innocent.txt"));
    symlinkSync("/etc", join(project, "etc-dir"));
    const urls = [
      "file:///etc/shadow",
      `file://${join(project, "innocent.txt")}`,
      `file://${join(project, "etc-dir", "shadow")}`,
      `file://${project}/../../etc/shadow`,
    ];
    const errors: string[] = [];
    for (const [i, url] of urls.entries()) {
      const d = fetchDrv(`steal-${i}`, "fetch_url", { url });
      const r = await build(e, graph(d), [d], { projectRoot: project });
      errors.push(eventsOf(r.events, "failed")[0]?.error ?? "built");
      expect(r.result.status).toBe("failed");
    }
    const stored = readdirSync(e.store.dir).filter((n) => n.includes("steal"));
    const held = errors.every((m) => /outside the project/.test(m)) && stored.length === 0;
    record({
      area: "hermetic",
      attack: 'fetch_url("file:///etc/shadow"), through a link in the project, a linked directory and ../..',
      tries: urls.length,
      held,
      detail: `all refused ("${errors[0]!.slice(0, 90)}…"); nothing stored`,
    });
    for (const m of errors) expect(m).toMatch(/outside the project/);
    expect(stored).toEqual([]);
  });

  it("a fetcher's sandbox holds the network and its own program, nothing of the host's files", async () => {
    const dir = tempDir("bramble-fetchbox-");
    const secret = join(tmpdir(), `bramble-secret-${randomBytes(4).toString("hex")}`);
    writeFileSync(secret, "secret\n");
    const probe = `const fs = require("fs"); const r = {};
for (const [k, p] of Object.entries({ shadow: "/etc/shadow", passwd: "/etc/passwd", resolv: "/etc/resolv.conf", root: "/root", home: ${JSON.stringify(process.env.HOME ?? "/root")}, tmpfile: ${JSON.stringify(secret)}, repo: ${JSON.stringify(process.cwd())}, usrbin: "/usr/bin/ls", binsh: "/bin/sh" })) {
  try { fs.statSync(p); fs.accessSync(p, fs.constants.R_OK); r[k] = "ok"; } catch { r[k] = "denied"; }
}
fs.writeFileSync("/out/report", JSON.stringify(r));`;
    writeFileSync(join(dir, "probe.cjs"), probe);
    const res = await runFetchSandbox({
      out: dir,
      binds: toolBinds([process.execPath]),
      env: {},
      command: [process.execPath, "/out/probe.cjs"],
      log: () => {},
      signal: new AbortController().signal,
    });
    expect(res.exitCode).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, "report"), "utf8")) as Record<string, string>;
    const held = Object.values(report).every((v) => v === "denied");
    record({
      area: "hermetic",
      attack: "a fetcher reading /etc/shadow, /etc/passwd, /etc/resolv.conf, /root, $HOME, /tmp, the project, /usr/bin, /bin/sh",
      tries: Object.keys(report).length,
      held,
      detail: "the fetch sandbox (node or git, their libraries, CA certificates, /out, the proxy's socket) shows none of them",
    });
    expect(report).toEqual({
      shadow: "denied",
      passwd: "denied",
      resolv: "denied",
      root: "denied",
      home: "denied",
      tmpfile: "denied",
      repo: "denied",
      usrbin: "denied",
      binsh: "denied",
    });
  });

  it("a fetch_git ref or url that looks like an option is refused before git runs", async () => {
    const e = engine();
    const project = tempDir("bramble-proj-");
    const repo = join(project, "repo");
    mkdirSync(repo);
    const git = (...a: string[]) => spawnSync("git", ["-C", repo, "-c", "user.email=t@example.com", "-c", "user.name=t", ...a], { encoding: "utf8" });
    git("init", "-q", "-b", "main");
    writeFileSync(join(repo, "f"), "x\n");
    git("add", ".");
    git("commit", "-q", "-m", "one");
    const marker = join(tmpdir(), `bramble-pwned-${randomBytes(4).toString("hex")}`);
    const attempts = [
      { url: repo, ref: `--upload-pack=touch ${marker}` },
      { url: repo, ref: `--output=${marker}` },
      { url: `--upload-pack=touch ${marker}`, ref: "main" },
      { url: `ext::sh -c touch% ${marker}`, ref: "main" },
    ];
    const errors: string[] = [];
    for (const [i, a] of attempts.entries()) {
      const d = fetchDrv(`opt-${i}`, "fetch_git", a);
      const r = await build(e, graph(d), [d], { projectRoot: project });
      errors.push(eventsOf(r.events, "failed")[0]?.error ?? "built");
      expect(r.result.status).toBe("failed");
    }
    const held = !existsSync(marker) && errors.every((m) => /may not start with '-'|must be https/.test(m));
    record({
      area: "hermetic",
      attack: "fetch_git with --upload-pack=/--output= as ref or url, and an ext:: url",
      tries: attempts.length,
      held,
      detail: `refused before git ran (${errors.map((m) => m.replace(/^.*?: /, "").slice(0, 40)).join("; ")}); the marker file was never made`,
    });
    expect(existsSync(marker)).toBe(false);
    for (const m of errors) expect(m).toMatch(/may not start with '-'|must be https/);
  });

  it("a project's sandbox_paths are refused without the user's consent; --pure refuses a consented one", () => {
    const proj = tempDir("bramble-proj-");
    writeFileSync(
      join(proj, "bramble.toml"),
      '[package]\nname = "greedy"\n\n[build]\nsandbox_paths = ["/root", "/etc", "/run", "/bin", "/usr", "/lib", "/lib64"]\n',
    );
    writeFileSync(
      join(proj, "default.bramble"),
      'def default():\n    return derivation(name = "greedy", builder = "/bin/sh", args = ["-c", "ls /root > $out; cat /etc/shadow >> $out"])\n',
    );
    const home = freshHome();
    const none = userConfig("");
    const refused = withEnv({ BRAMBLE_CONFIG: none }, () => bramble(["build", `${proj}:default`], { home, cwd: proj }));
    const onlyUsr = userConfig('[sandbox]\nallowed_paths = ["/usr", "/bin", "/lib", "/lib64"]\n');
    const partly = withEnv({ BRAMBLE_CONFIG: onlyUsr }, () => bramble(["build", `${proj}:default`], { home, cwd: proj }));
    // Allowed by an approval for this project root: built, shown impure, and --pure refuses it.
    const approving = userConfig("");
    const allow = withEnv({ BRAMBLE_CONFIG: approving }, () => bramble(["allow-paths", proj], { home, cwd: proj }));
    const graphOut = withEnv({ BRAMBLE_CONFIG: approving }, () => bramble(["graph", `${proj}:default`, "--json"], { home, cwd: proj }));
    const pure = withEnv({ BRAMBLE_CONFIG: approving }, () => bramble(["build", "--pure", `${proj}:default`], { home, cwd: proj }));
    const storeDir = readdirSync(home).find((n) => n.startsWith("store_"));
    const built = storeDir ? readdirSync(join(home, storeDir)).filter((n) => n.endsWith("-greedy")) : [];
    const node = (JSON.parse(graphOut.stdout) as { nodes: { hostPaths?: string[] }[] }).nodes[0]!;
    const held = refused.code === 1 && partly.code === 1 && pure.code === 1 && built.length === 0 && allow.code === 0;
    record({
      area: "hermetic",
      attack: "a project's bramble.toml putting /root, /etc and /run into its sandboxes",
      tries: 3,
      held,
      detail: `refused with no consent ("${refused.stderr.trim().split("\n").pop()!.slice(0, 80)}…") and with /usr only; once approved the derivation is impure (the graph lists its host paths) and build --pure refuses it`,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/bramble\.toml: sandbox_paths "\/root", "\/etc", "\/run", "\/bin", "\/usr", "\/lib", "\/lib64" are not allowed by you/);
    expect(partly.code).toBe(1);
    expect(partly.stderr).toMatch(/sandbox_paths "\/root", "\/etc", "\/run" are not allowed by you/);
    expect(allow.code).toBe(0);
    expect(node.hostPaths).toEqual(["/bin", "/etc", "/lib", "/lib64", "/root", "/run", "/usr"]);
    expect(pure.code).toBe(1);
    expect(pure.stderr).toMatch(/--pure refuses impure derivations: greedy/);
    expect(built).toEqual([]);
  });
});

describe("toolchains come from the store", () => {
  it("the examples name no host path: every builder is a built-in fetch or a store path, no derivation impure", () => {
    const home = freshHome();
    // Built with the tests' own user config (which allows host paths for other fixtures): the
    // examples ask for none, so none may appear.
    const targets = ["./examples/hello:default", "./examples/cross:all", "./examples/go:all_systems"];
    const found: string[] = [];
    let nodes = 0;
    for (const t of targets) {
      const r = bramble(["graph", t, "--json"], { home });
      expect(r.code, r.stderr).toBe(0);
      const g = JSON.parse(r.stdout) as { nodes: { name: string; builder: string; hostPaths?: string[] }[] };
      nodes += g.nodes.length;
      for (const n of g.nodes) {
        if (!/^(fetch_url|fetch_git|\{\{ [0-9a-z]{32}:[a-z]+ \}\}\/\S+)$/.test(n.builder)) found.push(`${t} ${n.name}: builder ${n.builder}`);
        if (n.hostPaths?.length) found.push(`${t} ${n.name}: host paths ${n.hostPaths.join(", ")}`);
      }
    }
    record({
      area: "hermetic",
      attack: "the examples (hello, cross, go) running the host's /bin/sh, /usr or compiler",
      tries: nodes,
      held: found.length === 0,
      detail: `${nodes} derivations of examples/hello, cross and go: every builder a fetch or a seed library's store path, none with host paths${found.length ? `; found ${found.slice(0, 3).join("; ")}` : ""}`,
    });
    expect(found).toEqual([]);
  });

  it("an aarch64-linux step runs an aarch64 shell from the store under qemu, never the host's x86_64 /bin/sh", () => {
    const home = freshHome();
    const r = bramble(["build", "./test/reliability/fixtures/aarch64:probe"], { home, timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = /^aarch64-probe: (\/\S+)$/m.exec(r.stdout)?.[1];
    expect(out, r.stdout).toBeDefined();
    const uname = readFileSync(join(out!, "uname"), "utf8").trim();
    const host = lines(readFileSync(join(out!, "host"), "utf8"));
    const held = uname === "aarch64" && Object.values(host).every((v) => v === "absent");
    record({
      area: "hermetic",
      attack: 'a "platform aarch64-linux" step running the host\'s x86_64 shell and /usr under qemu',
      tries: 1,
      held,
      detail: `uname -m inside says "${uname}"; ${Object.entries(host)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}: the shell is the seed library's aarch64 busybox`,
    });
    expect(uname).toBe("aarch64");
    expect(host).toEqual({ "/usr": "absent", "/lib": "absent", "/lib64": "absent", "/bin/sh": "absent", "/etc/passwd": "absent" });
  });

  it("a host toolchain the user allowed is part of the derivation's hash: upgrading it makes a new derivation", () => {
    // A stand-in for the host's gcc: a directory the project asks for and the user allowed.
    const tools = tempDir("bramble-host-cc-");
    writeFileSync(join(tools, "cc"), "#!/bin/sh\necho gcc 12\n", { mode: 0o755 });
    const proj = tempDir("bramble-proj-");
    writeFileSync(join(proj, "bramble.toml"), `[package]\nname = "hostcc"\n\n[build]\nsandbox_paths = [${JSON.stringify(tools)}]\n`);
    writeFileSync(join(proj, "default.bramble"), `def default():\n    return derivation(name = "uses-cc", builder = "${tools}/cc", args = [])\n`);
    const home = freshHome();
    const cfg = userConfig(`[sandbox]\nallowed_paths = [${JSON.stringify(tools)}]\n`);
    // Each evaluation with a TMPDIR of its own: host path identities are remembered for 30 s per user (docs/sandbox.md).
    const hashOf = () => {
      const r = withEnv({ BRAMBLE_CONFIG: cfg, TMPDIR: tempDir("bramble-tmp-") }, () => bramble(["graph", `${proj}:default`, "--json"], { home, cwd: proj }));
      expect(r.code, r.stderr).toBe(0);
      const n = (JSON.parse(r.stdout) as { nodes: { hash: string; hostPaths?: string[] }[] }).nodes[0]!;
      expect(n.hostPaths).toEqual([tools]);
      return n.hash;
    };
    const before = hashOf();
    const again = hashOf();
    // An upgrade as a package manager makes it: the new file renamed into place.
    writeFileSync(join(tools, "cc.new"), "#!/bin/sh\necho gcc 13\n", { mode: 0o755 });
    renameSync(join(tools, "cc.new"), join(tools, "cc"));
    const after = hashOf();
    const held = before === again && after !== before;
    record({
      area: "hermetic",
      attack: "a host compiler (an allowed sandbox path) upgraded under an unchanged derivation",
      tries: 1,
      held,
      detail: `the derivation is impure and its hash names the path and an identity of what it holds: ${before.slice(0, 8)} before, the same again, ${after.slice(0, 8)} after the upgrade`,
    });
    expect(again).toBe(before);
    expect(after).not.toBe(before);
  });

  it("a multi-output fixed-output derivation with a wrong hash for its second output fails and stores nothing", () => {
    const home = freshHome();
    const r = bramble(["build", "./test/seeds/fixtures/multi:wrong_second"], { home, timeoutMs: 120_000 });
    const storeDir = readdirSync(home).find((n) => n.startsWith("store_"));
    const stored = storeDir ? readdirSync(join(home, storeDir)).filter((n) => /-two(-doc)?$/.test(n)) : [];
    const held = r.code === 1 && r.stderr.includes("hash mismatch in fixed-output derivation two-doc") && stored.length === 0;
    record({
      area: "hermetic",
      attack: "a multi-output fixed-output derivation whose second output's pinned hash is wrong",
      tries: 1,
      held,
      detail: `failed naming the output and both hashes ("${/hash mismatch[^\n]*/.exec(r.stderr)?.[0] ?? r.stderr.trim().split("\n").pop()}"); neither output stored`,
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("hash mismatch in fixed-output derivation two-doc");
    expect(r.stderr).toMatch(/specified: sha256:1{52}/);
    expect(stored).toEqual([]);
  });
});

describe("nothing gets out", () => {
  it("two networked builds cannot meet over an abstract unix socket, nor reach the host's", async () => {
    const e = engine();
    const tag = randomBytes(4).toString("hex");
    let hostHits = 0;
    const hostSock = createServer((s) => {
      hostHits++;
      s.end();
    });
    await new Promise<void>((r) => hostSock.listen(`\0bramble-host-${tag}`, () => r()));
    try {
      const listener = shDrv(
        "fd-giver",
        `exec python3 - <<'EOF'
import socket, os, array
out = os.environ["out"]; os.mkdir(out)
fd = os.open(out + "/f", os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b"original\\n")
s = socket.socket(socket.AF_UNIX); s.bind("\\0bramble-fdpass-${tag}"); s.listen(1); s.settimeout(4)
try:
    c, _ = s.accept(); c.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]); sent = "yes"
except Exception:
    sent = "no"
open(out + "/sent", "w").write(sent)
EOF`,
        { network: true },
      );
      const taker = shDrv(
        "fd-taker",
        `exec python3 - <<'EOF'
import socket, os, array, time
out = os.environ["out"]; os.mkdir(out)
got = None
for i in range(40):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect("\\0bramble-fdpass-${tag}")
        msg, anc, flags, addr = s.recvmsg(1, socket.CMSG_LEN(4)); got = array.array("i", anc[0][2][:4])[0]; break
    except Exception:
        time.sleep(0.1)
host = "denied"
try:
    h = socket.socket(socket.AF_UNIX); h.connect("\\0bramble-host-${tag}"); host = "ok"
except Exception:
    pass
open(out + "/report", "w").write(("peer: ok" if got is not None else "peer: denied") + "\\nhost: " + host + "\\n")
if got is not None and os.fork() == 0:
    os.setsid(); time.sleep(3); os.write(got, b"poisoned\\n"); os._exit(0)
EOF`,
        { network: true },
      );
      const r = await build(e, graph(listener, taker), [listener, taker], { jobs: 2 });
      const giver = outOf(r, listener);
      const report = lines(readFileSync(join(outOf(r, taker), "report"), "utf8"));
      await new Promise((res) => setTimeout(res, 3500));
      const content = readFileSync(join(giver, "f"), "utf8");
      const held = report.peer === "denied" && report.host === "denied" && hostHits === 0 && content === "original\n";
      record({
        area: "hermetic",
        attack:
          "two fixed-output builds passing a file descriptor over an abstract unix socket to write a stored output later; one reaching the host's abstract socket",
        tries: 2,
        held,
        detail: `each networked build has a network namespace of its own (slirp4netns): the peer and the host's socket were unreachable, the stored file still reads "${content.trim()}"`,
      });
      expect(report).toEqual({ peer: "denied", host: "denied" });
      expect(hostHits).toBe(0);
      expect(content).toBe("original\n");
      expect(readFileSync(join(giver, "sent"), "utf8")).toBe("no");
    } finally {
      hostSock.close();
    }
  });

  it("a fetcher cannot reach an abstract unix socket of the host or of another fetch, nor a loopback port but through the proxy", async () => {
    const tag = randomBytes(4).toString("hex");
    let hostHits = 0;
    const hostSock = createServer((c) => {
      hostHits++;
      c.end();
    });
    await new Promise<void>((r) => hostSock.listen(`\0bramble-host-fetch-${tag}`, () => r()));
    let tcpHits = 0;
    const tcp = createServer((c) => {
      tcpHits++;
      c.end();
    });
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", () => r()));
    const port = (tcp.address() as { port: number }).port;
    // Two fetchers at once (what a compromised download could do): one listens on an abstract
    // socket, the other looks for it and for the host's, connects to the host's loopback port
    // directly, and asks the proxy for it.
    const listener = `const net = require("net"), fs = require("fs"); let got = "no";
const s = net.createServer((c) => { got = "yes"; c.end(); }).listen("\\0bramble-fetch-peer-${tag}");
setTimeout(() => { fs.writeFileSync("/out/accepted", got); process.exit(0); }, 4000);`;
    const prober = `const net = require("net"), fs = require("fs"); const r = {};
const attempt = (opts) => new Promise((ok) => { const c = net.connect(opts); c.on("connect", () => { c.destroy(); ok("ok"); }); c.on("error", () => ok("denied")); });
const proxied = () => new Promise((ok) => { const c = net.connect("/bramble/proxy.sock"); let t = "";
  c.on("data", (d) => { t += d; if (t.includes("\\r\\n")) { c.destroy(); ok(t.startsWith("HTTP/1.1 200") ? "ok" : "denied"); } });
  c.on("error", () => ok("denied")); c.write("CONNECT 127.0.0.1:${port} HTTP/1.1\\r\\n\\r\\n"); });
(async () => {
  for (let i = 0; i < 30 && r.peer !== "ok"; i++) { r.peer = await attempt({ path: "\\0bramble-fetch-peer-${tag}" }); await new Promise((w) => setTimeout(w, 100)); }
  r.host = await attempt({ path: "\\0bramble-host-fetch-${tag}" });
  r.loopback = await attempt({ host: "127.0.0.1", port: ${port} });
  r.proxied = await proxied();
  fs.writeFileSync("/out/report", Object.entries(r).map(([k, v]) => k + ": " + v).join("\\n"));
})();`;
    const dirs = [tempDir("bramble-fetch-a-"), tempDir("bramble-fetch-b-")];
    writeFileSync(join(dirs[0]!, "listener.cjs"), listener);
    writeFileSync(join(dirs[1]!, "prober.cjs"), prober);
    const logs: string[] = [];
    const run = (dir: string, script: string) =>
      runFetchSandbox({
        out: dir,
        binds: toolBinds([process.execPath]),
        env: {},
        command: [process.execPath, `/out/${script}`],
        log: (l) => logs.push(l),
        signal: new AbortController().signal,
      });
    try {
      const [a, b] = await Promise.all([run(dirs[0]!, "listener.cjs"), run(dirs[1]!, "prober.cjs")]);
      expect(a.exitCode, logs.join("\n")).toBe(0);
      expect(b.exitCode, logs.join("\n")).toBe(0);
      const report = lines(readFileSync(join(dirs[1]!, "report"), "utf8"));
      const accepted = readFileSync(join(dirs[0]!, "accepted"), "utf8");
      const held = Object.values(report).every((v) => v === "denied") && accepted === "no" && hostHits === 0 && tcpHits === 0;
      record({
        area: "hermetic",
        attack: "a fetcher connecting to another fetch's abstract unix socket, the host's, and a host loopback port (directly and through the proxy)",
        tries: Object.keys(report).length,
        held,
        detail: `each fetch sandbox has a network namespace of its own (lo only), its one way out the engine's proxy, which refused: ${b.refusals[0]?.slice(0, 60)}…`,
      });
      expect(report).toEqual({ peer: "denied", host: "denied", loopback: "denied", proxied: "denied" });
      expect(accepted).toBe("no");
      expect(hostHits).toBe(0);
      expect(tcpHits).toBe(0);
      expect(b.refusals).toEqual([expect.stringMatching(new RegExp(`^127\\.0\\.0\\.1:${port} is this host's own address`))]);
    } finally {
      hostSock.close();
      tcp.close();
    }
  });

  it("a fetch_url or fetch_git reaches no service of the host but the configured mirror, not even by a redirect", async () => {
    const e = engine();
    let secretHits = 0;
    // A service on every interface of this host: what a project's URL must not reach.
    const secret = createHttpServer((_req, res) => {
      secretHits++;
      res.writeHead(200).end("secret\n");
    });
    await new Promise<void>((r) => secret.listen(0, "0.0.0.0", () => r()));
    const port = (secret.address() as { port: number }).port;
    const mirror = createHttpServer((req, res) => {
      if (req.url === "/redirect") return void res.writeHead(302, { location: `http://127.0.0.1:${port}/secret` }).end();
      res.writeHead(200).end("from the mirror\n");
    });
    await new Promise<void>((r) => mirror.listen(0, "127.0.0.1", () => r()));
    const mirrorUrl = `http://127.0.0.1:${(mirror.address() as { port: number }).port}`;
    const lan = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
    const urls = [
      `http://127.0.0.1:${port}/secret`,
      `http://localhost:${port}/secret`,
      `http://127.0.0.2:${port}/secret`,
      `http://0.0.0.0:${port}/secret`,
      `http://[::ffff:127.0.0.1]:${port}/secret`,
      `http://[::1]:${port}/secret`,
      ...(lan ? [`http://${lan}:${port}/secret`] : []),
      `${mirrorUrl}/redirect`,
    ];
    try {
      const errors = await withEnvAsync({ BRAMBLE_MIRROR_HERMETIC: mirrorUrl }, async () => {
        const got: string[] = [];
        for (const [i, url] of urls.entries()) {
          const d = fetchDrv(`reach-${i}`, "fetch_url", { url });
          const r = await build(e, graph(d), [d]);
          got.push(eventsOf(r.events, "failed")[0]?.error ?? "built");
        }
        const g = fetchDrv("reach-git", "fetch_git", { url: `http://127.0.0.1:${port}/repo.git`, ref: "main" });
        const r = await build(e, graph(g), [g]);
        got.push(eventsOf(r.events, "failed")[0]?.error ?? "built");
        // The configured mirror itself is reachable.
        const ok = fetchDrv("reach-mirror", "fetch_url", { url: `${mirrorUrl}/file.txt` });
        const okBuild = await build(e, graph(ok), [ok]);
        got.push(readFileSync(join(outOf(okBuild, ok), "file.txt"), "utf8"));
        return got;
      });
      const allowed = errors.pop();
      const stored = readdirSync(e.store.dir).filter((n) => /reach-(\d|git)/.test(n));
      const held = secretHits === 0 && stored.length === 0 && errors.every((m) => /is this host's own address/.test(m)) && allowed === "from the mirror\n";
      record({
        area: "hermetic",
        attack:
          "fetch_url of a host service (127.0.0.1, localhost, 127.0.0.2, 0.0.0.0, ::ffff:127.0.0.1, ::1, the host's LAN address), a mirror's redirect to it, fetch_git of it",
        tries: errors.length,
        held,
        detail: `all refused by the fetch proxy ("${errors[0]!.replace(/^.*?: /, "").slice(0, 70)}…"), the service saw ${secretHits} requests; the configured mirror on loopback was fetched from`,
      });
      expect(errors).toHaveLength(urls.length + 1);
      for (const m of errors) expect(m).toMatch(/is this host's own address/);
      expect(secretHits).toBe(0);
      expect(stored).toEqual([]);
      expect(allowed).toBe("from the mirror\n");
    } finally {
      secret.close();
      mirror.close();
    }
  });

  it("a networked (fixed-output) build reaches no service of this host but a configured mirror: not its LAN address, not its loopback through 10.0.2.2", async () => {
    const e = engine();
    const hits: string[] = [];
    const serve = async (name: string, host: string) => {
      const server = createServer((c) => {
        hits.push(name);
        c.end("secret\n");
      });
      await new Promise<void>((r) => server.listen(0, host, () => r()));
      return { server, port: (server.address() as { port: number }).port };
    };
    // A service on every address of this host (reachable on its LAN address), one on its
    // loopback, and two mirrors: one on the loopback, one on every address.
    const anywhere = await serve("anywhere", "0.0.0.0");
    const loopback = await serve("loopback", "127.0.0.1");
    const loMirror = await serve("loopback mirror", "127.0.0.1");
    const lanMirror = await serve("lan mirror", "0.0.0.0");
    // And another machine (a network namespace behind a veth pair), which must stay reachable.
    const outside = await outsideHost();
    const lan = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i && i.family === "IPv4" && !i.internal)
      .map((i) => i!.address);
    expect(lan.length, "this host has a LAN address to try").toBeGreaterThan(0);
    // Each try connects and reads what the service says: "ok" only when an answer came back.
    const tries = [
      ...lan.map((a, i) => [`lan${i}`, a, anywhere.port] as const),
      ["gateway-anywhere", "10.0.2.2", anywhere.port] as const,
      ["gateway-loopback", "10.0.2.2", loopback.port] as const,
      ["link-local", "169.254.169.254", 80] as const,
      ["loopback-mirror", "10.0.2.2", loMirror.port] as const,
      ["lan-mirror", lan[0]!, lanMirror.port] as const,
      ["outside", outside.address, outside.port] as const,
    ];
    const probe = (name: string) =>
      shDrv(
        name,
        `exec python3 - <<'EOF'
import socket, os
out = os.environ["out"]; os.mkdir(out); r = []
for label, host, port in ${JSON.stringify(tries)}:
    try:
        s = socket.create_connection((host, port), timeout=3); got = s.recv(100); s.close()
        r.append(label + ": " + ("ok" if got else "connected"))
    except Exception as e:
        r.append(label + ": denied")
open(out + "/report", "w").write("\\n".join(r) + "\\n")
EOF`,
        { network: true },
      );
    const tag = randomBytes(4).toString("hex");
    const run = async (name: string) => {
      const d = probe(`${name}-${tag}`);
      const r = await build(e, graph(d), [d]);
      return lines(readFileSync(join(outOf(r, d), "report"), "utf8"));
    };
    const noMirrors = { BRAMBLE_MIRROR_DEBIAN: undefined, BRAMBLE_MIRROR_HERMETIC: undefined, BRAMBLE_MIRROR_HERMETIC_LAN: undefined };
    try {
      // No mirror configured (slirp4netns with --disable-host-loopback), then the two mirrors
      // (slirp4netns with the host's loopback, every port of 10.0.2.2 but the mirror's rejected).
      const alone = await withEnvAsync(noMirrors, () => run("reach-host"));
      const aloneHits = hits.splice(0);
      const mirrored = await withEnvAsync(
        { ...noMirrors, BRAMBLE_MIRROR_HERMETIC: `http://127.0.0.1:${loMirror.port}`, BRAMBLE_MIRROR_HERMETIC_LAN: `http://${lan[0]}:${lanMirror.port}` },
        () => run("reach-host-mirrored"),
      );
      const denied = { ...Object.fromEntries(tries.map(([label]) => [label, "denied"])), outside: "ok" };
      const expected = { ...denied, "loopback-mirror": "ok", "lan-mirror": "ok" };
      const held =
        JSON.stringify(alone) === JSON.stringify(denied) &&
        JSON.stringify(mirrored) === JSON.stringify(expected) &&
        aloneHits.length === 0 &&
        hits.every((h) => h.endsWith("mirror"));
      record({
        area: "hermetic",
        attack:
          "a networked (fixed-output) build connecting to a service of this host on its LAN address and through slirp4netns's gateway 10.0.2.2 (to 0.0.0.0 and 127.0.0.1), and to 169.254.169.254, with and without mirrors configured",
        tries: tries.length * 2,
        held,
        detail: `this host's addresses are rejected by netfilter rules in the build's network namespace (build-network.ts), but a configured mirror's address and port: ${Object.entries(
          mirrored,
        )
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}; the services saw ${aloneHits.length + hits.filter((h) => !h.endsWith("mirror")).length} connections`,
      });
      expect(alone).toEqual(denied);
      expect(aloneHits).toEqual([]);
      expect(mirrored).toEqual(expected);
      expect(hits.sort()).toEqual(["lan mirror", "loopback mirror"]);
      await expect.poll(() => outside.hits(), { timeout: 10_000 }).toBe(2); // reported on the outside server's stdout, maybe after the build
    } finally {
      outside.close();
      for (const s of [anywhere, loopback, loMirror, lanMirror]) s.server.close();
    }
  });

  it("a networked build whose fence cannot be loaded never runs", async () => {
    const e = engine();
    let hits = 0;
    const anywhere = createServer((c) => {
      hits++;
      c.end();
    });
    await new Promise<void>((r) => anywhere.listen(0, "0.0.0.0", () => r()));
    const port = (anywhere.address() as { port: number }).port;
    const lan = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
    expect(lan, "this host has a LAN address to try").toBeTruthy();
    try {
      // iptables-restore failing (here: /bin/false in its place) must stop the build, not let it
      // go with an open way to the host.
      const d = shDrv(
        `unfenced-${randomBytes(4).toString("hex")}`,
        `exec python3 -c 'import socket, os; os.mkdir(os.environ["out"]); socket.create_connection(("${lan}", ${port}), timeout=3)'`,
        { network: true },
      );
      const r = await withEnvAsync({ BRAMBLE_IPTABLES_RESTORE: "/bin/false" }, () => build(e, graph(d), [d]));
      const failed = eventsOf(r.events, "failed")[0] as { logTail?: string[] } | undefined;
      expect(r.result.status).toBe("failed");
      expect(failed?.logTail?.join("\n")).toMatch(/no network: loading the network fence failed \(exit 1\)/);
      expect(hits).toBe(0);
    } finally {
      anywhere.close();
    }
  });

  it("a process a build leaves behind cannot write its output after it is hashed and registered", async () => {
    const e = engine();
    const d = shDrv(
      "lingerer",
      `mkdir $out; echo original > $out/f
setsid sh -c 'sleep 1.5; echo poisoned >> '$out'/f' </dev/null >/dev/null 2>&1 &
nohup sh -c 'exec 3>>'$out'/f; sleep 1.5; echo poisoned-fd >&3' </dev/null >/dev/null 2>&1 &
exit 0`,
    );
    const r = await build(e, graph(d), [d]);
    const out = outOf(r, d);
    await new Promise((res) => setTimeout(res, 2500));
    const content = readFileSync(join(out, "f"), "utf8");
    const problems = await e.store.verify({});
    const held = content === "original\n" && problems.length === 0;
    record({
      area: "hermetic",
      attack: "a daemonized writer (setsid, nohup with an open descriptor) outliving its build to change the stored output",
      tries: 2,
      held,
      detail: `every process of the build is gone before its outputs are hashed (pid namespace, the pids cgroup drained): the file reads "${content.trim()}", store verify clean`,
    });
    expect(content).toBe("original\n");
    expect(problems).toEqual([]);
  });

  it("another local user cannot open a build's world-writable output while it builds", async () => {
    const e = engine();
    // A BRAMBLE_PATH other users may traverse (a test's temporary directory is 0700 by itself).
    chmodSync(dirname(e.home), 0o755);
    const d = shDrv("open-door", "mkdir $out; echo original > $out/f; chmod 666 $out/f; chmod 777 $out; sleep 3");
    // One bind per input (no store view, whose own parent directory is closed too): the build's temporary directory alone must keep others out.
    const prev = process.env.BRAMBLE_STORE_VIEW;
    process.env.BRAMBLE_STORE_VIEW = "0";
    const running = build(e, graph(d), [d]).finally(() => {
      if (prev === undefined) delete process.env.BRAMBLE_STORE_VIEW;
      else process.env.BRAMBLE_STORE_VIEW = prev;
    });
    // While it sleeps, "nobody" looks for the file under var/tmp and tries to write it.
    let found = "";
    for (let i = 0; i < 40 && !found; i++) {
      await new Promise((res) => setTimeout(res, 100));
      const r = spawnSync("sh", ["-c", `ls -d ${e.layout.tmpDir}/*/store/*-open-door/f 2>/dev/null | head -1`], { encoding: "utf8" });
      found = r.stdout.trim();
    }
    const attempt = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", `echo evil >> ${found}`], { encoding: "utf8" });
    const out = outOf(await running, d);
    const content = readFileSync(join(out, "f"), "utf8");
    const held = found !== "" && attempt.status !== 0 && content === "original\n";
    record({
      area: "hermetic",
      attack: "another local user (nobody) writing a build's world-writable output while it builds",
      tries: 1,
      held,
      detail: `the build's temporary directory is 0700: "${attempt.stderr.trim().split("\n").pop()}"; the stored file reads "${content.trim()}"`,
    });
    expect(found).not.toBe("");
    expect(attempt.status).not.toBe(0);
    expect(attempt.stderr).toMatch(/Permission denied/);
    expect(content).toBe("original\n");
  });

  it("a hard link to an input in an output leaves the input as it was", async () => {
    const e = engine();
    const input = shDrv("linked-input", "mkdir $out; echo original > $out/file");
    const r0 = await build(e, graph(input), [input]);
    const inPath = join(outOf(r0, input), "file");
    const before = lstatSync(inPath);
    const d = shDrv(
      "linker",
      `mkdir $out; ln ${ref(input)}/file $out/file 2>/dev/null && echo linked > $out/how || { cp ${ref(input)}/file $out/file; echo copied > $out/how; }; chmod 6777 $out/file 2>/dev/null; exit 0`,
    );
    const r = await build(e, graph(input, d), [d]);
    const out = outOf(r, d);
    const after = lstatSync(inPath);
    const stored = lstatSync(join(out, "file"));
    const held =
      after.ino === before.ino &&
      (after.mode & 0o7777) === (before.mode & 0o7777) &&
      after.uid === before.uid &&
      stored.ino !== before.ino &&
      (stored.mode & 0o7777) === 0o555;
    record({
      area: "hermetic",
      attack: "a hard link to an input's file in an output, then chmod 6777",
      tries: 1,
      held,
      detail: `${readFileSync(join(out, "how"), "utf8").trim() === "linked" ? "the link was made" : "the link was refused (protected_hardlinks)"}; the stored file is its own inode, mode 0555; the input kept mode ${(after.mode & 0o7777).toString(8)}`,
    });
    expect(after.ino).toBe(before.ino);
    expect(after.mode & 0o7777).toBe(before.mode & 0o7777);
    expect(stored.ino).not.toBe(before.ino);
    expect(stored.mode & 0o7777).toBe(0o555);
  });

  it("no setuid, setgid or world-writable bit reaches the store, and store verify sees one added later", async () => {
    const e = engine();
    const d = shDrv(
      "special",
      "mkdir -p $out/d $out/g; cp /bin/sh $out/sh; chmod 4755 $out/sh; echo x > $out/f; chmod 2666 $out/f; chmod 0777 $out/d; chmod 3777 $out/g",
    );
    const out = outOf(await build(e, graph(d), [d]), d);
    const modes = Object.fromEntries(["sh", "f", "d", "g", "."].map((n) => [n, (statSync(join(out, n)).mode & 0o7777).toString(8)]));
    // Owned by the store's user (its directory's owner), every file and directory.
    const storeUser = `${statSync(e.store.dir).uid}:${statSync(e.store.dir).gid}`;
    const owners = [...new Set(["sh", "f", "d", "g", "."].map((n) => `${statSync(join(out, n)).uid}:${statSync(join(out, n)).gid}`))];
    const clean = await e.store.verify({});
    // Someone with write access to the store adds a setuid bit and a world-writable directory.
    chmodSync(join(out, "sh"), 0o4755);
    chmodSync(join(out, "d"), 0o777);
    const found = await e.store.verify({});
    const repaired = await e.store.verify({ repair: true });
    // ... or hands a file to another user (nobody), who could then change it.
    lchownSync(join(out, "f"), 65534, 65534);
    const foreign = await e.store.verify({});
    await e.store.verify({ repair: true });
    const after = await e.store.verify({});
    const held =
      JSON.stringify(modes) === JSON.stringify({ sh: "555", f: "444", d: "555", g: "555", ".": "555" }) &&
      clean.length === 0 &&
      found.length === 1 &&
      foreign.length === 1 &&
      JSON.stringify(owners) === JSON.stringify([storeUser]) &&
      after.length === 0;
    record({
      area: "hermetic",
      attack: "setuid, setgid, sticky and world-writable modes in an output; a setuid bit, and another owner, given to a store path afterwards",
      tries: 6,
      held,
      detail: `stored as ${Object.entries(modes)
        .map(([k, v]) => `${k} ${v}`)
        .join(
          ", ",
        )}, owned by the store's user; store verify reported the later changes (${found[0]?.problem ?? "nothing"}: ${foreign[0]?.detail ?? "nothing"}) and --repair restored modes and owner`,
    });
    expect(modes).toEqual({ sh: "555", f: "444", d: "555", g: "555", ".": "555" });
    expect(clean).toEqual([]);
    expect(found.map((p) => p.problem)).toEqual(["modes"]);
    expect(repaired.map((p) => p.problem)).toEqual(["modes"]);
    expect(owners).toEqual([storeUser]);
    expect(foreign.map((p) => p.detail)).toEqual([`f: owned by 65534:65534, not the store's ${storeUser}`]);
    expect(after).toEqual([]);
    expect(statSync(join(out, "sh")).mode & 0o7777).toBe(0o555);
  });

  it("a kept failed build directory holds no setuid, setgid or world-writable file, in a directory only its user may enter", async () => {
    const e = engine();
    const d = shDrv(
      "suid-keeper",
      "cp /bin/sh /build/rootshell; chmod 4755 /build/rootshell; mkdir /build/open; chmod 1777 /build/open; cp /bin/sh /build/g; chmod 2755 /build/g; exit 1",
    );
    const r = await build(e, graph(d), [d], { keepFailed: true });
    expect(r.result.status).toBe("failed");
    const kept = eventsOf(r.events, "failed")[0]!;
    const failedDir = join(e.layout.varDir, "failed");
    const dirs = readdirSync(failedDir);
    const keptBuild = join(failedDir, dirs[0]!, "build");
    const modes = Object.fromEntries(["rootshell", "open", "g"].map((n) => [n, (statSync(join(keptBuild, n)).mode & 0o7777).toString(8)]));
    const top = (statSync(failedDir).mode & 0o777).toString(8);
    const held = modes.rootshell === "755" && modes.open === "755" && modes.g === "755" && top === "700";
    record({
      area: "hermetic",
      attack: "--keep-failed with a setuid-root shell, a setgid file and a world-writable sticky directory in the build directory",
      tries: 3,
      held,
      detail: `kept as ${Object.entries(modes)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")} under var/failed (mode ${top}); ${kept.error}`,
    });
    expect(modes).toEqual({ rootshell: "755", open: "755", g: "755" });
    expect(top).toBe("700");
  });
});
