// The bubblewrap command line for a build or a shell: nothing of the host is visible except
// the input closures and the declared sandbox paths (read-only), a writable build directory
// and store directory (for the outputs), fresh /proc, /dev and /tmp, and no network unless asked.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

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
  a.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  for (const p of spec.sandboxPaths) {
    if (p.startsWith(spec.storeDir) || p === BUILD_DIR || p === "/proc" || p === "/dev" || p === "/tmp") continue;
    a.push("--ro-bind-try", p, p);
  }
  if (spec.network) {
    for (const f of ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs"]) a.push("--ro-bind-try", f, f);
  }
  a.push("--bind", spec.storeMount, spec.storeDir);
  for (const p of spec.inputs) a.push("--ro-bind", p, p);
  a.push("--bind", spec.buildDir, BUILD_DIR);
  // The sandbox's own root (a tmpfs holding the mount points) is read-only too.
  a.push("--remount-ro", "/");
  a.push("--chdir", spec.cwd, "--clearenv");
  for (const [k, v] of Object.entries(spec.env)) a.push("--setenv", k, v);
  a.push("--", ...spec.command);
  return a;
}
