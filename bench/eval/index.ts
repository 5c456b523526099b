// `npm run bench -- eval`: evaluate a generated project of N derivations (each depending
// on two earlier ones), hash them and build the graph. Each size runs in its own process
// so its peak RSS is its own. Goals (issue 5): 10k under 1 s, 50k under 5 s, < 500 MB.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createContext, evaluate } from "../../core/project/evaluate.js";
import { readProject } from "../../core/project/project.js";

const SIZES = [1_000, 10_000, 50_000];

function makeProject(n: number): string {
  const root = mkdtempSync(join(tmpdir(), "bramble-bench-eval-"));
  writeFileSync(join(root, "bramble.toml"), '[package]\nname = "bench"\n');
  writeFileSync(
    join(root, "default.bramble"),
    `
def make(n):
    drvs = []
    for i in range(n):
        deps = [drvs[i - 1].out, drvs[i // 2].out] if i >= 2 else []
        drvs.append(derivation(
            name = "d%d" % i,
            builder = "/bin/sh",
            args = ["-c", "echo %d > $out" % i] + deps,
            env = {"INDEX": str(i), "KIND": "bench"},
        ))
    return drvs

def default():
    return make(${n})
`,
  );
  return root;
}

function child(n: number): void {
  const root = makeProject(n);
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const ev = evaluate(createContext(readProject(root)), [".:default"], root);
  let edges = 0;
  for (const drv of ev.drvs.values()) edges += drv.args.length > 2 ? 2 : 0;
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const rssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ n, nodes: ev.drvs.size, edges, ms, cpuMs, rssMb }) + "\n");
}

export async function run(args: string[] = []): Promise<void> {
  const sizeArg = args.find((a) => a.startsWith("--child="));
  if (sizeArg) return child(Number(sizeArg.slice("--child=".length)));
  const self = fileURLToPath(import.meta.url);
  // CPU time is printed beside wall time: on a busy machine it is the steadier figure.
  console.log("derivations   nodes   edges   wall (ms)   CPU (ms)   peak RSS (MB)");
  for (const n of SIZES) {
    const r = spawnSync(process.execPath, ["-e", `import(${JSON.stringify(self)}).then(m => m.run(["--child=${n}"]))`, "--input-type=module"], {
      encoding: "utf8",
    });
    if (r.status !== 0) {
      console.log(`${n}: failed\n${r.stderr}`);
      continue;
    }
    const res = JSON.parse(r.stdout.trim().split("\n").pop()!);
    console.log(
      `${String(n).padStart(11)} ${String(res.nodes).padStart(7)} ${String(res.edges).padStart(7)} ${res.ms.toFixed(0).padStart(11)} ${res.cpuMs.toFixed(0).padStart(10)} ${res.rssMb.toFixed(0).padStart(15)}`,
    );
  }
}
