// bramble.toml: finding the project a path belongs to and reading its settings.
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ConfigError, ProjectToml, readConfigFile } from "../config/schema.js";

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

export function readProject(root: string): Project {
  const file = join(root, PROJECT_FILE);
  let doc: ProjectToml;
  try {
    doc = readConfigFile(ProjectToml, file);
  } catch (err) {
    if (err instanceof ConfigError) throw new ProjectError(`${err.key ? `${err.key} ` : ""}${err.problem}`, file, err.line, err.col);
    throw err;
  }
  const dependencies = new Map<string, Dependency>();
  for (const [dep, spec] of Object.entries(doc.dependencies ?? {})) {
    if (typeof spec === "string") dependencies.set(dep, { name: dep, version: spec });
    else dependencies.set(dep, { name: dep, version: spec.version, path: spec.path === undefined ? undefined : resolve(root, spec.path) });
  }
  const backends: BackendConfig[] = Object.entries(doc.backends ?? {}).map(([bname, t]) => ({ ...t, name: bname, kind: t.kind ?? bname }));
  return {
    root,
    // [package], or [module] as bramble's own bramble.toml writes it (schema.ts refuses neither and both)
    name: (doc.package ?? doc.module)!.name,
    version: (doc.package ?? doc.module)!.version ?? "0.0.0",
    dependencies,
    sandboxPaths: doc.sandbox_paths ?? doc.build?.sandbox_paths ?? [],
    timeout: doc.build?.timeout ?? doc.timeout,
    backends,
  };
}

export function loadProject(from: string): Project {
  return readProject(findProjectRoot(from));
}
