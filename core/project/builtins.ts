// bramble's builtins: derivation, files, run, test, sys, assert, fetch_url, fetch_git.
// Each validates its arguments and throws; the interpreter places the error at the
// caller's file, line and column.
import { existsSync, lstatSync, readlinkSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import {
  Builtin,
  None,
  StarlarkError,
  Struct,
  List,
  Tuple,
  Dict,
  call,
  repr,
  str,
  toJS,
  truth,
  typeName,
  equal,
  compare,
  unpackArgs,
  makeList,
  type Thread,
  type Value,
} from "../starlark/index.js";
import { derivationHash, type Derivation } from "../derivation/derivation.js";
import { hashSources } from "../store/sources.js";
import { glob, patternProblem } from "./glob.js";
import { PROJECT_FILE } from "./project.js";
import { LOCK_FILE, readLock } from "./lock.js";
import { owningProject } from "./packages.js";
import { ANY_SYSTEM, checkSystem, splitSystem } from "../derivation/systems.js";
import { DerivationValue, RunValue, TestValue } from "./values.js";
import type { EvalContext } from "./evaluate.js";

function fail(msg: string): never {
  throw new StarlarkError(msg);
}

function callerFile(thread: Thread, fn: string): string {
  const pos = thread.callerPosition();
  if (!pos) fail(`${fn}: cannot be called outside a .bramble file`);
  return pos.file;
}

function location(thread: Thread): string {
  const pos = thread.callerPosition();
  return pos ? `${pos.file}:${pos.line}:${pos.col}` : "";
}

/** A string, or a derivation standing for its first output. */
function asText(fn: string, field: string, v: Value): string {
  if (typeof v === "string") return v;
  if (v instanceof DerivationValue) return v.str();
  fail(`${fn}: ${field} must be a string, not ${typeName(v)}`);
}

/**
 * derivation()'s env values and args: as asText, and ints and bools rendered as bramble
 * renders them (`3`, `true`, `false`).
 */
function asScalarText(fn: string, field: string, v: Value): string {
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "string" || v instanceof DerivationValue) return asText(fn, field, v);
  fail(`${fn}: ${field} must be a string, an int, a bool or a derivation, not ${typeName(v)}`);
}

/** The elements of a Starlark list or tuple (not converted: their Starlark types stay nameable). */
function elements(fn: string, field: string, v: Value): Value[] {
  if (v instanceof List || v instanceof Tuple) return v.elems;
  fail(`${fn}: ${field} must be a list of strings, not ${typeName(v)}`);
}

function stringList(fn: string, field: string, v: Value | undefined, text = asText): string[] {
  if (v === undefined || v === None) return [];
  return elements(fn, field, v).map((item, i) => text(fn, `${field}[${i}]`, item));
}

function stringDict(fn: string, field: string, v: Value | undefined, text = asText): Record<string, string> {
  if (v === undefined || v === None) return {};
  if (!(v instanceof Dict)) fail(`${fn}: ${field} must be a dict, not ${typeName(v)}`);
  const out: Record<string, string> = {};
  for (const [k, val] of v.entries()) {
    if (typeof k !== "string") fail(`${fn}: ${field} keys must be strings, not ${typeName(k)}`);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) fail(`${fn}: ${field} key ${JSON.stringify(k)} is not a valid variable name`);
    out[k] = text(fn, `${field}[${JSON.stringify(k)}]`, val);
  }
  return out;
}

function optString(fn: string, field: string, v: Value | undefined): string | undefined {
  if (v === undefined || v === None) return undefined;
  if (typeof v !== "string") fail(`${fn}: ${field} must be a string, not ${typeName(v)}`);
  return v;
}

function optBool(fn: string, field: string, v: Value | undefined): boolean {
  if (v === undefined || v === None) return false;
  if (typeof v !== "boolean") fail(`${fn}: ${field} must be a bool, not ${typeName(v)}`);
  return v;
}

function system(fn: string, field: string, v: string): string {
  const problem = checkSystem(v);
  if (problem) fail(`${fn}: ${field}: ${problem}`);
  return v;
}

const OUTPUT_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const HASH_RE = /^(sha256:)?[0-9a-z]{52}$|^(sha256:)?[0-9a-f]{64}$|^[0-9a-z]{32}$/;

export function makeBuiltins(ctx: EvalContext): Record<string, Value> {
  const register = (thread: Thread, drv: Derivation): DerivationValue => {
    const hash = derivationHash(drv);
    const value = new DerivationValue(hash, drv, location(thread));
    if (!ctx.drvs.has(hash)) {
      ctx.drvs.set(hash, drv);
      ctx.locations.set(hash, value.location);
    }
    return value;
  };

  const derivation = new Builtin("derivation", (thread, args, kwargs) => {
    const [name, builder, a, env, sources, outputs, network, platform, sys, target, backend, hash] = unpackArgs(
      "derivation",
      args,
      kwargs,
      "name",
      "builder",
      "args?",
      "env?",
      "sources?",
      "outputs?",
      "network?",
      "platform?",
      "system?",
      "target?",
      "builder_backend?",
      "hash?",
    );
    // As in bramble: a derivation is made by a function the user asks for, never as a side effect of loading a module.
    if (!thread.frames[thread.frames.length - 1]?.fn) fail("derivation call not within a function (call derivation() inside a def, and return it)");
    if (typeof name !== "string" || name === "") fail(`derivation: name must be a non-empty string`);
    if (/[/\s]/.test(name)) fail(`derivation: name ${JSON.stringify(name)} may not contain '/' or whitespace`);
    const drvOutputs = outputs === undefined || outputs === None ? ["out"] : stringList("derivation", "outputs", outputs);
    if (drvOutputs.length === 0) fail("derivation: outputs must name at least one output");
    for (const o of drvOutputs) if (!OUTPUT_NAME.test(o)) fail(`derivation: output name ${JSON.stringify(o)} is not a valid name`);
    if (new Set(drvOutputs).size !== drvOutputs.length) fail("derivation: outputs has a duplicate name");
    if (sys !== undefined && sys !== None && target !== undefined && target !== None) {
      fail("derivation: give system= or target= (its older name), not both");
    }
    const drvPlatform = system("derivation", "platform", optString("derivation", "platform", platform) ?? ctx.host);
    const drvSystem = system(
      "derivation",
      sys !== undefined && sys !== None ? "system" : "target",
      optString("derivation", "system", sys) ?? optString("derivation", "target", target) ?? drvPlatform,
    );
    // A fixed output: hash = "sha256:..." for one output, or a dict naming every output's hash.
    const hashes = hash !== undefined && hash !== None && typeof hash !== "string" ? stringDict("derivation", "hash", hash) : undefined;
    const outputHash = hashes ? undefined : optString("derivation", "hash", hash);
    for (const h of outputHash !== undefined ? [outputHash] : Object.values(hashes ?? {})) {
      if (!HASH_RE.test(h)) fail(`derivation: hash ${JSON.stringify(h)} is not a sha256 hash`);
    }
    if (outputHash !== undefined && drvOutputs.length > 1) {
      fail(
        `derivation: a fixed-output derivation with several outputs needs a hash for each: hash = {${drvOutputs.map((o) => `"${o}": "sha256:..."`).join(", ")}}`,
      );
    }
    if (hashes) {
      const named = Object.keys(hashes);
      const missing = drvOutputs.filter((o) => !named.includes(o));
      const unknown = named.filter((o) => !drvOutputs.includes(o));
      if (missing.length)
        fail(
          `derivation: hash has no entry for output ${missing.map((o) => JSON.stringify(o)).join(", ")} (every output of a fixed-output derivation is checked)`,
        );
      if (unknown.length)
        fail(`derivation: hash names ${unknown.map((o) => JSON.stringify(o)).join(", ")}, which is not an output (outputs: ${drvOutputs.join(", ")})`);
    }
    const drvEnv = stringDict("derivation", "env", env, asScalarText);
    // builder = "fetch_url" is the fetch_url() builtin written out: its hash is pinned in
    // bramble.lock the same way (recorded on the first fetch, held to afterwards).
    const fetchKey = builder === "fetch_url" && hashes === undefined ? (drvEnv.url ?? drvEnv.urls?.split("\n").join(" ")) : undefined;
    if (builder === "fetch_url" && hashes === undefined && fetchKey === undefined) fail('derivation: builder = "fetch_url" needs env = {"url": ...}');
    let pinnedHash = outputHash;
    const fromLibrary = fetchKey !== undefined && libraryOf(thread, "derivation") !== undefined;
    if (fetchKey !== undefined) pinnedHash ??= lockedHash(thread, "derivation", fetchKey);
    const wantsNetwork = optBool("derivation", "network", network) || fetchKey !== undefined;
    if (wantsNetwork && pinnedHash === undefined && hashes === undefined && fetchKey === undefined) {
      fail("derivation: network=True needs hash= (only fixed-output derivations may use the network)");
    }
    for (const o of drvOutputs) if (o in drvEnv) fail(`derivation: env ${JSON.stringify(o)} clashes with the output of that name`);
    const drv: Derivation = {
      name,
      builder: asText("derivation", "builder", builder!),
      args: stringList("derivation", "args", a, asScalarText),
      env: drvEnv,
      outputs: drvOutputs,
      network: wantsNetwork,
      platform: drvPlatform,
      system: drvSystem,
    };
    const srcs = stringList("derivation", "sources", sources);
    if (srcs.length > 0) drv.sources = resolveSources(ctx, sourcesBase(ctx, thread, callerFile(thread, "derivation")), srcs);
    const forced = optString("derivation", "builder_backend", backend);
    if (forced !== undefined) drv.builderBackend = forced;
    if (pinnedHash !== undefined) drv.outputHash = pinnedHash;
    if (hashes) drv.outputHashes = hashes;
    if (ctx.hostPaths) drv.hostPaths = ctx.hostPaths;
    const value = register(thread, drv);
    if (fetchKey !== undefined && !fromLibrary) ctx.fetchKeys.set(value.drvHash, fetchKey);
    return value;
  });

  const files = new Builtin("files", (thread, args, kwargs) => {
    const [include, exclude, dirs, allowEmpty] = unpackArgs("files", args, kwargs, "include", "exclude?", "include_directories?", "allow_empty?");
    const patterns = (typeof include === "string" ? [include] : stringList("files", "include", include)).map((p) => cleanPattern("include", p));
    const excludes = (typeof exclude === "string" ? [exclude] : stringList("files", "exclude", exclude)).map((p) => cleanPattern("exclude", p));
    const base = dirname(callerFile(thread, "files"));
    const found = glob(base, {
      include: patterns,
      exclude: excludes,
      includeDirectories: optBool("files", "include_directories", dirs),
      skipDir: (_rel, abs) => existsSync(join(abs, PROJECT_FILE)),
    });
    if (found.length === 0 && !optBool("files", "allow_empty", allowEmpty)) {
      fail(`files: no files match ${patterns.map((p) => JSON.stringify(p)).join(", ")} in ${base} (pass allow_empty=True to allow this)`);
    }
    for (const f of found) {
      const dirs = ctx.filesOrigins.get(f) ?? [];
      if (!dirs.includes(base)) ctx.filesOrigins.set(f, [...dirs, base]);
    }
    return makeList(found);
  });

  const run = new Builtin("run", (_thread, args, kwargs) => {
    const [drv, cmd, a, paths, readOnly, hidden, network] = unpackArgs(
      "run",
      args,
      kwargs,
      "derivation",
      "cmd",
      "args?",
      "paths?",
      "read_only?",
      "hidden_paths?",
      "network?",
    );
    if (!(drv instanceof DerivationValue)) fail(`run: derivation must be a derivation, not ${typeName(drv!)}`);
    if (typeof cmd !== "string" || cmd === "") fail("run: cmd must be a non-empty string");
    const spec = {
      derivation: drv.drvHash,
      cmd,
      args: stringList("run", "args", a),
      paths: stringList("run", "paths", paths),
      readOnly: optBool("run", "read_only", readOnly),
      hiddenPaths: stringList("run", "hidden_paths", hidden),
      network: optBool("run", "network", network),
    };
    ctx.runs.push(spec);
    return new RunValue(spec);
  });

  const test = new Builtin("test", (thread, args, kwargs) => {
    const [drv, a] = unpackArgs("test", args, kwargs, "derivation", "args?");
    if (!(drv instanceof DerivationValue)) fail(`test: derivation must be a derivation, not ${typeName(drv!)}`);
    const spec = { derivation: drv.drvHash, args: stringList("test", "args", a), location: location(thread) };
    ctx.tests.push(spec);
    return new TestValue(spec);
  });

  // Every package pins its fetches in its own bramble.lock: a fetch made by a module of a loaded
  // package (the seed library, a [dependencies] path) takes its hash from that package's lock,
  // never the evaluated project's, and no evaluation of another project writes it.
  const packageLocks = new Map<string, Map<string, string>>();
  /** The loaded package (not the project evaluated) whose module makes this call, if any. */
  const libraryOf = (thread: Thread, fn: string) => {
    const owner = owningProject(resolve(ctx.project.root, callerFile(thread, fn)), ctx.project);
    return owner.root === ctx.project.root ? undefined : owner;
  };
  /** The pin of a fetch key in the lock of the package making the fetch; a library's missing pin is an error. */
  const lockedHash = (thread: Thread, fn: string, key: string): string | undefined => {
    const library = libraryOf(thread, fn);
    if (!library) return ctx.lock.get(key);
    let lock = packageLocks.get(library.root);
    if (!lock) packageLocks.set(library.root, (lock = readLock(library.root).urlhashes));
    const pinned = lock.get(key);
    if (pinned === undefined) {
      fail(
        `${fn}: package "${library.name}" pins no hash for ${key} in ${join(library.root, LOCK_FILE)} (a loaded package's fetches are pinned in its own bramble.lock, which evaluating another project never writes: add the pin there, or pass hash=)`,
      );
    }
    return pinned;
  };

  const fetchDerivation = (
    thread: Thread,
    fn: string,
    name: string,
    builder: "fetch_url" | "fetch_git",
    env: Record<string, string>,
    key: string,
    hash: Value | undefined,
  ) => {
    let outputHash = optString(fn, "hash", hash);
    if (outputHash !== undefined && !HASH_RE.test(outputHash)) fail(`${fn}: hash ${JSON.stringify(outputHash)} is not a sha256 hash`);
    outputHash ??= lockedHash(thread, fn, key);
    const drv: Derivation = { name, builder, args: [], env, outputs: ["out"], network: true, platform: ANY_SYSTEM, system: ANY_SYSTEM };
    if (outputHash !== undefined) drv.outputHash = outputHash;
    const value = register(thread, drv);
    // Only the project evaluated records first fetches (in its own lock); a library's are pinned.
    if (libraryOf(thread, fn) === undefined) ctx.fetchKeys.set(value.drvHash, key);
    return value;
  };

  const fetch_url = new Builtin("fetch_url", (thread, args, kwargs) => {
    const [url, hash, nm] = unpackArgs("fetch_url", args, kwargs, "url", "hash?", "name?");
    // One URL, or a list of archives unpacked into one tree (several .debs as one toolchain).
    const urls = typeof url === "string" ? [url] : stringList("fetch_url", "url", url);
    if (urls.length === 0) fail("fetch_url: url must name at least one URL");
    for (const u of urls) {
      if (!/^(https?|file|mirror):\/\/./.test(u)) fail(`fetch_url: url ${JSON.stringify(u)} must start with http://, https://, file:// or mirror://<name>/`);
      if (/\s/.test(u)) fail(`fetch_url: url ${JSON.stringify(u)} may not contain whitespace`);
    }
    const name = optString("fetch_url", "name", nm) ?? (basename(new URL(urls[0]!).pathname) || "fetch-url");
    const env: Record<string, string> = urls.length === 1 ? { url: urls[0]! } : { urls: urls.join("\n") };
    return fetchDerivation(thread, "fetch_url", name.replace(/[^A-Za-z0-9._+-]/g, "_"), "fetch_url", env, urls.join(" "), hash);
  });

  const fetch_git = new Builtin("fetch_git", (thread, args, kwargs) => {
    const [url, ref, hash, nm] = unpackArgs("fetch_git", args, kwargs, "url", "ref?", "hash?", "name?");
    if (typeof url !== "string" || url === "") fail("fetch_git: url must be a non-empty string");
    const gitRef = optString("fetch_git", "ref", ref) ?? "HEAD";
    const name = optString("fetch_git", "name", nm) ?? (basename(url.replace(/\/+$/, "")).replace(/\.git$/, "") || "fetch-git");
    return fetchDerivation(thread, "fetch_git", name.replace(/[^A-Za-z0-9._+-]/g, "_"), "fetch_git", { url, ref: gitRef }, `git+${url}#${gitRef}`, hash);
  });

  const { arch, os } = splitSystem(ctx.host);
  const sys = new Struct("sys", { os, arch, platform: ctx.host, host: ctx.host, target: ctx.target });

  return { derivation, files, run, test, fetch_url, fetch_git, sys, assert: makeAssert() };
}

/**
 * The file sources are relative to: the derivation() call's, or, when a library outside the
 * project makes the derivation (the seed library's shell()), the innermost call in the project,
 * where files() listed them.
 */
function sourcesBase(ctx: EvalContext, thread: Thread, file: string): string {
  const inside = (f: string) => {
    const rel = relative(ctx.project.root, resolve(ctx.project.root, f));
    return !rel.startsWith("..") && !isAbsolute(rel);
  };
  if (inside(file)) return file;
  const frames = thread.callStack();
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i]!.pos.file;
    if (inside(f)) return resolve(ctx.project.root, f);
  }
  return file;
}

/**
 * A files() pattern as written by bramble users: "./x" is "x" (bramble's examples write
 * "./*.go"). Refused, with the reason: absolute paths and ".." (this project's sources never
 * leave the project: a build must not depend on files outside what the project ships; bramble
 * allows ".." within the project), empty patterns, and malformed ones ("[" without "]").
 */
function cleanPattern(field: string, p: string): string {
  const q = p
    .replace(/^(\.\/)+/, "")
    .replace(/\/\.(?=\/|$)/g, "")
    .replace(/\/+/g, "/")
    .replace(/\/$/, "");
  if (isAbsolute(p) || q.split("/").includes("..")) {
    fail(
      `files: ${field} pattern ${JSON.stringify(p)} must stay inside the project, below this module's directory (no absolute path, no '..'): unlike bramble, which allows '..' within the project, files() here never lists files outside the directory of the module that calls it (docs/projects.md)`,
    );
  }
  if (q === "" || q === ".") fail(`files: ${field} pattern ${JSON.stringify(p)} names no files (use "*" or "**")`);
  const problem = patternProblem(q);
  if (problem) fail(`files: ${field} pattern ${JSON.stringify(p)} is malformed: ${problem}`);
  return q;
}

function resolveSources(ctx: EvalContext, file: string, srcs: string[]) {
  const root = ctx.project.root;
  const dir = dirname(file);
  const files: string[] = [];
  for (const s of srcs) {
    let abs = resolve(dir, s);
    // A path files() listed in another module's directory (a files() value passed to a
    // derivation made elsewhere): resolved where files() found it.
    if (!existsSync(abs) && !isLink(abs)) {
      const origins = (ctx.filesOrigins.get(s) ?? []).filter((d) => existsSync(resolve(d, s)) || isLink(resolve(d, s)));
      if (origins.length === 1) abs = resolve(origins[0]!, s);
      else if (origins.length > 1) {
        fail(
          `derivation: source ${JSON.stringify(s)} was listed by files() in ${origins.length} directories (${origins.map((d) => relative(root, d) || ".").join(", ")}); write the path from this module's directory`,
        );
      }
    }
    const rel = relative(root, abs);
    if (rel.startsWith("..") || isAbsolute(rel)) fail(`derivation: source ${JSON.stringify(s)} is outside the project at ${root}`);
    if (!existsSync(abs) && !isLink(abs)) fail(`derivation: source ${JSON.stringify(s)} does not exist (${abs})`);
    if (isLink(abs) && symlinkLoops(abs)) fail(`derivation: source ${JSON.stringify(s)} is a symlink loop (${abs} -> ${readlinkSync(abs)})`);
    if (!isLink(abs) && statSync(abs).isDirectory()) {
      // A directory (files(include_directories = True) lists them): its files, nested projects excluded.
      const below = glob(abs, { include: ["**"], exclude: [], includeDirectories: false, skipDir: (_r, a) => existsSync(join(a, PROJECT_FILE)) });
      for (const f of below) files.push(relative(root, join(abs, f)).split(sep).join("/"));
      continue;
    }
    files.push(rel.split(sep).join("/"));
  }
  files.sort();
  const unique = [...new Set(files)];
  return { hash: hashSources(root, unique), dir: relative(root, dir).split(sep).join("/"), files: unique };
}

/** A symlink that never resolves (a -> b -> a). Links out of the project are kept as links, never followed. */
function symlinkLoops(p: string): boolean {
  try {
    statSync(p);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ELOOP";
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function makeAssert(): Value {
  const check = (cond: boolean, msg: string) => {
    if (!cond) fail(msg);
    return None;
  };
  return new Struct("assert", {
    eq: new Builtin("assert.eq", (_t, args, kwargs) => {
      const [a, b, msg] = unpackArgs("assert.eq", args, kwargs, "a", "b", "msg?");
      return check(equal(a!, b!), optString("assert.eq", "msg", msg) ?? `${repr(a!)} != ${repr(b!)}`);
    }),
    ne: new Builtin("assert.ne", (_t, args, kwargs) => {
      const [a, b, msg] = unpackArgs("assert.ne", args, kwargs, "a", "b", "msg?");
      return check(!equal(a!, b!), optString("assert.ne", "msg", msg) ?? `${repr(a!)} == ${repr(b!)}`);
    }),
    true: new Builtin("assert.true", (_t, args, kwargs) => {
      const [cond, msg] = unpackArgs("assert.true", args, kwargs, "cond", "msg?");
      return check(truth(cond!), optString("assert.true", "msg", msg) ?? `assertion failed: ${repr(cond!)} is not true`);
    }),
    lt: new Builtin("assert.lt", (_t, args, kwargs) => {
      const [a, b, msg] = unpackArgs("assert.lt", args, kwargs, "a", "b", "msg?");
      return check(compare(a!, b!) < 0, optString("assert.lt", "msg", msg) ?? `${repr(a!)} is not less than ${repr(b!)}`);
    }),
    contains: new Builtin("assert.contains", (_t, args, kwargs) => {
      const [container, x, msg] = unpackArgs("assert.contains", args, kwargs, "container", "x", "msg?");
      const js = toJS(container!);
      let found: boolean;
      if (typeof js === "string") found = typeof x === "string" && js.includes(x);
      else if (Array.isArray(js) || js instanceof Set) found = [...js].some((item) => equal(item as Value, x!));
      else if (js instanceof Map) found = [...js.keys()].some((k) => equal(k as Value, x!));
      else fail(`assert.contains: ${typeName(container!)} is not a container`);
      return check(found, optString("assert.contains", "msg", msg) ?? `${repr(container!)} does not contain ${repr(x!)}`);
    }),
    fails: new Builtin("assert.fails", (thread, args, kwargs) => {
      const [fn, pattern] = unpackArgs("assert.fails", args, kwargs, "fn", "pattern");
      if (typeof pattern !== "string") fail("assert.fails: pattern must be a string");
      try {
        call(thread, fn!, []);
      } catch (err) {
        const msg = err instanceof StarlarkError ? err.msg : String((err as Error).message);
        if (!new RegExp(pattern).test(msg)) fail(`assert.fails: error ${JSON.stringify(msg)} does not match ${JSON.stringify(pattern)}`);
        return None;
      }
      return fail(`assert.fails: ${str(fn!)} did not fail (expected an error matching ${JSON.stringify(pattern)})`);
    }),
    fail: new Builtin("assert.fail", (_t, args, kwargs) => {
      const [msg] = unpackArgs("assert.fail", args, kwargs, "msg");
      return fail(typeof msg === "string" ? msg : repr(msg!));
    }),
  });
}
