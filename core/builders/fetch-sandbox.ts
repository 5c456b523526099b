// Where the built-in fetchers run: in a bubblewrap sandbox with nothing of the host's files but
// the fetching program itself, and a network namespace of its own. An http(s) download is the
// engine's own small script (FETCH_SCRIPT) run by node; fetch_git is git. Each sees its
// program, the shared libraries it loads (found with ldd, bound read-only file by file at their
// paths), the CA certificates, a writable /out and a fresh /tmp: no home, no /etc, no store, no
// project. Its network namespace has only `lo`: it shares no abstract unix socket with the host
// or any other build and reaches none of the host's loopback services. Its one way out is
// /bramble/proxy.sock, a unix socket of the engine's connect proxy (fetch-proxy.ts), which
// resolves names, and connects anywhere but to this host's own addresses, the configured
// mirrors excepted (a loopback Debian mirror in tests and CI). What the fetcher writes to /out
// is unpacked and hashed by the engine afterwards, as untrusted bytes.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startFetchProxy } from "./fetch-proxy.js";
import { findBwrap, withPidsLimit } from "./sandbox.js";
import { runLogged, type RunResult } from "./run.js";

/** Where the proxy's directory (its socket, the helper scripts) is bound, read-only. */
const NET_DIR = "/bramble";

/** tunnel(host, port): a socket connected to host:port through the engine's proxy (CONNECT). */
const TUNNEL = String.raw`
const net = require("node:net");
function tunnel(host, port) {
  return new Promise((ok, fail) => {
    const s = net.connect("${NET_DIR}/proxy.sock");
    const h = host.includes(":") ? "[" + host + "]" : host;
    let buf = Buffer.alloc(0);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf("\r\n\r\n");
      if (i < 0) {
        if (buf.length > 65536) { s.destroy(); fail(new Error("the fetch proxy's answer is too long")); }
        return;
      }
      s.pause();
      s.off("data", onData);
      s.off("error", fail);
      const line = buf.subarray(0, i).toString().split("\r\n")[0];
      const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(line);
      if (!m || m[1] !== "200") { s.destroy(); return fail(new Error(m ? m[2] : "the fetch proxy answered " + JSON.stringify(line))); }
      if (buf.length > i + 4) s.unshift(buf.subarray(i + 4));
      ok(s);
    };
    s.on("data", onData);
    s.on("error", fail);
    s.write("CONNECT " + h + ":" + port + " HTTP/1.1\r\nHost: " + h + ":" + port + "\r\n\r\n");
  });
}
`;

/** The download script: argv url dest; follows up to 10 redirects; http and https only, every connection through the proxy. */
const FETCH_SCRIPT = String.raw`${TUNNEL}
const { createWriteStream } = require("node:fs");
const http = require("node:http"), https = require("node:https"), tls = require("node:tls");
async function get(url, dest, left) {
  const u = new URL(url);
  const secure = u.protocol === "https:";
  if (!secure && u.protocol !== "http:") { console.error("unsupported URL scheme " + u.protocol + " (http and https are)"); process.exit(2); }
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const port = Number(u.port || (secure ? 443 : 80));
  let conn;
  try {
    conn = await tunnel(host, port);
  } catch (e) { console.error("fetching " + url + ": " + e.message); process.exit(7); }
  // The tunnel comes back paused (nothing of the server's may be lost before a reader is there).
  if (secure) conn = tls.connect({ socket: conn, host, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ["http/1.1"] });
  else setImmediate(() => conn.resume());
  (secure ? https : http).get(u, { headers: { "user-agent": "bramble" }, createConnection: () => conn }, (res) => {
    const s = res.statusCode || 0;
    if (s >= 300 && s < 400 && res.headers.location) {
      res.resume();
      conn.destroy();
      if (left <= 0) { console.error("too many redirects fetching " + url); process.exit(3); }
      const next = new URL(res.headers.location, u).toString();
      console.error("redirected to " + next);
      return get(next, dest, left - 1);
    }
    if (s !== 200) { res.resume(); console.error(("fetching " + url + ": HTTP " + s + " " + (res.statusMessage || "")).trim()); process.exit(4); }
    const out = createWriteStream(dest, { mode: 0o644 });
    res.pipe(out);
    res.on("error", (e) => { console.error("fetching " + url + ": " + e.message); process.exit(5); });
    out.on("error", (e) => { console.error("writing " + dest + ": " + e.message); process.exit(6); });
    out.on("finish", () => process.exit(0));
  }).on("error", (e) => { console.error("fetching " + url + ": " + e.message); process.exit(7); });
}
get(process.argv[2], process.argv[3], 10);
`;

/**
 * git's way out (git-net.cjs), two modes:
 *   forward PORT -- git ...   listens on the sandbox's own 127.0.0.1:PORT, piping each connection
 *                             to the proxy (git's libcurl uses it as http.proxy), then runs git;
 *   connect HOST PORT         a tunnel on stdin/stdout (GIT_PROXY_COMMAND, for git://).
 */
const GIT_NET_SCRIPT = `${TUNNEL}
const { spawn } = require("node:child_process");
const [mode, a, b] = process.argv.slice(2);
if (mode === "forward") {
  const cmd = process.argv.slice(process.argv.indexOf("--") + 1);
  const srv = net.createServer((c) => {
    const p = net.connect("${NET_DIR}/proxy.sock");
    c.pipe(p).pipe(c);
    c.on("error", () => p.destroy());
    p.on("error", () => c.destroy());
  });
  srv.listen(Number(a), "127.0.0.1", () => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: "inherit" });
    child.on("error", (e) => { console.error(cmd[0] + ": " + e.message); process.exit(127); });
    child.on("exit", (code) => process.exit(code === null ? 128 : code));
  });
} else if (mode === "connect") {
  tunnel(a, Number(b)).then((s) => {
    process.stdin.pipe(s);
    s.pipe(process.stdout);
    s.on("end", () => process.exit(0));
  }, (e) => { console.error("fetching " + a + ":" + b + ": " + e.message); process.exit(1); });
} else process.exit(2);
`;

/** The port git's forwarder listens on inside the sandbox (its network namespace is its own). */
const GIT_PROXY_PORT = 3128;

/** How git reaches the network from its sandbox: arguments before git's own, and environment. */
export function gitThroughProxy(): { wrap: string[]; config: string[]; env: Record<string, string>; files: Record<string, string> } {
  return {
    wrap: [process.execPath, `${NET_DIR}/git-net.cjs`, "forward", String(GIT_PROXY_PORT), "--"],
    config: ["-c", `http.proxy=http://127.0.0.1:${GIT_PROXY_PORT}`],
    env: { GIT_PROXY_COMMAND: `${NET_DIR}/git-proxy`, ELECTRON_RUN_AS_NODE: "1" },
    files: {
      "git-net.cjs": GIT_NET_SCRIPT,
      "git-proxy": `#!/bin/sh\nexec ${process.execPath} ${NET_DIR}/git-net.cjs connect "$1" "$2"\n`,
    },
  };
}

const libsOf = new Map<string, string[]>();

/** The shared libraries (and loader) a program loads, as ldd lists them: absolute paths. */
function sharedLibraries(program: string): string[] {
  const hit = libsOf.get(program);
  if (hit) return hit;
  const r = spawnSync("ldd", [program], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
  const libs = r.status === 0 ? [...r.stdout.matchAll(/(?:=>\s*)?(\/[^\s()]+)\s*\(0x/g)].map((m) => m[1]!) : [];
  libsOf.set(program, libs);
  return libs;
}

function isElfExecutable(p: string): boolean {
  try {
    const st = statSync(p);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * bwrap arguments binding programs (and the directories `dirs`, whole) with every shared
 * library they load, read-only, each at the path it is known by. These are files the engine
 * chose (node, git), never paths a project names; their links are resolved on the host.
 */
export function toolBinds(programs: string[], dirs: string[] = []): string[] {
  const files = new Set<string>();
  const execs = [...programs];
  for (const d of dirs) if (existsSync(d)) for (const e of readdirSync(d)) if (isElfExecutable(join(d, e))) execs.push(join(d, e));
  const seen = new Set<string>();
  for (const p of execs) {
    const st = statSync(p);
    const id = `${st.dev}:${st.ino}`; // git-core's hard links are one program
    if (seen.has(id)) continue;
    seen.add(id);
    for (const lib of sharedLibraries(realpathSync(p))) files.add(lib);
  }
  for (const p of programs) files.add(p);
  const a: string[] = [];
  for (const d of dirs) if (existsSync(d)) a.push("--ro-bind", realpathSync(d), d);
  for (const f of [...files].sort()) if (existsSync(f)) a.push("--ro-bind", realpathSync(f), f);
  return a;
}

/** Only the CA certificates (git's libcurl reads them): names are resolved by the proxy. */
const CA_FILES = ["/etc/ssl/certs", "/usr/share/ca-certificates"];

export interface FetchSandbox {
  /** host directory bound writable at /out */
  out: string;
  /** bwrap arguments binding the program and what it needs (toolBinds) */
  binds: string[];
  /** more read-only binds: [host path, sandbox path] (a local git repository) */
  readOnly?: [string, string][];
  /** a way out through the engine's proxy (default true); without it, `lo` only */
  network?: boolean;
  /** files written beside the proxy's socket, readable (and runnable) at /bramble/<name> */
  files?: Record<string, string>;
  env: Record<string, string>;
  command: string[];
  log: (line: string) => void;
  signal: AbortSignal;
  timeoutMs?: number;
}

/** What the proxy refused during a fetch sandbox's run, beside how it ended. */
export interface FetchRunResult extends RunResult {
  refusals: string[];
}

/** Run a fetcher's command in its sandbox: a network namespace of its own, the proxy its way out, nothing else of the host. */
export async function runFetchSandbox(s: FetchSandbox): Promise<FetchRunResult> {
  const bwrap = findBwrap();
  if (!bwrap) throw new Error("bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap");
  const proxy = s.network === false ? undefined : await startFetchProxy(s.log);
  try {
    for (const [name, text] of Object.entries(s.files ?? {})) {
      if (!proxy) throw new Error("files are bound beside the proxy: a fetch sandbox without network has none");
      writeFileSync(join(proxy.dir, name), text, { mode: 0o555 });
    }
    // --unshare-all: the network namespace too (only `lo`, brought up by bwrap).
    const a = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "localhost"];
    a.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
    if (proxy) for (const f of CA_FILES) if (existsSync(f)) a.push("--ro-bind", f, f);
    a.push(...s.binds);
    for (const [from, to] of s.readOnly ?? []) a.push("--ro-bind", from, to);
    if (proxy) a.push("--ro-bind", proxy.dir, NET_DIR);
    a.push("--bind", s.out, "/out", "--remount-ro", "/", "--chdir", "/out", "--clearenv");
    for (const [k, v] of Object.entries({ HOME: "/homeless-shelter", TMPDIR: "/tmp", ...s.env })) a.push("--setenv", k, v);
    a.push("--", ...s.command);
    // bwrap 0.8 sometimes fails to bring up the loopback of a new network namespace ("loopback:
    // Failed RTM_NEWADDR"), before the command runs: that set-up is tried again (as local.ts does).
    for (let attempt = 1; ; attempt++) {
      let loopbackFailed = false;
      const log = (line: string) => {
        if (/^bwrap: loopback: Failed RTM_NEWADDR/.test(line)) loopbackFailed = true;
        s.log(line);
      };
      const limited = withPidsLimit(a);
      let r: RunResult;
      try {
        r = await runLogged(limited.argv, { log, signal: s.signal, timeoutMs: s.timeoutMs });
      } finally {
        await limited.drain();
        limited.cleanup();
      }
      if (loopbackFailed && attempt < 3 && !r.cancelled && r.exitCode !== 0) {
        s.log("bramble: the fetch sandbox's network set-up failed before the fetcher ran; starting it again");
        continue;
      }
      return { ...r, refusals: [...(proxy?.refusals ?? [])] };
    }
  } finally {
    await proxy?.close();
  }
}

/**
 * The CA certificates the user's NODE_EXTRA_CA_CERTS names (a company's TLS proxy, a mirror's own
 * CA; bin/bramble keeps it for the verbs that fetch), for the download's node, which starts with
 * a clear environment: the file bound read-only at one fixed path and the variable naming it.
 * Nothing when it is unset or names no readable file (node itself would only warn).
 */
function extraCaCerts(): { binds: string[]; env: Record<string, string> } {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  try {
    const real = file ? realpathSync(file) : undefined;
    if (real && statSync(real).isFile()) return { binds: ["--ro-bind", real, EXTRA_CA_AT], env: { NODE_EXTRA_CA_CERTS: EXTRA_CA_AT } };
  } catch {
    /* unreadable: as unset */
  }
  return { binds: [], env: {} };
}
const EXTRA_CA_AT = "/etc/bramble-extra-ca-certs.pem";

/** Download an http(s) URL to `<dir>/<name>` from inside a fetch sandbox (node and the script only). */
export async function sandboxedDownload(
  url: string,
  dir: string,
  name: string,
  job: { log: (l: string) => void; signal: AbortSignal; timeoutMs?: number },
): Promise<void> {
  let last = "";
  const ca = extraCaCerts();
  const r = await runFetchSandbox({
    out: dir,
    binds: [...toolBinds([process.execPath]), ...ca.binds],
    files: { "fetch.cjs": FETCH_SCRIPT },
    // node itself, or Electron's binary acting as node in the app's service process
    env: { ELECTRON_RUN_AS_NODE: "1", ...ca.env },
    command: [process.execPath, `${NET_DIR}/fetch.cjs`, url, `/out/${name}`],
    log: (l) => {
      if (l.trim()) last = l;
      job.log(l);
    },
    signal: job.signal,
    timeoutMs: job.timeoutMs,
  });
  if (r.cancelled) throw Object.assign(new Error("cancelled"), { cancelled: true });
  if (r.exitCode !== 0) throw new Error(last || `fetching ${url} failed in its sandbox (exit ${r.exitCode ?? r.signal})`);
}
