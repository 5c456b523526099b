// bramble.toml: finding the project a path belongs to and reading its settings.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";

export const PROJECT_FILE = "bramble.toml";

export interface Dependency {
  name: string;
  version?: string;
  /** a local path, absolute after loading */
  path?: string;
}

export interface BackendConfig {
  name: string;
  kind: string;
  [key: string]: unknown;
}

export interface Project {
  root: string;
  name: string;
  version: string;
  dependencies: Map<string, Dependency>;
  /** host paths visible (read-only) inside every sandbox, like Nix's extra-sandbox-paths */
  sandboxPaths: string[];
  /** seconds a builder may run; undefined = no limit */
  timeout?: number;
  backends: BackendConfig[];
}

export class ProjectError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
    readonly col?: number,
  ) {
    super(file ? `${file}${line ? `:${line}:${col ?? 1}` : ""}: ${message}` : message);
  }
}

/** The nearest directory at or above `from` holding a bramble.toml. */
export function findProjectRoot(from: string): string {
  let dir = resolve(from);
  if (existsSync(dir) && !statSync(dir).isDirectory()) dir = dirname(dir);
  for (;;) {
    if (existsSync(join(dir, PROJECT_FILE))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new ProjectError(`no ${PROJECT_FILE} found in ${resolve(from)} or any directory above it`);
    }
    dir = parent;
  }
}

type Table = Record<string, unknown>;

function expectTable(v: unknown, file: string, field: string): Table {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ProjectError(`${field} must be a table`, file);
  return v as Table;
}

function expectString(v: unknown, file: string, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new ProjectError(`${field} must be a string`, file);
  return v;
}

export function readProject(root: string): Project {
  const file = join(root, PROJECT_FILE);
  let doc: Table;
  try {
    doc = parseToml(readFileSync(file, "utf8")) as Table;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      throw new ProjectError(first, file, err.line, err.column);
    }
    throw new ProjectError(`cannot read: ${(err as Error).message}`, file);
  }
  const pkg = expectTable(doc.package, file, "[package]");
  const name = expectString(pkg.name, file, "package.name");
  if (!name) throw new ProjectError("[package] needs a name", file);
  const version = expectString(pkg.version, file, "package.version") ?? "0.0.0";

  const dependencies = new Map<string, Dependency>();
  for (const [dep, spec] of Object.entries(expectTable(doc.dependencies, file, "[dependencies]"))) {
    if (typeof spec === "string") dependencies.set(dep, { name: dep, version: spec });
    else {
      const t = expectTable(spec, file, `dependencies.${dep}`);
      const path = expectString(t.path, file, `dependencies.${dep}.path`);
      dependencies.set(dep, {
        name: dep,
        version: expectString(t.version, file, `dependencies.${dep}.version`),
        path: path === undefined ? undefined : resolve(root, path),
      });
    }
  }

  const build = expectTable(doc.build, file, "[build]");
  const rawPaths = doc.sandbox_paths ?? build.sandbox_paths ?? [];
  if (!Array.isArray(rawPaths) || rawPaths.some((p) => typeof p !== "string" || !p.startsWith("/"))) {
    throw new ProjectError("sandbox_paths must be a list of absolute paths", file);
  }
  const timeout = build.timeout ?? doc.timeout;
  if (timeout !== undefined && (typeof timeout !== "number" || timeout <= 0)) {
    throw new ProjectError("build.timeout must be a positive number of seconds", file);
  }

  const backends: BackendConfig[] = [];
  for (const [bname, spec] of Object.entries(expectTable(doc.backends, file, "[backends]"))) {
    const t = expectTable(spec, file, `backends.${bname}`);
    backends.push({ ...t, name: bname, kind: expectString(t.kind, file, `backends.${bname}.kind`) ?? bname });
  }

  return { root, name, version, dependencies, sandboxPaths: rawPaths as string[], timeout: timeout as number | undefined, backends };
}

export function loadProject(from: string): Project {
  return readProject(findProjectRoot(from));
}
