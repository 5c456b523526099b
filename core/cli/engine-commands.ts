// The store's commands: log, history, why-depends, gc, store (path, closure, verify, copy, add,
// roots). Each asks the service's local methods (core/api/local.ts); none opens the engine.
// Exit codes: 0 success, 1 failure (a missing build, a corrupt store, no dependency), 2 usage.
import { CommanderError, type Command } from "commander";
import type { localCaller } from "../api/local.js";
import { displayName } from "./naming.js";
import type { WhyDependsNode } from "../api/schema.js";

/** Bad arguments: exit code 2 (the CLI maps every CommanderError to 2). */
class UsageError extends CommanderError {
  constructor(message: string) {
    super(2, "bramble.usage", message);
  }
}

type Call = ReturnType<typeof localCaller>;

/**
 * Run a command with a service open. Failures are thrown for the CLI's main to print and
 * turn into exit code 1; usage errors are printed here and thrown as CommanderError (2).
 */
function withService(fn: (call: Call) => Promise<void> | void): () => Promise<void> {
  return async () => {
    // loaded here, not at start-up: --help and the other commands need none of it (issue 17)
    const { createService, localCaller, UsageProblem } = await import("./command-modules.js");
    const host = createService();
    try {
      await fn(localCaller(host));
    } catch (e) {
      const usage = e instanceof UsageProblem ? new UsageError(e.message) : e;
      if (usage instanceof UsageError) console.error(`bramble: ${usage.message}`);
      throw usage;
    } finally {
      host.close();
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

export function registerEngineCommands(program: Command): void {
  program
    .command("log")
    .description("print a build's log (by build id, derivation hash or name); -f follows a running build")
    .argument("<build>", "a build id, a derivation hash (or prefix) or a derivation name")
    .option("-f, --follow", "keep printing while the build runs")
    .action((query: string, flags: { follow?: boolean }) =>
      withService(async (call) => {
        const { buildId } = await call("log.find", { query });
        let from = 0;
        for (;;) {
          const chunk = await call("log.chunk", { buildId, fromLine: from });
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
      withService(async (call) => {
        const limit = Number.parseInt(flags.limit, 10);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive number, not ${flags.limit}`);
        const { builds, systems } = await call("history.named", { limit, query });
        // The system is shown whenever a name in the list belongs to derivations of several systems.
        const entries = builds.map((b) => ({ name: b.name, system: systems[b.drvHash] }));
        if (flags.json) {
          console.log(JSON.stringify(builds, null, 2));
          return;
        }
        for (const b of builds) {
          const when = new Date(b.startedAt).toISOString().replace("T", " ").slice(0, 19);
          const took = b.endedAt ? `${((b.endedAt - b.startedAt) / 1000).toFixed(1)}s` : "-";
          const exit = b.exitCode !== null && b.status === "failed" ? ` exit ${b.exitCode}` : "";
          const name = displayName(b.name, systems[b.drvHash], entries);
          console.log(
            `${String(b.id).padStart(6)}  ${b.status.padEnd(9)} ${when}  ${took.padStart(7)}  ${b.drvHash.slice(0, 12)}  ${name}  [${b.backend}]${exit}`,
          );
        }
      })(),
    );

  program
    .command("why-depends")
    .description("show why A's runtime closure contains B: the references from A to B, as a tree (as nix why-depends)")
    .argument("<a>", "a store path, derivation hash or name")
    .argument("<b>", "a store path, derivation hash or name")
    .option("-a, --all", "every path from A to B, not only the shortest")
    .option("--precise", "for each reference, the file that holds it and the bytes around it")
    .action((a: string, b: string, flags: { all?: boolean; precise?: boolean }) =>
      withService(async (call) => {
        const tree = await call("store.whyDepends", { a, b, all: !!flags.all, precise: !!flags.precise });
        process.stdout.write(whyDependsText(tree));
      })(),
    );

  program
    .command("gc")
    .description("delete store paths not reachable from the roots (latest evaluations and explicit roots)")
    .option("--dry-run", "list what would be deleted, and the bytes")
    .option("--store <store>", "collect another backend's store (docker, an ssh host) instead of the local one")
    .action((flags: { dryRun?: boolean; store?: string }) =>
      withService(async (call) => {
        const r = await call("store.gc", { dryRun: !!flags.dryRun, store: flags.store });
        for (const p of r.deleted) console.log(`${r.dryRun ? "would delete" : "deleted"} ${p}`);
        console.log(`${r.dryRun ? "would free" : "freed"} ${humanBytes(r.bytes)} (${r.deleted.length} paths)`);
      })(),
    );

  const store = program.command("store").description("the local store");
  store
    .command("add")
    .description("add a file or directory to the store, content-addressed; print its hash and how to pin it")
    .argument("<path>", "a file (an archive is unpacked) or a directory (copied, symlinks kept)")
    .action((path: string) =>
      withService(async (call) => {
        const r = await call("store.add", { path });
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
      withService(async (call) => {
        for (const p of await call("store.paths", { query: query || undefined })) console.log(p);
      })(),
    );
  store
    .command("closure")
    .description("print the runtime closure of store paths or derivations (every path they reference, transitively)")
    .argument("<paths...>", "store paths, derivation names, hashes or unique prefixes")
    .option("--size", "print each path's size, and the closure's total")
    .action((paths: string[], flags: { size?: boolean }) =>
      withService(async (call) => {
        const closure = await call("store.closure", { paths });
        let total = 0;
        for (const { path, size } of closure) {
          total += size;
          console.log(flags.size ? `${path}\t${humanBytes(size)}` : path);
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
      withService(async (call) => {
        const problems = await call("store.verify", { repair: !!flags.repair, store: flags.store });
        for (const p of problems) {
          const detail = p.problem === "corrupt" ? ` (expected ${p.expected}, got ${p.got})` : p.detail ? ` (${p.detail})` : "";
          console.log(`${p.problem}: ${p.path}${detail}${flags.repair ? (p.problem === "modes" ? " — modes restored" : " — removed") : ""}`);
        }
        if (!problems.length) console.log("store verified: all paths intact");
        else if (!flags.repair) throw new Error(`store verify: ${problems.length} bad paths (run with --repair to remove them)`);
      })(),
    );
  store
    .command("copy")
    .description("copy a closure between stores (a backend name, or another BRAMBLE_PATH as path:<dir>)")
    .requiredOption("--from <store>", "source store")
    .requiredOption("--to <store>", "destination store")
    .argument("<paths...>", "store paths, derivation hashes or names")
    .action((paths: string[], flags: { from: string; to: string }) =>
      withService(async (call) => {
        const { copied, linked } = await call("store.copy", { from: flags.from, to: flags.to, paths });
        for (const p of copied) console.log(`copied ${p}`);
        console.log(`${copied.length} paths copied${linked ? `, ${linked} derivation outputs recorded in the target` : ""}`);
      })(),
    );
  store
    .command("add-root")
    .description("keep a store path (and its closure) from gc")
    .argument("<path>")
    .action((p: string) => withService((call) => call("store.roots", { paths: [p], keep: true }).then(() => undefined))());
  store
    .command("remove-root")
    .description("stop keeping a store path from gc")
    .argument("<path>")
    .action((p: string) => withService((call) => call("store.roots", { paths: [p], keep: false }).then(() => undefined))());
}

/**
 * why-depends' tree as `nix why-depends` prints it: the root path, then each reference under
 * its referrer with ├───/└─── and │/blank padding; with --precise, each file holding the
 * reference (`file: …bytes…`) and then `→ path`.
 */
function whyDependsText(root: WhyDependsNode): string {
  const lines = [root.path];
  const walk = (node: WhyDependsNode, pad: string) => {
    node.children.forEach((child, i) => {
      const last = i === node.children.length - 1;
      const next = pad + (last ? "    " : "│   ");
      if (child.hits?.length) {
        child.hits.forEach((h, j) => {
          lines.push(`${j === 0 ? pad + (last ? "└───" : "├───") : next}${h.file || "(the path itself)"}: ${h.context}`);
        });
        lines.push(`${next}→ ${child.path}`);
      } else {
        lines.push(`${pad}${last ? "└───" : "├───"}${child.path}`);
      }
      walk(child, next);
    });
  };
  walk(root, "");
  return `${lines.join("\n")}\n`;
}
