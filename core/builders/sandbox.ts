// The bubblewrap command line for a build or a shell: nothing of the host is visible except
// the input closures and the declared sandbox paths (read-only), a writable build directory
// and store directory (for the outputs), fresh /proc, /dev and /tmp, and no network unless asked.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const BUILD_DIR = "/build";
export const HOMELESS = "/homeless-shelter";

export interface SandboxSpec {
  storeDir: string;
  /** host directory bound writable at storeDir (the outputs are created in it) */
  storeMount: string;
  /** host store paths (full) to bind read-only at the same place */
  inputs: string[];
  /** host paths (sandbox_paths) bound read-only at the same place; missing ones are skipped */
  sandboxPaths: string[];
  /** host directory bound at BUILD_DIR */
  buildDir: string;
  /** working directory inside the sandbox */
  cwd: string;
  env: Record<string, string>;
  network: boolean;
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
  const a: string[] = [bwrap, "--unshare-all"];
  if (spec.network) a.push("--share-net");
  a.push("--hostname", "localhost", "--die-with-parent", "--new-session", "--cap-drop", "ALL");
  // Fresh /proc, /dev and /tmp first, so binds below /tmp (a store under /tmp) stay visible.
  // /tmp is memory: capped, so a builder filling it gets ENOSPC instead of exhausting the host.
  a.push("--proc", "/proc", "--dev", "/dev", "--size", String(sandboxTmpSize()), "--tmpfs", "/tmp");
  for (const p of spec.sandboxPaths) {
    if (p.startsWith(spec.storeDir) || p === BUILD_DIR || p === "/proc" || p === "/dev" || p === "/tmp") continue;
    a.push(...roBindNoFollow(p, true));
  }
  if (spec.network) {
    for (const f of ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs"]) a.push("--ro-bind-try", f, f);
  }
  a.push("--bind", spec.storeMount, spec.storeDir);
  for (const p of spec.inputs) a.push(...roBindNoFollow(p, false));
  a.push("--bind", spec.buildDir, BUILD_DIR);
  // The sandbox's own root (a tmpfs holding the mount points) is read-only too.
  a.push("--remount-ro", "/");
  a.push("--chdir", spec.cwd, "--clearenv");
  for (const [k, v] of Object.entries(spec.env)) a.push("--setenv", k, v);
  a.push("--", ...spec.command);
  return a;
}

/**
 * A read-only bind of a host path at the same place, where a symlink stays a symlink: bwrap
 * resolves a bind's source on the host, so an input (or a sandbox path) that is a link to `/`
 * would otherwise become a bind of the host's root. A link is recreated inside with the same
 * target, resolved (if at all) among the sandbox's own mounts. Missing paths: skipped when
 * `optional`, else an error from bwrap.
 */
export function roBindNoFollow(p: string, optional: boolean): string[] {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return optional ? [] : ["--ro-bind", p, p];
  }
  if (st.isSymbolicLink()) return ["--symlink", readlinkSync(p), p];
  return [optional ? "--ro-bind-try" : "--ro-bind", p, p];
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
 * does not bind root, even in a user namespace. The shell joins the cgroup before it execs the
 * sandbox, so nothing the build starts can fork outside it. Without cgroups, argv is unchanged.
 */
export function withPidsLimit(argv: string[], max = sandboxMaxPids()): { argv: string[]; cleanup: () => void } {
  const none = { argv, cleanup: () => {} };
  let base: string | undefined;
  if (existsSync("/sys/fs/cgroup/pids/cgroup.procs")) base = "/sys/fs/cgroup/pids";
  else if (existsSync("/sys/fs/cgroup/cgroup.subtree_control") && readFileSync("/sys/fs/cgroup/cgroup.subtree_control", "utf8").includes("pids")) base = "/sys/fs/cgroup";
  if (!base) return none;
  try {
    // Cgroups left by bramble processes that died (SIGKILL) are empty by now: remove them.
    for (const e of readdirSync(base)) {
      const pid = /^bramble-(\d+)-/.exec(e)?.[1];
      if (pid && !pidAlive(Number(pid))) {
        try {
          rmdirSync(join(base, e));
        } catch {
          /* still busy */
        }
      }
    }
    const dir = join(base, `bramble-${process.pid}-${randomBytes(4).toString("hex")}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "pids.max"), String(max));
    const cleanup = (tries = 20) => {
      try {
        rmdirSync(dir);
      } catch {
        if (tries > 0) setTimeout(() => cleanup(tries - 1), 250).unref();
      }
    };
    return { argv: ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', join(dir, "cgroup.procs"), ...argv], cleanup: () => cleanup() };
  } catch {
    return none;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
