// Where the built-in fetchers run: in a bubblewrap sandbox with the network and nothing of the
// host's files but the fetching program itself. An http(s) download is the engine's own small
// script (FETCH_SCRIPT) run by node; fetch_git is git. Each sees its program, the shared
// libraries it loads (found with ldd, bound read-only file by file at their paths), the
// resolver's files and CA certificates, a writable /out and a fresh /tmp: no home, no /etc,
// no store, no project. What it writes to /out is unpacked and hashed by the engine
// afterwards, as untrusted bytes. The network is the host's (a loopback Debian mirror must be
// reachable), which is safe only because the code that runs is ours, never a project's; a
// project's own fixed-output builders get a network namespace of their own (sandbox.ts).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findBwrap, withPidsLimit } from "./sandbox.js";
import { runLogged, type RunResult } from "./run.js";

/** The download script: argv url dest; follows up to 10 redirects; http and https only. */
const FETCH_SCRIPT = `
const { createWriteStream } = require("node:fs");
const http = require("node:http"), https = require("node:https");
function get(url, dest, left) {
  const u = new URL(url);
  const mod = u.protocol === "https:" ? https : u.protocol === "http:" ? http : null;
  if (!mod) { console.error("unsupported URL scheme " + u.protocol + " (http and https are)"); process.exit(2); }
  mod.get(u, { headers: { "user-agent": "bramble" } }, (res) => {
    const s = res.statusCode || 0;
    if (s >= 300 && s < 400 && res.headers.location) {
      res.resume();
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

const NETWORK_FILES = ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs", "/usr/share/ca-certificates"];

export interface FetchSandbox {
  /** host directory bound writable at /out */
  out: string;
  /** bwrap arguments binding the program and what it needs (toolBinds) */
  binds: string[];
  /** more read-only binds: [host path, sandbox path] (a local git repository) */
  readOnly?: [string, string][];
  env: Record<string, string>;
  command: string[];
  log: (line: string) => void;
  signal: AbortSignal;
  timeoutMs?: number;
}

/** Run a fetcher's command in its sandbox (host network, nothing else of the host). */
export async function runFetchSandbox(s: FetchSandbox): Promise<RunResult> {
  const bwrap = findBwrap();
  if (!bwrap) throw new Error("bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap");
  const a = [bwrap, "--unshare-all", "--share-net", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "localhost"];
  a.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  for (const f of NETWORK_FILES) if (existsSync(f)) a.push("--ro-bind", f, f);
  a.push(...s.binds);
  for (const [from, to] of s.readOnly ?? []) a.push("--ro-bind", from, to);
  a.push("--bind", s.out, "/out", "--remount-ro", "/", "--chdir", "/out", "--clearenv");
  for (const [k, v] of Object.entries({ HOME: "/homeless-shelter", TMPDIR: "/tmp", ...s.env })) a.push("--setenv", k, v);
  a.push("--", ...s.command);
  const limited = withPidsLimit(a);
  try {
    return await runLogged(limited.argv, { log: s.log, signal: s.signal, timeoutMs: s.timeoutMs });
  } finally {
    await limited.drain();
    limited.cleanup();
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
  const script = join(dir, ".bramble-fetch.cjs");
  writeFileSync(script, FETCH_SCRIPT);
  let last = "";
  const ca = extraCaCerts();
  const r = await runFetchSandbox({
    out: dir,
    binds: [...toolBinds([process.execPath]), ...ca.binds],
    // node itself, or Electron's binary acting as node in the app's service process
    env: { ELECTRON_RUN_AS_NODE: "1", ...ca.env },
    command: [process.execPath, "/out/.bramble-fetch.cjs", url, `/out/${name}`],
    log: (l) => {
      if (l.trim()) last = l;
      job.log(l);
    },
    signal: job.signal,
    timeoutMs: job.timeoutMs,
  });
  rmSync(script, { force: true });
  if (r.cancelled) throw Object.assign(new Error("cancelled"), { cancelled: true });
  if (r.exitCode !== 0) throw new Error(last || `fetching ${url} failed in its sandbox (exit ${r.exitCode ?? r.signal})`);
}
