// A generated project of `modules × layers × width` derivations for the graph tests and `npm run bench -- ui`:
// module m<k> (m<k>/default.bramble) makes `layers` layers of `width` derivations named m<k>_<layer>_<i>,
// each needing two of the layer before (the first layer of m<k> needs two of m<k-1>'s last layer);
// the root module's `default` chains the modules and returns the last layer.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface GeneratedShape {
  modules: number;
  layers: number;
  width: number;
}

export function generateProject(dir: string, { modules, layers, width }: GeneratedShape): void {
  writeFileSync(join(dir, "bramble.toml"), `[package]\nname = "gen"\nversion = "0.1.0"\n`);
  const loads: string[] = [];
  const calls: string[] = [];
  for (let k = 0; k < modules; k++) {
    mkdirSync(join(dir, `m${k}`), { recursive: true });
    writeFileSync(
      join(dir, `m${k}`, "default.bramble"),
      `def build(prev):
    for l in range(${layers}):
        cur = []
        for i in range(${width}):
            env = {}
            if prev:
                env = {"a": prev[i % len(prev)].out, "b": prev[(i * 7 + 3) % len(prev)].out}
            cur.append(derivation(name = "m${k}_%d_%d" % (l, i), builder = "/bin/sh", args = ["-c", "mkdir -p $out"], env = env))
        prev = cur
    return prev
`,
    );
    loads.push(`load("gen/m${k}", build${k} = "build")`);
    calls.push(`    prev = build${k}(prev)`);
  }
  writeFileSync(join(dir, "default.bramble"), `${loads.join("\n")}\n\ndef default():\n    prev = []\n${calls.join("\n")}\n    return prev\n`);
}
