// `npm run bench -- starlark`: CPU-bound Starlark programs under our interpreter and under
// python3 (the same files are valid Python), printing times and the ratio: in-process (the
// interpreter alone), then as whole processes, `bramble starlark FILE` against `python3 FILE`
// (issue 17 point 6): through the warm Starlark server, as bin/bramble runs it, and with
// -batch, in a process of its own. `--before=DIR` adds another checkout's `bin/bramble.mjs` (built, e.g.
// a `git worktree` of the previous commit) to the whole-process table, alternated run by run
// with ours, and its interpreter (DIR/core/starlark, bundled) to the in-process table, run in
// turn with ours, so a change's before and after come from the same run. `--in-process`
// skips the whole processes; `--runs=N` (5).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { pathToFileURL } from "node:url";
import * as ours from "../../core/starlark/index.js";
import { procCpuMs } from "../build/dag.js";

/** What the bench uses of an interpreter: ours, or another checkout's (--before). */
type Interpreter = Pick<typeof ours, "PERMISSIVE_DIALECT" | "Thread" | "execFile">;

/** Another checkout's interpreter (DIR/core/starlark), bundled with esbuild and loaded here. */
async function loadInterpreter(dir: string): Promise<Interpreter> {
  const { build } = await import("esbuild");
  const outfile = join(tmpdir(), `bench-starlark-before-${process.pid}.mjs`);
  await build({ entryPoints: [join(dir, "core/starlark/index.ts")], outfile, bundle: true, platform: "node", format: "esm", logLevel: "warning" });
  return (await import(pathToFileURL(outfile).href)) as Interpreter;
}

function benchDir(): string {
  // When bundled, import.meta.url points at the bundle; fall back to the source tree.
  const candidates = [join(process.cwd(), "bench", "starlark"), dirname(fileURLToPath(import.meta.url))];
  for (const c of candidates) {
    try {
      if (readdirSync(c).some((f) => f.endsWith(".star"))) return c;
    } catch {
      // try the next
    }
  }
  throw new Error("bench/starlark: cannot find the .star programs");
}

function best(times: number[]): number {
  return Math.min(...times);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The `bramble starlark` options a program needs, from its `# bramble starlark flags: ...` line. */
function programFlags(src: string): string[] {
  const m = /^# bramble starlark flags: (.*)$/m.exec(src);
  return m ? m[1]!.trim().split(/\s+/) : [];
}

interface Timing {
  ms: number;
  cpu: number;
  out: string;
}

/** Each interpreter on the program in turn, `runs` times: the best times of each. */
function timeInterpreters(interps: Interpreter[], path: string, src: string, runs: number): Timing[] {
  const times = interps.map(() => [] as number[]),
    cpus = interps.map(() => [] as number[]);
  const outs = interps.map(() => "");
  // The order alternates run by run: the interpreter run first in a round was the slower one
  // on garbage-heavy programs (strings.star: ours 1.15x before's when always first, 0.8x when
  // always second; the collector's work falls unevenly), so neither keeps that place.
  const order = interps.map((_, k) => k);
  for (let i = 0; i < runs; i++) {
    (i % 2 === 0 ? order : [...order].reverse()).forEach((k) => {
      const it = interps[k]!;
      const lines: string[] = [];
      const th = new it.Thread("bench", (s) => lines.push(s));
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      it.execFile(th, path, src, {}, { dialect: it.PERMISSIVE_DIALECT });
      times[k]!.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpus[k]!.push((c.user + c.system) / 1000);
      outs[k] = lines.join("\n");
    });
  }
  return interps.map((_, k) => ({ ms: best(times[k]!), cpu: best(cpus[k]!), out: outs[k]! }));
}

function timePython(path: string, runs: number): Timing | undefined {
  const times: number[] = [],
    cpus: number[] = [];
  let out = "";
  const prog =
    "import sys,time\nsrc=open(sys.argv[1]).read()\nt=time.perf_counter()\nc=time.process_time()\nexec(compile(src,sys.argv[1],'exec'),{'__name__':'__main__'})\nsys.stderr.write('%f %f\\n'%((time.perf_counter()-t)*1000,(time.process_time()-c)*1000))\n";
  for (let i = 0; i < runs; i++) {
    const r = spawnSync("python3", ["-c", prog, path], { encoding: "utf8" });
    if (r.status !== 0) return undefined;
    out = String(r.stdout).trim();
    const [wall, cpu] = String(r.stderr).trim().split("\n").pop()!.split(" ").map(parseFloat);
    times.push(wall);
    cpus.push(cpu);
  }
  return { ms: best(times), cpu: best(cpus), out };
}

/** A checkout's command: bin/bramble (the package's, which picks node's options) or node bin/bramble.mjs. */
function brambleCommand(root: string, batch = false): [string, string[]] {
  const sh = join(root, "bin", "bramble");
  return existsSync(sh) ? [sh, ["starlark", ...(batch ? ["-batch"] : [])]] : [process.execPath, [join(root, "bin", "bramble.mjs"), "starlark"]];
}

/**
 * The pid of the Starlark server the checkout at `root` talks to (core/cli/starlark-server.ts),
 * if one runs: its socket's name carries the bundle's device, inode, size and time, written as
 * core/cli/starlark-client.c writes them (a server of an earlier build may still be running).
 */
function starlarkServerPid(root: string): number | undefined {
  const st = statSync(join(root, "dist", "fast.cjs"), { bigint: true });
  const name = `/starlark-${st.dev.toString(16)}-${st.ino.toString(16)}-${st.size.toString(16)}-${st.mtimeNs / 1_000_000_000n}.${String(st.mtimeNs % 1_000_000_000n).padStart(9, "0")}`;
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      // (…-oHASH.sock when NODE_OPTIONS is set: a server per node options)
      if (argv[2] === "__starlark-server" && /^(-o[0-9a-f]{8})?\.sock$/.test(argv[3]?.split(name)[1] ?? "")) return Number(e);
    } catch {
      // gone, or not ours
    }
  }
  return undefined;
}

/**
 * Start the checkout's Starlark server, as a first `bramble starlark` does, and wait for it:
 * the pid, to count its CPU time with its clients'.
 */
function warmStarlarkServer(root: string, file: string): number | undefined {
  const [cmd, pre] = brambleCommand(root);
  for (let i = 0; i < 100; i++) {
    spawnSync(cmd, [...pre, file]);
    const pid = starlarkServerPid(root);
    if (pid !== undefined && i > 0) return pid;
    spawnSync("sleep", ["0.05"]);
  }
  return undefined;
}

/**
 * Each program as whole processes: each contender's command on the file, alternated run by
 * run; best and median wall time and best CPU time (the kernel's child times, 10 ms ticks),
 * in ms, and whether the outputs are python3's.
 */
function wholeProcesses(dir: string, files: string[], runs: number, before: string | undefined): void {
  const root = join(dir, "..", "..");
  const contenders: [string, string, string[]][] = [
    ["bramble", ...brambleCommand(root)],
    ["batch", ...brambleCommand(root, true)],
  ];
  if (before) {
    if (!existsSync(join(before, "dist", "fast.mjs"))) throw new Error(`--before=${before}: no dist/fast.mjs there (run node scripts/build.mjs cli in it)`);
    contenders.push(["before", ...brambleCommand(before)]);
  }
  contenders.push(["python3", "/usr/bin/python3", []]);
  // First a one-line file: start-up alone (issue 16 point 4).
  const oneLine = join(mkdtempSync(join(tmpdir(), "bramble-bench-")), "one-line.star");
  writeFileSync(oneLine, 'print("hello")\n');
  const already = starlarkServerPid(root);
  const server = already ?? warmStarlarkServer(root, oneLine);
  console.log(
    `\nWhole processes (start-up included: ${contenders.map(([n, c, a]) => `${n} = ${[c, ...a].join(" ")}`).join("; ")}), ms: wall best / median and CPU best of ${runs} runs alternated between the commands; the ratios are of wall bests (and CPU bests).` +
      ` "bramble" hands each run to the warm Starlark server (pid ${server ?? "none: it did not start"}, ${already ? "already running" : "started for this bench"}); its CPU time is counted with the client's. "batch" runs each in a process of its own.`,
  );
  const head = [
    "program",
    ...contenders.map(([n]) => `${n} wall / med / cpu`),
    ...(before ? ["bramble/before"] : []),
    "bramble/python3",
    "batch/python3",
    "same output",
  ];
  const rows: string[][] = [head];
  for (const path of [oneLine, ...files.map((f) => join(dir, f))]) {
    const f = basename(path);
    const flags = programFlags(readFileSync(path, "utf8"));
    const times = contenders.map(() => [] as number[]);
    const cpus = contenders.map(() => [] as number[]);
    const outs = contenders.map(() => "");
    for (let r = 0; r < runs; r++) {
      contenders.forEach(([name, cmd, pre], i) => {
        const s0 = name === "bramble" ? (server === undefined ? 0 : procCpuMs(server)) : 0;
        const c0 = procCpuMs("self", true);
        const t0 = performance.now();
        const p = spawnSync(cmd, name === "python3" ? [path] : [...pre, ...flags, path], { encoding: "utf8" });
        times[i]!.push(performance.now() - t0);
        cpus[i]!.push(procCpuMs("self", true) - c0 + (name === "bramble" ? (server === undefined ? 0 : procCpuMs(server)) - s0 : 0));
        outs[i] = p.status === 0 ? p.stdout : `exit ${p.status}: ${p.stderr.split("\n")[0]}`;
      });
    }
    const bests = times.map(best),
      cbests = cpus.map(best);
    const ratio = (a: number, b: number) => `${(bests[a]! / bests[b]!).toFixed(2)}x (${(cbests[a]! / Math.max(cbests[b]!, 1)).toFixed(2)}x)`;
    const py = outs[outs.length - 1];
    rows.push([
      f.replace(/\.star$/, ""),
      ...times.map((t, i) => `${best(t).toFixed(0)} / ${median(t).toFixed(0)} / ${cbests[i]}`),
      ...(before ? [ratio(0, 2)] : []),
      ratio(0, contenders.length - 1),
      ratio(1, contenders.length - 1),
      outs.every((o) => o === py) ? "yes" : `NO (${outs.map((o, i) => `${contenders[i]![0]} ${JSON.stringify(o.slice(0, 60))}`).join(", ")})`,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
}

export async function run(args: string[] = []): Promise<void> {
  const dir = benchDir();
  const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 5);
  const before = args.find((a) => a.startsWith("--before="))?.slice(9);
  const filter = args.filter((a) => !a.startsWith("--"));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".star") && (filter.length === 0 || filter.some((x) => f.includes(x))))
    .sort();
  const interps: Interpreter[] = [ours];
  if (before) interps.push(await loadInterpreter(before));
  console.log(
    `Starlark vs python3: CPU time (and wall time) of evaluating each program in-process (parse + resolve + compile + run), best of ${runs} runs; the ratio is of CPU times.` +
      (before ? ` "before" is ${before}'s interpreter, run in turn with ours in this process (which goes first alternates run by run).` : ""),
  );
  const rows: string[][] = [
    [
      "program",
      "ours cpu (ms)",
      ...(before ? ["before cpu", "ours/before"] : []),
      "python3 cpu (ms)",
      "ours/python",
      "ours wall",
      "python3 wall",
      "same output",
    ],
  ];
  for (const f of files) {
    const path = join(dir, f);
    const src = readFileSync(path, "utf8");
    const [mine, old] = timeInterpreters(interps, path, src, runs);
    const py = timePython(path, runs);
    rows.push([
      f.replace(/\.star$/, ""),
      mine!.cpu.toFixed(1),
      ...(old ? [old.cpu.toFixed(1), (mine!.cpu / old.cpu).toFixed(2) + "x"] : []),
      py ? py.cpu.toFixed(1) : "n/a",
      py ? (mine!.cpu / py.cpu).toFixed(2) + "x" : "n/a",
      mine!.ms.toFixed(1),
      py ? py.ms.toFixed(1) : "n/a",
      py ? (py.out === mine!.out && (!old || old.out === py.out) ? "yes" : `NO (ours ${JSON.stringify(mine!.out)} vs ${JSON.stringify(py.out)})`) : "n/a",
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
  if (!args.includes("--in-process")) wholeProcesses(dir, files, runs, before);
}

export const main = run;
