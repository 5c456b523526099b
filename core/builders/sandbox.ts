// The bubblewrap command line for a build or a shell: nothing of the host is visible except
// the input closures and the declared sandbox paths (read-only), a writable build directory
// and store directory (for the outputs), fresh /proc, /dev and /tmp, and no network unless asked.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, type Stats, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyBuildNetworkFence, buildNetworkFence } from "./build-network.js";
import { prepareSpare, sparesEnabled } from "./launcher.js";
import { compiledHelper, helperNetnsAvailable, helperNetnsGuess, storeOverlayArgv, storeViewArgv } from "./store-view.js";

export const BUILD_DIR = "/build";
export const HOMELESS = "/homeless-shelter";

export interface SandboxSpec {
  storeDir: string;
  /** host directory bound writable at storeDir (the outputs are created in it) */
  storeMount: string;
  /** host store paths (full) to bind read-only at the same place */
  inputs: string[];
  /** the inputs are already laid out in storeMount (core/builders/store-view.ts): bound once, idmapped, no bind per input */
  storeView?: boolean;
  /** with storeView: the view is overlayRoot/view, seen through an overlay at storeMount (overlayRoot/store) whose upper layer overlayRoot/upper gets what the builder writes */
  overlayRoot?: string;
  /** host paths (sandbox_paths) bound read-only at the same place; missing ones are skipped */
  sandboxPaths: string[];
  /** host directory bound at BUILD_DIR */
  buildDir: string;
  /** working directory inside the sandbox */
  cwd: string;
  env: Record<string, string>;
  network: boolean;
  /** with network: a network namespace of its own (slirp4netns) instead of the host's */
  ownNetwork?: boolean;
  /** with ownNetwork: a host file bound at /etc/resolv.conf (slirp4netns's DNS, SLIRP_RESOLV_CONF) */
  resolvConf?: string;
  command: string[];
}

let bwrapPath: string | null | undefined;

export function findBwrap(): string | null {
  if (bwrapPath !== undefined) return bwrapPath;
  for (const p of [process.env.BRAMBLE_BWRAP, "/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]) {
    if (p && existsSync(p)) return (bwrapPath = p);
  }
  const r = spawnSync("sh", ["-c", "command -v bwrap"], { encoding: "utf8" });
  return (bwrapPath = r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null);
}

/** The full argv (bwrap first) that runs `spec.command` in the sandbox. */
export function bwrapArgv(spec: SandboxSpec): string[] {
  const bwrap = findBwrap();
  if (!bwrap) throw new Error("bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap");
  const netns = helperNetwork(spec);
  // --unshare-all but the network when the helper has made the network namespace.
  const a: string[] = [
    bwrap,
    ...(netns ? ["--unshare-user-try", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"] : ["--unshare-all"]),
  ];
  // A build's network is a namespace of its own (joined to the outside by slirp4netns, see
  // attachOwnNetwork): bwrap reports the sandbox's pid on fd 3 and waits on fd 4 until it is up.
  // Only `bramble run --network` and `bramble shell` (the user's own choice) share the host's.
  if (spec.network && spec.ownNetwork) a.push("--info-fd", "3", "--block-fd", "4");
  else if (spec.network) a.push("--share-net");
  a.push("--hostname", "localhost", "--die-with-parent", "--new-session", "--cap-drop", "ALL");
  // Fresh /proc, /dev and /tmp first, so binds below /tmp (a store under /tmp) stay visible.
  // /tmp is memory: capped, so a builder filling it gets ENOSPC instead of exhausting the host.
  a.push("--proc", "/proc", "--dev", "/dev", "--size", String(sandboxTmpSize()), "--tmpfs", "/tmp");
  for (const p of new Set(spec.sandboxPaths)) {
    if (p.startsWith(spec.storeDir) || p === BUILD_DIR || p === "/proc" || p === "/dev" || p === "/tmp") continue;
    a.push(...roBindNoFollow(p, true));
  }
  if (spec.network) {
    const files = ["/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs"];
    if (spec.ownNetwork && spec.resolvConf) a.push("--ro-bind", spec.resolvConf, "/etc/resolv.conf");
    else files.unshift("/etc/resolv.conf");
    for (const f of files) a.push(...roBindNoFollow(f, true));
  }
  a.push("--bind", spec.storeMount, spec.storeDir);
  if (!spec.storeView) for (const p of spec.inputs) a.push(...roBindNoFollow(p, false));
  a.push("--bind", spec.buildDir, BUILD_DIR);
  // The sandbox's own root (a tmpfs holding the mount points) is read-only too.
  a.push("--remount-ro", "/");
  a.push("--chdir", spec.cwd, "--clearenv");
  for (const [k, v] of Object.entries(spec.env)) a.push("--setenv", k, v);
  a.push("--", ...spec.command);
  if (!spec.storeView) return a;
  return spec.overlayRoot ? storeOverlayArgv(spec.overlayRoot, a, netns) : storeViewArgv(spec.storeMount, a, netns);
}

/**
 * Does the compiled helper give this sandbox its network namespace (`--netns`), rather than
 * bwrap's --unshare-net? For a sandbox the helper starts (a store view) without a network or
 * with a network of its own (slirp4netns then joins the namespace the helper made, through
 * bwrap's child), when it can (root). Then a launcher's spare makes the namespace before the
 * build is asked for (launcher.ts), and bwrap does not: a new network namespace cost bwrap
 * 2.2 ms per build. And bwrap's own set-up of the loopback over netlink, which failed now and
 * then ("loopback: Failed RTM_NEWADDR: No child processes", cause not found), no longer runs.
 * Either way the build gets a fresh namespace of its own with lo up. The one place this is
 * decided: bwrapArgv's flags and the helper's option both follow it.
 */
function helperNetwork(spec: SandboxSpec): boolean {
  return (!spec.network || !!spec.ownNetwork) && !!spec.storeView && !!compiledHelper() && helperNetnsAvailable();
}

/**
 * A read-only bind of a host path at the same place, where a symlink stays a symlink: bwrap
 * resolves a bind's source on the host, so an input (or a sandbox path) that is a link to `/`
 * would otherwise become a bind of the host's root. A link is recreated inside with the same
 * target, resolved (if at all) among the sandbox's own mounts. Missing paths: skipped when
 * `optional`, else an error from bwrap.
 */
function roBindNoFollow(p: string, optional: boolean): string[] {
  let st: Stats;
  try {
    st = lstatSync(p);
  } catch {
    return optional ? [] : ["--ro-bind", p, p];
  }
  if (st.isSymbolicLink()) return ["--symlink", readlinkSync(p), p];
  return [optional ? "--ro-bind-try" : "--ro-bind", p, p];
}

/** What a build's /etc/resolv.conf says when it has a network of its own: slirp4netns's DNS forwarder. */
export const SLIRP_RESOLV_CONF = "nameserver 10.0.2.3\n";

let slirpPath: string | null | undefined;

export function findSlirp(): string | null {
  if (slirpPath !== undefined) return slirpPath;
  for (const p of [process.env.BRAMBLE_SLIRP4NETNS, "/usr/bin/slirp4netns", "/usr/local/bin/slirp4netns", "/bin/slirp4netns"]) {
    if (p && existsSync(p)) return (slirpPath = p);
  }
  return (slirpPath = null);
}

/**
 * Give a sandbox started with `ownNetwork` (bwrap --info-fd 3 --block-fd 4) its network: once
 * bwrap reports the sandbox's pid, slirp4netns (sandboxed and seccomp-filtered itself) adds a
 * tap device routed to the outside through user-mode NAT, with no way to the host's loopback
 * (--disable-host-loopback) nor to any other address of this host but a configured mirror's
 * (netfilter rules loaded into the namespace: build-network.ts); then the sandbox is let go. Its network namespace is its own: no
 * abstract unix socket of the host or of another build is reachable. Returns a stop function.
 */
export function attachOwnNetwork(child: ChildProcess, log: (line: string) => void, spec: SandboxSpec): () => void {
  const slirp = findSlirp();
  const info = child.stdio[3] as Readable | null;
  const block = child.stdio[4] as Writable | null;
  let net: ChildProcess | undefined;
  let stopped = false;
  let starting = false;
  let ready = false;
  const release = () => {
    if (!block || block.destroyed) return;
    block.end("1");
  };
  if (!slirp || !info || !block) {
    log(!slirp ? "no network: slirp4netns is not installed (apt-get install -y slirp4netns)" : "no network: the sandbox reported no pid");
    release();
    return () => {};
  }
  let text = "";
  info.on("data", (d: Buffer) => {
    text += d.toString();
    const pid = /"child-pid":\s*(\d+)/.exec(text)?.[1];
    if (!pid || starting || stopped) return;
    starting = true;
    // The builder is let go only once this host's services are fenced off in its namespace
    // (build-network.ts); when that fails, it never runs.
    const refuse = (e: Error) => {
      log(`no network: ${e.message}`);
      // The whole group (the sandbox's first process too, still waiting for its network): the
      // block pipe stays open, since its end would let the builder go.
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    buildNetworkFence().then((fence) => {
      if (stopped) return;
      // slirp4netns joins the user namespace of the process it is given, then its network
      // namespace; one the helper made belongs to this user namespace, not to bwrap's.
      const userns = helperNetwork(spec) ? ["--userns-path=/proc/self/ns/user"] : [];
      net = spawn(slirp, ["--configure", "--mtu=65520", ...userns, ...fence.slirpArgs, "--enable-sandbox", "--enable-seccomp", "--ready-fd=3", pid, "tap0"], {
        stdio: ["ignore", "ignore", "pipe", "pipe"],
      });
      net.on("error", (e) => {
        log(`no network: slirp4netns: ${e.message}`);
        if (!ready) release();
      });
      net.stderr!.on("data", (d: Buffer) => {
        for (const l of d.toString().split("\n")) if (/error|fail/i.test(l)) log(`slirp4netns: ${l}`);
      });
      (net.stdio[3] as Readable).once("data", () => {
        ready = true;
        applyBuildNetworkFence(Number(pid), fence).then(release, refuse);
      });
      net.on("exit", () => {
        if (!ready) release();
      });
    }, refuse);
  });
  info.on("error", () => {});
  block.on("error", () => {});
  return () => {
    stopped = true;
    release();
    net?.kill("SIGKILL");
  };
}

/** Bytes of the sandbox's /tmp tmpfs (BRAMBLE_SANDBOX_TMP_SIZE, default 4 GiB). */
export function sandboxTmpSize(): number {
  const v = Number(process.env.BRAMBLE_SANDBOX_TMP_SIZE);
  return v > 0 ? Math.floor(v) : 4 * 1024 ** 3;
}

/** Processes a build may have at once (BRAMBLE_SANDBOX_PIDS, default 4096): a fork bomb stops there. */
export function sandboxMaxPids(): number {
  const v = Number(process.env.BRAMBLE_SANDBOX_PIDS);
  return v > 0 ? Math.floor(v) : 4096;
}

/**
 * Run argv inside a fresh pids cgroup capped at `max` processes, when this process may create
 * one (root with the cgroup v1 pids controller, or a writable cgroup v2 with pids). RLIMIT_NPROC
 * does not bind root, even in a user namespace. The process joins the cgroup before it execs the
 * sandbox, so nothing the build starts can fork outside it: the compiled helper does that (and
 * the store view's mount, and fd 2 onto fd 1: `stderrMerged`) in one exec, else a shell does.
 * Without cgroups, argv is unchanged. With `spare` (a build the launcher starts), the cgroup is
 * the one reserved for it, where a spare waits, and `prepareNext` reserves the next build's.
 */
export function withPidsLimit(
  argv: string[],
  max = sandboxMaxPids(),
  opts: { spare?: boolean; keepFds?: number } = {},
): { argv: string[]; cleanup: () => void; drain: () => Promise<boolean>; stderrMerged: boolean; prepareNext?: () => void } {
  // Without a cgroup, the pid namespace is what ends the build's processes: when the sandbox's
  // init exits, the kernel kills everything else in it.
  const none = { argv: viaHelper(argv, undefined, opts.keepFds), cleanup: () => {}, drain: async () => true, stderrMerged: argv[0] === compiledHelper() };
  const base = pidsBase();
  if (!base) return none;
  try {
    // Cgroups left by bramble processes that died (SIGKILL) are removed (looked for once a
    // minute, not at every build: a listing costs more than the build). What is still in one is
    // killed first: a sandbox whose outer bwrap died before it let the inner one go waits for it
    // forever (seen after test/reliability/crash.test.ts's kills); the next sweep removes the cgroup.
    if (Date.now() - (swept.get(base) ?? -Infinity) > 60_000) {
      swept.set(base, Date.now());
      for (const e of readdirSync(base)) {
        const pid = /^bramble-(\d+)-/.exec(e)?.[1];
        if (pid && !pidAlive(Number(pid))) {
          killCgroup(join(base, e));
          try {
            rmdirSync(join(base, e));
          } catch {
            /* still busy */
          }
        }
      }
    }
    // An empty cgroup a finished build gave back is used again: making one and removing it cost
    // 3 ms of the event loop per build at load 18 (cgroup v1's rmdir waits for the kernel).
    const free = freeList(base);
    // A build started by the launcher takes the cgroup a spare has been prepared in (its next
    // build's, launcher.ts); once its own request is on its way (prepareNext, called by the
    // caller), the launcher prepares one for the build after it.
    const helper = compiledHelper();
    const spare = !!(opts.spare && helper && sparesEnabled());
    let dir = spare ? reservedCgroups.get(base) : undefined;
    if (spare) reservedCgroups.delete(base);
    if (!dir) dir = takeCgroup(base);
    writeFileSync(join(dir, "pids.max"), String(max));
    // As this build asks: a spare prepared otherwise is not used (store-view-helper.c).
    const prepareNext = () => reserveSpare(base, helper!, max, (argv[0] === helper ? argv.slice(1, argv.indexOf("--")) : []).includes("--netns"));
    const cgroup = dir;
    const remove = (tries = 20) => {
      try {
        rmdirSync(cgroup);
      } catch {
        if (tries > 0) setTimeout(() => remove(tries - 1), 250).unref();
      }
    };
    let cleaned = false;
    const cleanup = () => {
      if (cleaned) return;
      cleaned = true;
      let empty = false;
      try {
        empty = readFileSync(join(cgroup, "cgroup.procs"), "utf8") === "";
      } catch {
        /* gone */
      }
      if (!empty || free.length >= 4) return remove();
      free.push(cgroup);
      onExitRemoveCgroups();
    };
    // Before a build's outputs are hashed, every process it started is gone: whatever is still
    // in the cgroup (a process the pid namespace's end has not reaped yet) is killed and waited for.
    // A process the sandbox's end is still tearing down is usually gone within a millisecond
    // or two: looked for again soon, then less and less often (5 s in all).
    const drain = async () => {
      for (let i = 0, waited = 0; waited < 5000; i++) {
        if (killCgroup(dir) === 0) return true;
        const wait = Math.min(2 ** i, 20);
        await new Promise((r) => setTimeout(r, wait));
        waited += wait;
      }
      return false;
    };
    const procs = join(dir, "cgroup.procs");
    if (helper) return { argv: viaHelper(argv, procs, opts.keepFds), cleanup, drain, stderrMerged: true, ...(spare ? { prepareNext } : {}) };
    return { argv: ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, ...argv], cleanup, drain, stderrMerged: false };
  } catch {
    return none;
  }
}

/** The pids cgroup root this process may make cgroups under (cgroup v1's pids hierarchy, or a v2 root with pids), or undefined. */
function pidsBase(): string | undefined {
  if (existsSync("/sys/fs/cgroup/pids/cgroup.procs")) return "/sys/fs/cgroup/pids";
  if (existsSync("/sys/fs/cgroup/cgroup.subtree_control") && readFileSync("/sys/fs/cgroup/cgroup.subtree_control", "utf8").includes("pids"))
    return "/sys/fs/cgroup";
  return undefined;
}

function freeList(base: string): string[] {
  const free = freeCgroups.get(base) ?? [];
  freeCgroups.set(base, free);
  return free;
}

/** An empty cgroup of this process under `base`: one a finished build gave back, else a new one. */
function takeCgroup(base: string): string {
  const d = freeList(base).pop() ?? join(base, `bramble-${process.pid}-${randomBytes(4).toString("hex")}`);
  if (!existsSync(d)) mkdirSync(d);
  return d;
}

/** Reserve the cgroup of the next build through the launcher and have a spare prepared in it, unless one is reserved. */
function reserveSpare(base: string, helper: string, max: number, netns: boolean): void {
  if (reservedCgroups.has(base)) return;
  try {
    const next = takeCgroup(base);
    writeFileSync(join(next, "pids.max"), String(max));
    reservedCgroups.set(base, next);
    prepareSpare(helper, join(next, "cgroup.procs"), netns);
  } catch {
    /* no spare: the next build starts fresh */
  }
}

/**
 * Before a build through the launcher lays out its sandbox: a spare for it, when none is
 * reserved (the first build of a process, or one after a networked build), so that joining
 * its cgroup (7-15 ms on cgroup v1 when no other task moved shortly before) overlaps the
 * lay-out instead of following it. Whether the helper will make its network namespace is
 * guessed without a probe (helperNetnsGuess); a wrong guess only costs the spare.
 */
export function warmSpare(): void {
  const helper = compiledHelper();
  if (!helper || !sparesEnabled() || process.getuid?.() !== 0) return;
  const base = pidsBase();
  if (base) reserveSpare(base, helper, sandboxMaxPids(), helperNetnsGuess());
}

/** SIGKILL every process in the cgroup `dir` (none, or gone: nothing). */
function killCgroup(dir: string): number {
  let pids: number[];
  try {
    pids = readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  return pids.length;
}

/** When a pids cgroup was last swept of dead processes' cgroups, by cgroup root. */
const swept = new Map<string, number>();
/** Empty cgroups of this process ready for the next build, by cgroup root (removed at exit). */
const freeCgroups = new Map<string, string[]>();
/** The cgroup the next build through the launcher gets, a spare prepared in it, by cgroup root. */
const reservedCgroups = new Map<string, string>();
let cgroupsExit = false;

function onExitRemoveCgroups(): void {
  if (cgroupsExit) return;
  cgroupsExit = true;
  process.once("exit", () => {
    // A reserved cgroup's spare dies with the launcher, which sees this process's end after
    // it: its cgroup is removed by the next bramble's sweep if not here.
    for (const list of [...freeCgroups.values(), [...reservedCgroups.values()]])
      for (const d of list.splice(0)) {
        try {
          rmdirSync(d);
        } catch {
          /* swept by the next bramble */
        }
      }
  });
}

/**
 * argv started through the compiled helper with fd 2 onto fd 1 and, given `procs`, in that
 * cgroup: one exec. An argv the helper already starts (a store view: `helper VIEW cmd...`)
 * becomes one call with the view; without the compiled helper, argv is unchanged.
 */
function viaHelper(argv: string[], procs?: string, keepFds = 0): string[] {
  const helper = compiledHelper();
  if (!helper) return argv;
  // The helper closes (on exec) every descriptor above 2 but the `keepFds` after them that
  // the sandbox is given on purpose: whatever bramble's own parent left open reaches no build.
  const opts = ["--merge-stderr", ...(keepFds ? ["--keep-fds", String(keepFds)] : []), ...(procs ? ["--cgroup", procs] : [])];
  if (argv[0] === helper)
    return argv[1]?.startsWith("--") ? [helper, ...opts, ...argv.slice(1)] : [helper, ...opts, "--view", argv[1]!, "--", ...argv.slice(2)];
  return procs ? [helper, ...opts, "--", ...argv] : argv;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
