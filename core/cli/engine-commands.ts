// The engine's commands: log, history, why-depends, gc, store (path, verify, copy, roots).
// Exit codes: 0 success, 1 failure (a missing build, a corrupt store, no dependency), 2 usage.
import { CommanderError, type Command } from "commander";
import { readTempRoots } from "../store/temp-roots.js";
import { basename } from "node:path";
import { openEngine, type Engine } from "../build/engine.js";
import { readLogChunk } from "../store/logs.js";
import { isStoreName } from "../store/layout.js";
import type { Store } from "../store/store.js";
import type { Backend } from "../builders/backend.js";
import { copyClosure } from "../store/copy.js";
import { storeAdd } from "../build/store-add.js";
import type { Db } from "../db/db.js";
import type { Derivation } from "../derivation/derivation.js";
import { DerivationNameError, displayName, resolveDerivation } from "./naming.js";
import { outLinkRoots } from "./out-links.js";

/** Bad arguments: exit code 2 (the CLI maps every CommanderError to 2). */
class UsageError extends CommanderError {
  constructor(message: string) {
    super(2, "bramble.usage", message);
  }
}
/** The command ran and the answer is "no" / "broken": exit code 1 with this message. */
class Failure extends Error {}

/**
 * Run a command with an engine open. Failures are thrown for the CLI's main to print and
 * turn into exit code 1; usage errors are printed here and thrown as CommanderError (2).
 */
function withEngine(fn: (engine: Engine) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const engine = openEngine();
    try {
      await fn(engine);
    } catch (e) {
      if (e instanceof UsageError) console.error(`bramble: ${e.message}`);
      throw e;
    } finally {
      engine.close();
    }
  };
}

function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

/** A store path, store name, derivation hash (or prefix) or derivation name → store names. */
export function resolveStoreNames(engine: Engine, query: string): string[] {
  const q = query.replace(/\/+$/, "");
  const inStore = q.startsWith(engine.store.dir + "/") ? q.slice(engine.store.dir.length + 1).split("/")[0]! : undefined;
  for (const cand of [inStore, basename(q), q]) {
    if (cand && isStoreName(cand) && engine.store.has(cand)) return [cand];
  }
  // A derivation: a name, a full hash or a unique prefix (naming.ts), and its outputs here.
  let drv;
  try {
    drv = resolveDerivation(engine.db, q);
  } catch (e) {
    if (e instanceof DerivationNameError) throw new Failure(e.message.startsWith("no derivation") ? `${e.message}, and it is not a store path` : e.message);
    throw e;
  }
  const outs = engine.db.drvOutputs(drv.hash);
  if (!outs) throw new Failure(`${drv.name} (${drv.hash}, ${drv.system}) has no outputs in the store: build it first`);
  return Object.values(outs);
}

/** The derivation hash a query names (a name, a hash, a unique prefix); a Failure listing candidates otherwise. */
function derivationHashOf(engine: Engine, query: string): string {
  try {
    return resolveDerivation(engine.db, query).hash;
  } catch (e) {
    if (e instanceof DerivationNameError) throw new Failure(e.message);
    throw e;
  }
}

/** The newest build of the derivation a query names; a build recorded before its derivation (running now) by name or prefix. */
function lastBuildNamed(engine: Engine, query: string) {
  try {
    return engine.db.lastBuildOf(resolveDerivation(engine.db, query).hash);
  } catch (e) {
    if (!(e instanceof DerivationNameError) || !e.message.startsWith("no derivation")) throw e instanceof DerivationNameError ? new Failure(e.message) : e;
    return engine.db.lastBuildOf(query);
  }
}

/**
 * After a copy between two BRAMBLE_PATHs: the target learns which derivations the copied
 * paths are outputs of (drv_outputs, realisations, the derivations themselves), so it uses
 * the copy instead of planning the build again.
 */
function copyRealisations(from: Db, to: Db, names: string[]): number {
  let n = 0;
  for (let i = 0; i < names.length; i += 500) {
    const chunk = names.slice(i, i + 500);
    const marks = chunk.map(() => "?").join(",");
    const outs = from.sql.prepare(`SELECT drv_hash, output, path FROM drv_outputs WHERE path IN (${marks})`).all(...chunk) as {
      drv_hash: string;
      output: string;
      path: string;
    }[];
    const reals = from.sql.prepare(`SELECT resolved, output, path FROM realisations WHERE path IN (${marks})`).all(...chunk) as {
      resolved: string;
      output: string;
      path: string;
    }[];
    const drvs = new Map<string, Derivation>();
    for (const o of outs) {
      const d = from.getDerivation(o.drv_hash);
      if (d) drvs.set(o.drv_hash, d);
    }
    to.putDerivations(drvs);
    for (const o of outs) to.linkOutputs(o.drv_hash, { [o.output]: o.path });
    const put = to.sql.prepare("INSERT OR REPLACE INTO realisations (resolved, output, path) VALUES (?, ?, ?)");
    to.sql.transaction(() => {
      for (const r of reals) put.run(r.resolved, r.output, r.path);
    })();
    n += outs.length;
  }
  return n;
}

/** The gc roots: explicit roots plus every output of the latest evaluation of each project/function/target. */
export function gcRoots(engine: Engine): string[] {
  const roots = new Set(engine.db.explicitRoots());
  const live = [...engine.db.liveEvaluationDrvs()];
  for (const outs of engine.db.drvOutputsMany(live).values()) for (const n of Object.values(outs)) roots.add(n);
  // Paths a live `bramble shell` or `bramble run` is using.
  for (const n of readTempRoots(engine.layout.varDir)) roots.add(n);
  // What `bramble build -o` result links point at.
  for (const n of outLinkRoots(engine.layout.varDir, engine.store.dir)) roots.add(n);
  return [...roots];
}

/** The store of a backend by name (default: the local store). */
function storeNamed(engine: Engine, name: string | undefined): Store {
  if (name === undefined || name === "local") return engine.store;
  // reapi:NAME: the CAS and Action Cache of the reapi backend NAME (docs/remote.md)
  if (name.startsWith("reapi:")) {
    const b = engine.backends.find((x) => x.kind === "reapi" && x.name === name.slice(6)) as (Backend & { casStore?: () => Store }) | undefined;
    if (!b?.casStore)
      throw new UsageError(
        `unknown store ${name}: no reapi backend ${name.slice(6)} (reapi backends: ${
          engine.backends
            .filter((x) => x.kind === "reapi")
            .map((x) => x.name)
            .join(", ") || "none"
        })`,
      );
    return b.casStore();
  }
  const backend = engine.backends.find((b) => b.name === name);
  if (!backend) throw new UsageError(`unknown store ${name}: use a backend name (${engine.backends.map((b) => b.name).join(", ")}) or path:<BRAMBLE_PATH>`);
  return backend.store;
}

/** A chain of references from `from` to `to` (both store names), or undefined. */
export function whyDepends(engine: Engine, from: string, to: string): string[] | undefined {
  const prev = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const n = queue.shift()!;
    if (n === to) {
      const chain: string[] = [];
      for (let c: string | null = n; c !== null; c = prev.get(c) ?? null) chain.unshift(c);
      return chain;
    }
    for (const r of engine.store.references(n)) {
      if (!prev.has(r)) {
        prev.set(r, n);
        queue.push(r);
      }
    }
  }
  return undefined;
}

export function registerEngineCommands(program: Command): void {
  program
    .command("log")
    .description("print a build's log (by build id, derivation hash or name); -f follows a running build")
    .argument("<build>", "a build id, a derivation hash (or prefix) or a derivation name")
    .option("-f, --follow", "keep printing while the build runs")
    .action((query: string, flags: { follow?: boolean }) =>
      withEngine(async (engine) => {
        const build = /^\d+$/.test(query) ? engine.db.getBuild(Number(query)) : lastBuildNamed(engine, query);
        if (!build) throw new Failure(`no build of ${query} is recorded`);
        let from = 0;
        for (;;) {
          const chunk = readLogChunk(engine, build.id, from);
          for (const l of chunk.lines) process.stdout.write(l + "\n");
          from = chunk.nextLine;
          if (!flags.follow || !chunk.running) break;
          await new Promise((r) => setTimeout(r, 200));
        }
      })(),
    );

  program
    .command("history")
    .description("list recent builds")
    .option("-n, --limit <n>", "how many", "50")
    .option("--json", "print JSON")
    .argument("[derivation]", "only builds of this derivation (a name, a hash or a unique prefix)")
    .action((query: string | undefined, flags: { limit: string; json?: boolean }) =>
      withEngine((engine) => {
        const limit = Number.parseInt(flags.limit, 10);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive number, not ${flags.limit}`);
        const drvHash = query === undefined ? undefined : derivationHashOf(engine, query);
        const builds = engine.db.listBuilds({ limit, drvHash });
        // The system is shown whenever a name in the list belongs to derivations of several systems.
        const systemOf = new Map(builds.map((b) => [b.drvHash, engine.db.getDerivation(b.drvHash)?.system]));
        const entries = builds.map((b) => ({ name: b.name, system: systemOf.get(b.drvHash) }));
        if (flags.json) {
          console.log(JSON.stringify(builds, null, 2));
          return;
        }
        for (const b of builds) {
          const when = new Date(b.startedAt).toISOString().replace("T", " ").slice(0, 19);
          const took = b.endedAt ? `${((b.endedAt - b.startedAt) / 1000).toFixed(1)}s` : "-";
          const exit = b.exitCode !== null && b.status === "failed" ? ` exit ${b.exitCode}` : "";
          const name = displayName(b.name, systemOf.get(b.drvHash), entries);
          console.log(
            `${String(b.id).padStart(6)}  ${b.status.padEnd(9)} ${when}  ${took.padStart(7)}  ${b.drvHash.slice(0, 12)}  ${name}  [${b.backend}]${exit}`,
          );
        }
      })(),
    );

  program
    .command("why-depends")
    .description("show why A's runtime closure contains B (a chain of references)")
    .argument("<a>", "a store path, derivation hash or name")
    .argument("<b>", "a store path, derivation hash or name")
    .action((a: string, b: string) =>
      withEngine((engine) => {
        const froms = resolveStoreNames(engine, a);
        const tos = resolveStoreNames(engine, b);
        for (const f of froms) {
          for (const t of tos) {
            const chain = whyDepends(engine, f, t);
            if (chain) {
              chain.forEach((n, i) => console.log(`${i ? "  ".repeat(i - 1) + "└── " : ""}${engine.store.path(n)}`));
              return;
            }
          }
        }
        throw new Failure(`${a} does not depend on ${b}`);
      })(),
    );

  program
    .command("gc")
    .description("delete store paths not reachable from the roots (latest evaluations and explicit roots)")
    .option("--dry-run", "list what would be deleted, and the bytes")
    .option("--store <store>", "collect another backend's store (docker, an ssh host) instead of the local one")
    .action((flags: { dryRun?: boolean; store?: string }) =>
      withEngine(async (engine) => {
        const store = storeNamed(engine, flags.store);
        const r = await store.gc({ dryRun: !!flags.dryRun, roots: gcRoots(engine), liveDerivations: engine.db.liveEvaluationDrvs() });
        for (const n of r.deleted) console.log(`${r.dryRun ? "would delete" : "deleted"} ${store.path(n)}`);
        console.log(`${r.dryRun ? "would free" : "freed"} ${humanBytes(r.bytes)} (${r.deleted.length} paths)`);
      })(),
    );

  const store = program.command("store").description("the local store");
  store
    .command("add")
    .description("add a file or directory to the store, content-addressed; print its hash and how to pin it")
    .argument("<path>", "a file (an archive is unpacked) or a directory (copied, symlinks kept)")
    .action((path: string) =>
      withEngine(async (engine) => {
        const r = await storeAdd(engine, path);
        console.log(`${r.hash}  ${r.path}`);
        console.log(`pin it in a .bramble file:  ${r.pin}`);
        console.log(`or in bramble.lock [urlhashes]:  ${r.lockLine}`);
      })(),
    );
  store
    .command("path")
    .description("print the store directory, or the output paths of a derivation")
    .argument("[derivation]", "a derivation hash or name, or a store path")
    .action((query: string | undefined) =>
      withEngine((engine) => {
        if (!query) console.log(engine.store.dir);
        else for (const n of resolveStoreNames(engine, query)) console.log(engine.store.path(n));
      })(),
    );
  store
    .command("closure")
    .description("print the runtime closure of store paths or derivations (every path they reference, transitively)")
    .argument("<paths...>", "store paths, derivation names, hashes or unique prefixes")
    .option("--size", "print each path's size, and the closure's total")
    .action((paths: string[], flags: { size?: boolean }) =>
      withEngine((engine) => {
        const names = paths.flatMap((p) => resolveStoreNames(engine, p));
        const closure = [...engine.store.closureSync(names)].sort();
        let total = 0;
        for (const n of closure) {
          const size = engine.db.pathInfo(n)?.size ?? 0;
          total += size;
          console.log(flags.size ? `${engine.store.path(n)}\t${humanBytes(size)}` : engine.store.path(n));
        }
        if (flags.size) console.log(`total\t${humanBytes(total)} (${closure.length} paths)`);
      })(),
    );
  store
    .command("verify")
    .description("re-hash every output and check its modes and owner; report missing, corrupt or changed ones (and what refers to them)")
    .option("--repair", "remove the bad paths so the next build rebuilds them")
    .option("--store <store>", "verify another backend's store (docker, an ssh host) instead of the local one")
    .action((flags: { repair?: boolean; store?: string }) =>
      withEngine(async (engine) => {
        const store = storeNamed(engine, flags.store);
        const problems = await store.verify({ repair: !!flags.repair });
        for (const p of problems) {
          const detail = p.problem === "corrupt" ? ` (expected ${p.expected}, got ${p.got})` : p.detail ? ` (${p.detail})` : "";
          console.log(`${p.problem}: ${store.path(p.name)}${detail}${flags.repair ? (p.problem === "modes" ? " — modes restored" : " — removed") : ""}`);
        }
        if (!problems.length) console.log("store verified: all paths intact");
        else if (!flags.repair) throw new Failure(`store verify: ${problems.length} bad paths (run with --repair to remove them)`);
      })(),
    );
  store
    .command("copy")
    .description("copy a closure between stores (a backend name, or another BRAMBLE_PATH as path:<dir>)")
    .requiredOption("--from <store>", "source store")
    .requiredOption("--to <store>", "destination store")
    .argument("<paths...>", "store paths, derivation hashes or names")
    .action((paths: string[], flags: { from: string; to: string }) =>
      withEngine(async (engine) => {
        const open = (spec: string): { store: Store; db?: Db; close(): void } => {
          if (spec.startsWith("path:")) {
            const other = openEngine(spec.slice(5));
            return { store: other.store, db: other.db, close: () => other.close() };
          }
          if (spec === "local") return { store: engine.store, db: engine.db, close: () => {} };
          return { store: storeNamed(engine, spec), close: () => {} };
        };
        const from = open(flags.from);
        const to = open(flags.to);
        try {
          const names: string[] = [];
          for (const p of paths) {
            if (from.store === engine.store) {
              names.push(...resolveStoreNames(engine, p));
              continue;
            }
            const n = p.startsWith(from.store.dir + "/") ? p.slice(from.store.dir.length + 1).split("/")[0]! : basename(p);
            if (!(await from.store.queryPathInfos([n])).has(n)) throw new Failure(`${p} is not valid in the ${from.store.backend} store`);
            names.push(n);
          }
          const { copied, closure } = await copyClosure(from.store, to.store, names);
          for (const n of copied) console.log(`copied ${to.store.path(n)}`);
          // The target store's database learns which derivations these are the outputs of.
          const linked = from.db && to.db && from.db !== to.db ? copyRealisations(from.db, to.db, closure) : 0;
          console.log(`${copied.length} paths copied${linked ? `, ${linked} derivation outputs recorded in the target` : ""}`);
        } finally {
          from.close();
          to.close();
        }
      })(),
    );
  store
    .command("add-root")
    .description("keep a store path (and its closure) from gc")
    .argument("<path>")
    .action((p: string) =>
      withEngine((engine) => {
        for (const n of resolveStoreNames(engine, p)) engine.db.addRoot(n);
      })(),
    );
  store
    .command("remove-root")
    .description("stop keeping a store path from gc")
    .argument("<path>")
    .action((p: string) =>
      withEngine((engine) => {
        for (const n of resolveStoreNames(engine, p)) engine.db.removeRoot(n);
      })(),
    );
}
