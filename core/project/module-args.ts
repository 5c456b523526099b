// Command-line module arguments: which .bramble files and functions to evaluate.
//   ./path:fn          a module (dir/default.bramble or path.bramble) and one function
//   ./path             every public function without parameters in that module
//   ./file.bramble:fn  a file and one function
//   <package>/sub:fn   a module named by package path (longest matching package name: this
//                      project, a dependency, the seed library; see packages.ts)
//   ./dir/...          every .bramble file below dir, stopping at nested projects
import { existsSync, readdirSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { type FetchedPackages, PackageError, type ResolvedPackage, resolvePackage } from "./packages.js";
import { PROJECT_FILE, type Project } from "./project.js";
import { SEEDS_PACKAGE } from "./seeds.js";

export const MODULE_ARG_FORMS = [
  "./path:fn          a module (./path/default.bramble or ./path.bramble) and one function",
  "./path             every public function without parameters in that module",
  "./file.bramble:fn  a file and one function",
  "<package>/sub:fn   a module of this project (or a dependency), by package name",
  "./dir/...          every .bramble file below dir (nested projects excluded)",
];

export class ModuleArgError extends Error {
  constructor(arg: string, why: string) {
    super(`${why}: "${arg}"\nmodule arguments take these forms:\n  ${MODULE_ARG_FORMS.join("\n  ")}`);
  }
}

export interface ModuleSelection {
  /** absolute path of a .bramble file */
  file: string;
  /** the function to call, or undefined for "every public function with no parameters" */
  fn?: string;
}

/** Resolve a module path (no extension) to its file: dir/default.bramble, else path.bramble. */
export function moduleFile(path: string): string | undefined {
  if (path.endsWith(".bramble")) return existsSync(path) && statSync(path).isFile() ? path : undefined;
  const inDir = join(path, "default.bramble");
  if (existsSync(inDir)) return inDir;
  if (existsSync(`${path}.bramble`)) return `${path}.bramble`;
  return undefined;
}

export function bramblesBelow(dir: string, root: string = dir): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (d !== root && existsSync(join(d, PROJECT_FILE))) return;
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && entry.name.endsWith(".bramble")) out.push(p);
    }
  };
  walk(dir);
  return out;
}

const FN_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Where a module argument points, before the project is known (to find the project). */
export function moduleArgPath(arg: string, cwd: string): string {
  const colon = arg.lastIndexOf(":");
  const path = colon > 0 && FN_RE.test(arg.slice(colon + 1)) ? arg.slice(0, colon) : arg;
  const bare = path.endsWith("/...") ? path.slice(0, -4) : path;
  return isPathArg(bare, cwd) ? resolve(cwd, bare) : cwd;
}

function isRelativeArg(p: string): boolean {
  return p === "." || p === ".." || p.startsWith("./") || p.startsWith("../") || isAbsolute(p);
}

/**
 * Whether a module argument's path part names a place on disk rather than a package:
 * `./x`, `../x` and absolute paths always do; `examples/hello` does when it exists here
 * (people type paths without `./`), unless its first segment is taken as a package.
 */
export function isPathArg(p: string, cwd: string, project?: Project): boolean {
  if (isRelativeArg(p)) return true;
  const onDisk = existsSync(resolve(cwd, p)) || existsSync(resolve(cwd, `${p}.bramble`));
  if (project !== undefined) {
    const pkg = packageOf(project, p);
    // The project's own name and its declared dependencies win over a directory of the same
    // name; the seed library (known without being declared) does not.
    if (pkg !== undefined && (pkg !== SEEDS_PACKAGE || !onDisk || project.dependencies.has(pkg))) return false;
  }
  return onDisk;
}

/** The longest known package name `p` starts with, or undefined. */
function packageOf(project: Project, p: string): string | undefined {
  try {
    return resolvePackage(project, p).pkg;
  } catch {
    return undefined;
  }
}

/** The checks that need no project: an empty argument, a bad function name, a missing path. Throws ModuleArgError. */
export function checkModuleArgSyntax(arg: string): void {
  if (arg.trim() === "") throw new ModuleArgError(arg, "empty module argument");
  const colon = arg.lastIndexOf(":");
  if (colon >= 0) {
    const fn = arg.slice(colon + 1);
    if (!FN_RE.test(fn)) throw new ModuleArgError(arg, `"${fn}" is not a function name`);
    if (arg.slice(0, colon) === "") throw new ModuleArgError(arg, "missing module path before ':'");
    if (arg.slice(0, colon).endsWith("...")) throw new ModuleArgError(arg, "a '...' pattern cannot name a function");
  }
}

export function parseModuleArg(arg: string, cwd: string, project: Project, fetched: FetchedPackages = {}): ModuleSelection[] {
  checkModuleArgSyntax(arg);
  let path = arg;
  let fn: string | undefined;
  const colon = arg.lastIndexOf(":");
  if (colon >= 0) {
    path = arg.slice(0, colon);
    fn = arg.slice(colon + 1);
    if (!FN_RE.test(fn)) throw new ModuleArgError(arg, `"${fn}" is not a function name`);
    if (path === "") throw new ModuleArgError(arg, "missing module path before ':'");
  }

  if (path.endsWith("/...") || path === "...") {
    if (fn) throw new ModuleArgError(arg, "a '...' pattern cannot name a function");
    const dir = resolve(cwd, path === "..." ? "." : path.slice(0, -4));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModuleArgError(arg, `no directory ${dir}`);
    return bramblesBelow(dir).map((file) => ({ file }));
  }

  let abs: string;
  if (isPathArg(path, cwd, project)) {
    abs = resolve(cwd, path);
    const rel = relative(project.root, abs);
    if (rel.startsWith("..") || isAbsolute(rel)) throw new ModuleArgError(arg, `${abs} is outside the project at ${project.root}`);
  } else {
    let resolved: ResolvedPackage;
    try {
      resolved = resolvePackage(project, path, fetched);
    } catch (err) {
      if (err instanceof PackageError) throw new ModuleArgError(arg, `${err.message}; relative paths start with ./`);
      throw err;
    }
    abs = resolved.sub ? join(resolved.root, resolved.sub) : resolved.root;
  }
  const file = moduleFile(abs);
  if (!file) throw new ModuleArgError(arg, `no module at ${abs} (looked for ${join(abs, "default.bramble")} and ${abs}.bramble)`);
  return [{ file, fn }];
}
