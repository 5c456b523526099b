// `npm run bench -- starlark`: CPU-bound Starlark programs under our interpreter and under
// python3 (the same files are valid Python), printing times and the ratio.
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PERMISSIVE_DIALECT, Thread, execFile } from "../../core/starlark/index.js";

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

interface Timing {
  ms: number;
  cpu: number;
  out: string;
}

function timeOurs(path: string, src: string, runs: number): Timing {
  const times: number[] = [],
    cpus: number[] = [];
  let out = "";
  for (let i = 0; i < runs; i++) {
    const lines: string[] = [];
    const th = new Thread("bench", (s) => lines.push(s));
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    execFile(th, path, src, {}, { dialect: PERMISSIVE_DIALECT });
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1000);
    out = lines.join("\n");
  }
  return { ms: best(times), cpu: best(cpus), out };
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

export async function run(args: string[] = []): Promise<void> {
  const dir = benchDir();
  const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 5);
  const filter = args.filter((a) => !a.startsWith("--"));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".star") && (filter.length === 0 || filter.some((x) => f.includes(x))))
    .sort();
  console.log(
    `Starlark vs python3: CPU time (and wall time) of evaluating each program in-process (parse + resolve + compile + run), best of ${runs} runs; the ratio is of CPU times.`,
  );
  const rows: string[][] = [["program", "ours cpu (ms)", "python3 cpu (ms)", "ours/python", "ours wall", "python3 wall", "same output"]];
  for (const f of files) {
    const path = join(dir, f);
    const src = readFileSync(path, "utf8");
    const ours = timeOurs(path, src, runs);
    const py = timePython(path, runs);
    rows.push([
      f.replace(/\.star$/, ""),
      ours.cpu.toFixed(1),
      py ? py.cpu.toFixed(1) : "n/a",
      py ? (ours.cpu / py.cpu).toFixed(2) + "x" : "n/a",
      ours.ms.toFixed(1),
      py ? py.ms.toFixed(1) : "n/a",
      py ? (py.out === ours.out ? "yes" : `NO (ours ${JSON.stringify(ours.out)} vs ${JSON.stringify(py.out)})`) : "n/a",
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
}

export const main = run;
