// `bramble starlark` as bin/bramble runs it: dist/fast.cjs (core/cli/fast.ts, the Starlark
// interpreter and nothing else) compiled with V8's code cache, as CommonJS (Node's ES module
// loader costs a few milliseconds more to start). The cache is dist/fast.cjs.<size>-<mtime>.v8cache,
// written after the first run that had none (or one V8 refused: another node, other flags) and
// removed by scripts/build.mjs; V8 checks a cache against the source's length only, so the name
// carries the bundle's size and time. Not writable (an installed package): no cache, same result.
// `npm run bench -- startup` shows what each part saves.
const { readFileSync, renameSync, rmSync, statSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");
const vm = require("node:vm");
const { wrap } = require("node:module");

// What bin/bramble took out of node's start-up goes back for whatever this process starts.
if (process.env.BRAMBLE_NODE_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS ??= process.env.BRAMBLE_NODE_EXTRA_CA_CERTS;
  delete process.env.BRAMBLE_NODE_EXTRA_CA_CERTS;
}

const file = join(__dirname, "../dist/fast.cjs");
const source = readFileSync(file, "utf8");
const st = statSync(file);
const cacheFile = `${file}.${st.size}-${Math.floor(st.mtimeMs)}.v8cache`;
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  /* none yet */
}
const script = new vm.Script(wrap(source), { filename: file, cachedData });
const mod = { exports: {} };
script.runInThisContext()(mod.exports, require, mod, file, join(file, ".."));
const code = mod.exports.fastMain(process.argv.slice(2));
if (code === undefined) {
  console.error(`bramble-fast: not a verb of dist/fast.cjs: ${process.argv.slice(2).join(" ")} (run bin/bramble)`);
  process.exitCode = 2;
} else process.exitCode = code;
if (cachedData === undefined || script.cachedDataRejected) {
  // After the run, so the functions it compiled are in the cache too.
  process.once("beforeExit", () => {
    const tmp = `${cacheFile}.${process.pid}`;
    try {
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      rmSync(tmp, { force: true }); // a read-only dist/: run without
    }
  });
}
