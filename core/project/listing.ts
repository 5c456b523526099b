// `bramble ls [path]`: the modules at a path, with each module's docstring and each public
// function's parameters written as in the source (defaults included). A path that is a
// module (./lib, ./lib.bramble, a .bramble file) lists that module only; a directory lists
// the modules in and below it (nested projects excluded); anything else is an error.
import { existsSync, statSync } from "node:fs";
import { relative, resolve } from "node:path";
import { parseFile } from "../starlark/index.js";
import { bramblesBelow, moduleFile } from "./module-args.js";
import { loadProject } from "./project.js";
import { readRegularFile } from "./read-file.js";

/** A path that names no module or directory: a usage error (exit code 2). */
export class ListPathError extends Error {}

export interface ListedModule {
  /** the module argument that names it, relative to the project root (`.`, `./lib`, `./x.bramble`) */
  module: string;
  file: string;
  doc: string;
  functions: { name: string; params: string[]; doc: string }[];
  /** the parse error, when the module does not parse */
  error?: string;
}

export function listModules(path: string, cwd: string): ListedModule[] {
  if (path.trim() === "") throw new ListPathError('bramble ls: an empty path (give a module or a directory, e.g. "." or ./lib)');
  const abs = resolve(cwd, path);
  const single = moduleFile(abs);
  if (!single && !(existsSync(abs) && statSync(abs).isDirectory())) {
    throw new ListPathError(`bramble ls: no module or directory at ${abs} (looked for ${abs}/default.bramble, ${abs}.bramble and a directory)`);
  }
  const project = loadProject(abs);
  // A directory with a default.bramble is a module, but its subdirectories' modules are listed too.
  const files = existsSync(abs) && statSync(abs).isDirectory() ? bramblesBelow(abs) : [single!];
  return files.map((file) => describe(project.root, file));
}

function describe(root: string, file: string): ListedModule {
  const rel = relative(root, file);
  const module = rel === "default.bramble" ? "." : `./${rel.replace(/\/default\.bramble$/, "").replace(/\.bramble$/, "")}`;
  const out: ListedModule = { module, file, doc: "", functions: [] };
  try {
    const syntax = parseFile(file, readRegularFile(file, "module"));
    const first = syntax.stmts[0];
    if (first?.kind === "ExprStmt" && first.x.kind === "Literal" && first.x.tokKind === "STRING") out.doc = first.x.value as string;
    for (const s of syntax.stmts) {
      if (s.kind !== "Def" || s.name.name.startsWith("_")) continue;
      const params = s.params.map((p) => {
        if (p.kind === "star") return p.name ? `*${p.name.name}` : "*";
        if (p.kind === "starstar") return `**${p.name!.name}`;
        if (p.kind === "default") return `${p.name!.name} = ${p.defaultText ?? "…"}`;
        return p.name!.name;
      });
      const body = s.body[0];
      const doc = body?.kind === "ExprStmt" && body.x.kind === "Literal" && body.x.tokKind === "STRING" ? (body.x.value as string) : "";
      out.functions.push({ name: s.name.name, params, doc });
    }
  } catch (err) {
    out.error = (err as Error).message;
  }
  return out;
}
