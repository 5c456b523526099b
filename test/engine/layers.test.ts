// The layers hold at the import level: no import cycles in core/ (imports that exist at run
// time; `import type` is erased), and the lower layers (model, store, db, derivation, build,
// builders) never import the API layer, which re-exports the domain types from core/model.
// Imports are read with the TypeScript compiler's parser, not with regular expressions.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const CORE = resolve(__dirname, "../../core");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith(".ts") && !p.endsWith(".d.ts") ? [p] : [];
  });
}

/** A file's imports of other files of core/ that exist at run time (relative paths, `.js` → `.ts`). */
function runtimeImports(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  const add = (spec: string) => {
    if (!spec.startsWith(".")) return;
    out.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
  };
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const typeOnly =
        c?.isTypeOnly ||
        (c &&
          !c.name &&
          c.namedBindings &&
          ts.isNamedImports(c.namedBindings) &&
          c.namedBindings.elements.length > 0 &&
          c.namedBindings.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) add(n.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const typeOnly = n.isTypeOnly || (n.exportClause && ts.isNamedExports(n.exportClause) && n.exportClause.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) add(n.moduleSpecifier.text);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      add(n.arguments[0].text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Strongly connected components of more than one file (or a file importing itself): the cycles. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.map((f) => relative(CORE, f)).sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  return out;
}

/**
 * The CLI's runtime imports outside core/api and core/cli that are not in `allowed`: every verb
 * reaches the engine (build, store, db, builders, derivation) through the service only.
 */
function cliImportsBesidesApi(graph: Map<string, string[]>, allowed: string[]): string[] {
  const offending: string[] = [];
  for (const [f, imports] of graph) {
    const rel = relative(CORE, f);
    if (!rel.startsWith("cli/")) continue;
    for (const target of imports.map((i) => relative(CORE, i))) {
      if (target.startsWith("api/") || target.startsWith("cli/") || allowed.includes(target)) continue;
      offending.push(`${rel} imports ${target}`);
    }
  }
  return offending.sort();
}

describe("layers", () => {
  const files = sources(CORE);
  const graph = new Map(files.map((f) => [f, runtimeImports(f)] as const));

  it("core/ has no import cycles", () => {
    // The Starlark back ends share their run-time half through core/starlark/runtime.ts (issue
    // 13 point 5): the generator refers to the closure compiler by type only.
    expect(cycles(graph)).toEqual([]);
  });

  it("the finder of cycles finds one", () => {
    const g = new Map([
      [join(CORE, "a.ts"), [join(CORE, "b.ts")]],
      [join(CORE, "b.ts"), [join(CORE, "c.ts")]],
      [join(CORE, "c.ts"), [join(CORE, "a.ts")]],
      [join(CORE, "d.ts"), [join(CORE, "a.ts")]],
    ]);
    expect(cycles(g)).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });

  it("the layers below the API never import it (types included): core/api re-exports the domain types of core/model", () => {
    const below = ["model", "store", "db", "derivation", "build", "builders"];
    const offending: string[] = [];
    for (const f of files) {
      const rel = relative(CORE, f);
      if (!below.includes(rel.split("/")[0]!)) continue;
      const text = readFileSync(f, "utf8");
      for (const m of text.matchAll(/from "(\.[^"]+)"/g)) {
        const target = relative(CORE, resolve(dirname(f), m[1]!));
        if (target.startsWith("api/") || target.startsWith("cli/") || target.startsWith("serve/")) offending.push(`${rel} imports ${target}`);
      }
    }
    expect(offending).toEqual([]);
  });
  // Issue 13 point 4: every CLI verb goes through the service. Besides core/api, the CLI may
  // import only these front-end modules: finding a module argument's project (project.ts,
  // module-args.ts), `bramble ls`'s listing, `bramble serve`'s server, the Starlark verbs (the
  // fast path, fast.ts), the version. None of them is the engine.
  const CLI_ALLOWED = ["project/project.ts", "project/module-args.ts", "project/listing.ts", "serve/server.ts", "starlark/cli.ts", "version.ts"];

  it("core/cli imports core/api and a few front-end modules only: no verb opens the engine (build, store, db, builders, derivation)", () => {
    expect(cliImportsBesidesApi(graph, CLI_ALLOWED)).toEqual([]);
  });

  it("no CLI verb reaches the engine through the service host (host.engine)", () => {
    const offending = files.filter((f) => relative(CORE, f).startsWith("cli/") && /\.engine\b/.test(readFileSync(f, "utf8"))).map((f) => relative(CORE, f));
    expect(offending).toEqual([]);
  });

  it("the CLI import check finds a verb that opens the engine", () => {
    const g = new Map([
      [join(CORE, "cli/verbs.ts"), [join(CORE, "api/local.ts"), join(CORE, "build/engine.ts"), join(CORE, "project/project.ts")]],
      [join(CORE, "cli/other.ts"), [join(CORE, "store/logs.ts"), join(CORE, "cli/naming.ts")]],
      [join(CORE, "api/local.ts"), [join(CORE, "build/engine.ts")]],
    ]);
    expect(cliImportsBesidesApi(g, CLI_ALLOWED)).toEqual(["cli/other.ts imports store/logs.ts", "cli/verbs.ts imports build/engine.ts"]);
  });
});
