// `npm run bench -- startup [--runs 9]`: how long `bramble` takes to start and answer, per
// verb, beside `node -e 0` (Node's own start-up, with and without NODE_EXTRA_CA_CERTS, which this
// machine and CI set and which node reads at start-up) and python3 -c pass, as whole processes
// alternated round by round; medians of wall time, means of CPU time. `bramble` is bin/bramble,
// the package's command: a shell launcher that starts node without NODE_EXTRA_CA_CERTS for
// --version, starlark and help (bin/bramble), then bin/bramble.mjs: `--version` and `starlark` take
// its fast path (dist/fast.mjs); the other verbs load the CLI bundle (`--help` runs no command, so
// it is pure start-up). Issue 17 asks for under 60 ms for `--version` and a one-line starlark file.
// `bramble starlark` goes through the Starlark server (core/cli/starlark-server.ts); -batch does not.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { listFlag, procCpuMs } from "../build/dag.js";

const root = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../..");

export async function run(args: string[] = []): Promise<void> {
  const runs = Number(listFlag(args, "runs", ["9"])[0]);
  const dir = mkdtempSync(join(tmpdir(), "bramble-startup-"));
  const star = join(dir, "one.star");
  writeFileSync(star, 'print("hello")\n');
  // A project of one module and one derivation, for the verbs that read one.
  const project = join(dir, "proj");
  mkdirSync(project);
  writeFileSync(join(project, "bramble.toml"), '[package]\nname = "one"\n');
  writeFileSync(
    join(project, "default.bramble"),
    '"""One derivation."""\n\ndef default():\n    return derivation(name = "x", builder = "/bin/sh", args = ["-c", "echo x > $out"])\n',
  );
  const bin = join(root, "bin/bramble");
  const mjs = join(root, "bin/bramble.mjs");
  const cli = join(root, "dist/cli.mjs");
  const node = process.execPath;
  const cases: [string, string, string[]][] = [
    ["node -e 0", node, ["-e", "0"]],
    ...(process.env.NODE_EXTRA_CA_CERTS ? [[NO_CA, "/usr/bin/env", ["-u", "NODE_EXTRA_CA_CERTS", node, "-e", "0"]] as [string, string, string[]]] : []),
    ["python3 -c pass", "/usr/bin/python3", ["-c", "pass"]],
    ["bramble --version", bin, ["--version"]],
    ["bramble starlark one.star", bin, ["starlark", star]],
    ["bramble starlark -batch one.star", bin, ["starlark", "-batch", star]],
    ["bramble --help", bin, ["--help"]],
    ["bramble build --help", bin, ["build", "--help"]],
    ["bramble serve --help", bin, ["serve", "--help"]],
    ["bramble store --help", bin, ["store", "--help"]],
    ["bramble gc --dry-run (opens the DB)", bin, ["gc", "--dry-run"]],
    ["bramble history (an empty store)", bin, ["history"]],
    ["bramble ls (a one-module project)", bin, ["ls", project]],
    ["bramble graph (evaluates it)", bin, ["graph", `${project}:default`]],
    ["node bin/bramble.mjs --version (no launcher)", node, [mjs, "--version"]],
    ["node bin/bramble.mjs starlark one.star", node, [mjs, "starlark", star]],
    ["node dist/cli.mjs --version (no fast path)", node, [cli, "--version"]],
  ];
  // The launcher runs the node on PATH: this one.
  const env = { ...process.env, BRAMBLE_PATH: join(dir, "home"), PATH: `${dirname(node)}:${process.env.PATH ?? ""}` };
  const times = new Map<string, number[]>(cases.map(([l]) => [l, []]));
  const cpu = new Map<string, number>(cases.map(([l]) => [l, 0]));
  try {
    for (let r = 0; r < runs; r++) {
      for (const [label, cmd, argv] of cases) {
        const c0 = procCpuMs("self", true);
        const t0 = performance.now();
        const res = spawnSync(cmd, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
        const ms = performance.now() - t0;
        cpu.set(label, cpu.get(label)! + procCpuMs("self", true) - c0);
        if (res.status !== 0) throw new Error(`${label} exited with ${res.status}: ${res.stderr}`);
        times.get(label)!.push(ms);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const base = median(times.get("node -e 0")!);
  const baseCpu = cpu.get("node -e 0")! / runs;
  // bin/bramble starts node without NODE_EXTRA_CA_CERTS for some verbs: beside that node too.
  const bare = times.has(NO_CA) ? { wall: median(times.get(NO_CA)!), cpu: cpu.get(NO_CA)! / runs } : undefined;
  console.log(`median wall of ${runs} alternated runs, and mean CPU (user+sys) per run, in ms; "over node" subtracts node -e 0's`);
  console.log(
    `(NODE_EXTRA_CA_CERTS is ${process.env.NODE_EXTRA_CA_CERTS ? `set: ${process.env.NODE_EXTRA_CA_CERTS}` : "not set"}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")})`,
  );
  const over = (m: number, c: number, b: { wall: number; cpu: number }) =>
    `wall ${(m - b.wall).toFixed(1).padStart(6)}, cpu ${(c - b.cpu).toFixed(1).padStart(6)}`;
  for (const [label] of cases) {
    const m = median(times.get(label)!);
    const c = cpu.get(label)! / runs;
    const ours = label.startsWith("bramble") || label.startsWith("node bin") || label.startsWith("node dist");
    const cols = ours ? `   over node: ${over(m, c, { wall: base, cpu: baseCpu })}${bare ? `   over node without it: ${over(m, c, bare)}` : ""}` : "";
    console.log(`${label.padEnd(48)} wall ${m.toFixed(1).padStart(7)}  cpu ${c.toFixed(1).padStart(6)}${cols}`);
  }
  console.log(
    '"bramble starlark" hands its run to the warm Starlark server (started by the first run); its CPU is the client\'s alone: ' +
      "-batch is a process of its own. The six bench/starlark programs as whole processes, the server's CPU counted: npm run bench -- starlark",
  );
}

const NO_CA = "env -u NODE_EXTRA_CA_CERTS node -e 0";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
