// `npm run bench -- <name>`: bundles bench/<name>/index.ts and runs its `run()`.
// Benchmarks print figures; they never pass or fail.
import { build } from "esbuild";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const available = readdirSync(join(root, "bench"), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, "bench", d.name, "index.ts")))
  .map((d) => d.name);
// Names come first, then each benchmark's own flags: `npm run bench -- build --sizes 200,1000`.
const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith("-"));
const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
const flags = firstFlag < 0 ? [] : args.slice(firstFlag);
const names = wanted.length ? wanted : available;
for (const name of names) {
  if (!available.includes(name)) {
    console.error(`no benchmark "${name}"; there are: ${available.join(", ")}`);
    process.exit(2);
  }
}
mkdirSync(join(root, "dist/bench"), { recursive: true });
for (const name of names) {
  const outfile = join(root, "dist/bench", `${name}.mjs`);
  await build({
    entryPoints: [join(root, "bench", name, "index.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "warning",
  });
  console.log(`\n== bench ${name} ==`);
  const mod = await import(pathToFileURL(outfile).href);
  await mod.run(flags);
}
