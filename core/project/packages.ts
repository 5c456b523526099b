// Package names are paths, as in bramble: "github.com/maxmcd/bramble" is one package, and
// "github.com/maxmcd/bramble/lib/std" is its lib/std directory. A load() or a module argument
// names a package followed by a path inside it; the package is the LONGEST known package name
// that is the whole name or a prefix of it ending at a "/". Known packages, for a module of
// project P: P itself, P's [dependencies] (by `path`, or by version: fetched before the
// evaluation, see dependencies.ts), and the seed library ("seeds") unless P declares its own.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { PROJECT_FILE, type Project, readProject } from "./project.js";
import { SEEDS_PACKAGE, seedLibraryDir } from "./seeds.js";

export interface ResolvedPackage {
  /** the package name that matched */
  pkg: string;
  /** the package's directory */
  root: string;
  /** the path inside the package ("" for the package itself) */
  sub: string;
}

export class PackageError extends Error {}

/** package name → the directory its version was fetched to (dependencies.ts), for the whole evaluation */
export type FetchedPackages = Record<string, string>;

/** Every package name `project` can name, with its directory (undefined: known, not fetched). */
function knownPackages(project: Project, fetched: FetchedPackages): Map<string, string | undefined> {
  const known = new Map<string, string | undefined>();
  const seeds = seedLibraryDir();
  if (seeds) known.set(SEEDS_PACKAGE, seeds);
  for (const [name, dep] of project.dependencies) known.set(name, dep.path ?? (Object.hasOwn(fetched, name) ? fetched[name] : undefined));
  known.set(project.name, project.root);
  return known;
}

/** The longest known package name that `name` is, or begins with followed by "/". */
export function resolvePackage(project: Project, name: string, fetched: FetchedPackages = {}): ResolvedPackage {
  const clean = name.replace(/\/+$/, "");
  if (clean === "" || clean.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new PackageError(`"${name}" is not a package path (segments may not be empty, "." or "..")`);
  }
  const known = knownPackages(project, fetched);
  let best: string | undefined;
  for (const pkg of known.keys()) {
    if ((clean === pkg || clean.startsWith(`${pkg}/`)) && (best === undefined || pkg.length > best.length)) best = pkg;
  }
  if (best === undefined) {
    const list = [...known.keys()].map((k) => `"${k}"`).join(", ");
    throw new PackageError(`unknown package in "${name}": no known package is "${clean}" or a prefix of it (known packages: ${list})`);
  }
  const root = known.get(best);
  if (root === undefined) {
    const dep = project.dependencies.get(best);
    throw new PackageError(
      `dependency "${best}"${dep?.version ? ` (version ${dep.version})` : ""} is not fetched: this evaluation did not fetch the project's dependencies by version (bramble build, run, test and the app do)`,
    );
  }
  return { pkg: best, root, sub: clean === best ? "" : clean.slice(best.length + 1) };
}

const projects = new Map<string, Project>();

/**
 * The project a module file belongs to (the nearest bramble.toml above it), so that a
 * dependency's own load statements resolve against its own package name and dependencies.
 * `fallback` is returned when the file's project is `fallback`'s or none is found.
 */
export function owningProject(file: string, fallback: Project): Project {
  let dir = dirname(file);
  for (;;) {
    if (dir === fallback.root) return fallback;
    if (existsSync(join(dir, PROJECT_FILE))) {
      let p = projects.get(dir);
      if (!p) {
        p = readProject(dir);
        projects.set(dir, p);
      }
      return p;
    }
    const parent = dirname(dir);
    if (parent === dir) return fallback;
    dir = parent;
  }
}
