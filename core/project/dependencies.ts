// Dependencies by version: `[dependencies] "example.com/me/lib" = "1.2.0"` in bramble.toml.
// As in bramble, a package's name is where its repository lives: bramble's package server
// clones `https://<name>.git` and serves the package at the version its bramble.toml says.
// Here the engine fetches it itself, with fetch_git (in the fetch sandbox: the network and
// nothing of the host but git), from `https://<name>.git` at the tag `v<version>` (Go's
// convention for module versions; bramble's versions are semver too). Where a package
// name's repositories live is the user's setting, never the project's:
//   [packages] "example.com" = "http://127.0.0.1:8080/example.com"
// in the user's config fetches example.com/me/lib from http://127.0.0.1:8080/example.com/me/lib.git
// (the longest matching prefix wins; git://, ssh:// and file:// bases work too).
//
// The fetched tree is a fixed output: bramble.lock pins its hash under `[dependencies]`
// ("example.com/me/lib@1.2.0" = "sha256:..."); the first fetch records it, a later one with
// different content fails with both hashes. The fetched bramble.toml must name the package
// and version asked for. Versions are chosen as bramble chooses them (minimal version
// selection, as Go modules do): every version reached is fetched (its bramble.toml's
// requirements count), each package is built at the highest version reached, and the
// evaluated project's lock pins every version reached (as go.sum does).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readConfigFile, UserConfigToml } from "../config/schema.js";
import type { Derivation } from "../derivation/derivation.js";
import { ANY_SYSTEM } from "../derivation/systems.js";
import { userConfigFile } from "../builders/host-access.js";
import { readLock, recordLockEntries } from "./lock.js";
import { type Project, ProjectError, readProject } from "./project.js";

/** What the engine fetched a package version as: its store path and the hash of its tree. */
interface FetchedTree {
  path: string;
  hash: string;
}

/** Build a fetch_git derivation and say where its output is (the service does it with the engine). */
type FetchTree = (drv: Derivation) => Promise<FetchedTree>;

const VERSION_RE = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** -1, 0 or 1 as version `a` is lower than, equal to or higher than `b` (both MAJOR.MINOR.PATCH). */
function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  return 0;
}

/** The git URL package `name` is fetched from: the user's `[packages]` base for its longest matching prefix, else https://<name>.git. */
function packageSourceUrl(name: string, configFile = userConfigFile()): string {
  let bases: Record<string, string> = {};
  if (existsSync(configFile)) bases = readConfigFile(UserConfigToml, configFile).packages ?? {};
  let best: string | undefined;
  for (const prefix of Object.keys(bases)) {
    const p = prefix.replace(/\/+$/, "");
    if ((name === p || name.startsWith(`${p}/`)) && (best === undefined || p.length > best.replace(/\/+$/, "").length)) best = prefix;
  }
  if (best === undefined) return `https://${name}.git`;
  const base = bases[best]!.replace(/\/+$/, "");
  if (!/^(https?|git|ssh|file):\/\/./.test(base)) {
    throw new ProjectError(`packages."${best}" ${JSON.stringify(base)} must be an http://, https://, git://, ssh:// or file:// URL`, configFile);
  }
  const rest = name.slice(best.replace(/\/+$/, "").length);
  return `${base}${rest}.git`;
}

interface Source {
  url: string;
  ref: string;
  /** the package's directory in that repository ("" at its root) */
  sub: string;
}

/** Where package `name` at `version` may be: its own repository, then each enclosing one (at least host/owner). */
function sources(name: string, version: string): Source[] {
  const parts = name.split("/");
  const out: Source[] = [{ url: packageSourceUrl(name), ref: `v${version}`, sub: "" }];
  for (let i = parts.length - 1; i >= 2; i--) {
    const sub = parts.slice(i).join("/");
    out.push({ url: packageSourceUrl(parts.slice(0, i).join("/")), ref: `${sub}/v${version}`, sub });
  }
  return out;
}

/** The fixed-output derivation that fetches package `name` at `version` (its output is the tree, without .git). */
function dependencyDerivation(name: string, version: string, url: string, hash: string | undefined, ref: string): Derivation {
  const last = name.split("/").pop() ?? name;
  const drv: Derivation = {
    name: `${last}-${version}`.replace(/[^A-Za-z0-9._+-]/g, "_"),
    builder: "fetch_git",
    args: [],
    env: { url, ref },
    outputs: ["out"],
    network: true,
    platform: ANY_SYSTEM,
    system: ANY_SYSTEM,
  };
  if (hash) drv.outputHash = hash;
  return drv;
}

/** A package fetched by version is named like a repository: a host, then path segments (no ".", "..", "@", ":" or spaces). */
const PACKAGE_NAME_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$/;

function checkVersion(project: Project, name: string, version: string | undefined): string {
  if (!PACKAGE_NAME_RE.test(name) || name.split("/").some((s) => s === "." || s === "..")) {
    throw new ProjectError(
      `dependencies."${name}": a dependency by version is named by where its repository lives, a host and a path ("example.com/me/lib"); give other packages path = "..."`,
      join(project.root, "bramble.toml"),
    );
  }
  if (version === undefined || !VERSION_RE.test(version)) {
    throw new ProjectError(
      `dependencies."${name}" ${version === undefined ? "has neither a version nor a path" : `version ${JSON.stringify(version)} is not a version MAJOR.MINOR.PATCH (as bramble's: "1.2.0")`}`,
      join(project.root, "bramble.toml"),
    );
  }
  return version;
}

/**
 * Fetch every dependency by version that `project` needs, its dependencies' too, and say
 * where each package's tree is (package name → directory), for load() and module
 * arguments (packages.ts). New pins are recorded in the project's bramble.lock.
 */
export async function fetchDependencies(project: Project, fetch: FetchTree, signal?: AbortSignal): Promise<Record<string, string>> {
  const byVersion = [...project.dependencies.values()].filter((d) => d.path === undefined);
  if (byVersion.length === 0) return {};
  const pins = readLock(project.root).dependencies;
  const newPins = new Map<string, string>();
  /** name → the version selected (the highest any reached project requires) */
  const selected = new Map<string, string>();
  /** `name@version` → the fetched tree's directory: every version reached, as MVS reads every reached version's requirements */
  const trees = new Map<string, string>();
  const queue: [string, string][] = [];
  const require = (from: Project, name: string, version: string | undefined) => {
    if (name === project.name) return; // a dependency needing the project itself: the project is what it gets
    const v = checkVersion(from, name, version);
    const cur = selected.get(name);
    if (cur === undefined || compareVersions(v, cur) > 0) selected.set(name, v);
    queue.push([name, v]);
  };
  for (const d of byVersion) require(project, d.name, d.version);
  for (let next = queue.shift(); next; next = queue.shift()) {
    const [name, version] = next;
    const key = `${name}@${version}`;
    if (trees.has(key)) continue;
    const pin = pins.get(key);
    // The package's own repository at v<version>, else (a package nested in a repository, as
    // bramble publishes every bramble.toml of a repository) an enclosing repository at the tag
    // <subdirectory>/v<version>, as Go tags a nested module.
    let got: FetchedTree | undefined;
    let where: Source | undefined;
    const tried: string[] = [];
    for (const c of sources(name, version)) {
      signal?.throwIfAborted();
      try {
        got = await fetch(dependencyDerivation(name, version, c.url, pin, c.ref));
        where = c;
        break;
      } catch (err) {
        const why = (err as Error).message;
        // Content that is not what the lock pinned is an answer, not a missing repository.
        if (/hash mismatch/.test(why) || (tried.length === 0 && !/\bgit \S+ failed \(exit code \d+\)/.test(why))) {
          throw new ProjectError(`dependency "${name}" version ${version} (tag ${c.ref} of ${c.url}): ${why}`, join(project.root, "bramble.toml"));
        }
        tried.push(`tag ${c.ref} of ${c.url}: ${why}`);
      }
    }
    if (!got || !where) {
      throw new ProjectError(`dependency "${name}" version ${version} was found nowhere:\n  ${tried.join("\n  ")}`, join(project.root, "bramble.toml"));
    }
    if (!pin) newPins.set(key, got.hash);
    const dir = where.sub ? join(got.path, where.sub) : got.path;
    const dep = readDependencyProject(dir, name, version, `tag ${where.ref} of ${where.url}${where.sub ? `, directory ${where.sub}` : ""}`);
    trees.set(key, dir);
    for (const d of dep.dependencies.values()) if (d.path === undefined) require(dep, d.name, d.version);
  }
  await recordLockEntries(project.root, newPins, "dependencies");
  return Object.fromEntries([...selected].map(([n, v]) => [n, trees.get(`${n}@${v}`)!]));
}

/** The fetched package's bramble.toml, which must name the package and the version asked for. */
function readDependencyProject(dir: string, name: string, version: string, from: string): Project {
  if (!existsSync(join(dir, "bramble.toml"))) {
    throw new ProjectError(`dependency "${name}" version ${version}: ${from} has no bramble.toml`);
  }
  const p = readProject(dir);
  if (p.name !== name) {
    throw new ProjectError(
      `dependency "${name}" version ${version}: the package at ${from} is named "${p.name}" (a package's name is where it is fetched from)`,
    );
  }
  if (p.version !== version) {
    throw new ProjectError(`dependency "${name}" version ${version}: the package at ${from} says version "${p.version}" in its bramble.toml`);
  }
  return p;
}
