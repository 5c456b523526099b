// The DAG both `bench build` and `bench nix` build (issue 17): node i depends on node i-1 and
// on a pseudo-random earlier node; its output names both inputs' store paths, so each output
// references its inputs and node i's input closure holds about i paths. Every node runs
// static busybox's `sh -c 'echo ... > $out'`: the builder's own work is nothing, what is
// measured is the build system's cost per derivation.
import { readFileSync } from "node:fs";

/** Node i's inputs: [i-1, a pseudo-random node before i-1] (fewer for the first two). */
export function dagEdges(n: number): number[][] {
  let seed = 17;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed;
  };
  const edges: number[][] = [];
  for (let i = 0; i < n; i++) {
    const deps: number[] = [];
    if (i >= 1) deps.push(i - 1);
    if (i >= 2) deps.push(next() % (i - 1));
    edges.push(deps);
  }
  return edges;
}

/** The builder's script for node i, given its inputs' paths as $dep0, $dep1 in the environment. */
export function nodeScript(i: number, deps: number, tag: string): string {
  const refs = Array.from({ length: deps }, (_, k) => ` $dep${k}`).join("");
  return `echo "node ${i} ${tag}${refs}" > $out`;
}

/** Parse `--sizes 200,1000` (or `--sizes=...`) and similar list flags; `fallback` when absent. */
export function listFlag(args: string[], name: string, fallback: string[]): string[] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}`) return (args[i + 1] ?? "").split(",").filter(Boolean);
    if (a.startsWith(`--${name}=`))
      return a
        .slice(name.length + 3)
        .split(",")
        .filter(Boolean);
  }
  return fallback;
}

/** Milliseconds per derivation over the first and the last 10% of a chain built in order. */
export function firstLast(t0: number, doneAt: number[]): { first: number; last: number } {
  const n = doneAt.length;
  const k = Math.max(1, Math.floor(n / 10));
  const first = (doneAt[k - 1]! - t0) / k;
  const last = (doneAt[n - 1]! - (n - k - 1 >= 0 ? doneAt[n - k - 1]! : t0)) / k;
  return { first, last };
}

/** A directory on tmpfs for a store in memory (/dev/shm), or undefined. */
export function tmpfsDir(): string | undefined {
  return process.platform === "linux" ? "/dev/shm" : undefined;
}

/**
 * CPU time from /proc/PID/stat, ms (the kernel's 10 ms ticks): a process's own (all its
 * threads: utime + stime), or with `children` that of its waited-for children (cutime +
 * cstime); 0 once the process is gone.
 */
export function procCpuMs(pid: number | "self", children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[children ? 13 : 11]) + Number(f[children ? 14 : 12])) * 10;
  } catch {
    return 0;
  }
}
