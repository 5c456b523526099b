// The one service surface, shared by the CLI, Electron main (over IPC) and `bramble serve`
// (over WebSocket). Requests are validated with these schemas wherever they cross a
// process boundary; the renderer imports only types and schemas from here.
import { z } from "zod";
import type { BackendInfo, BuildEvent as RunEvent, BuildRecord, OutputInfo } from "../model/types.js";

// The domain types live below this layer (core/model); the API re-exports them.
export type { BackendInfo, BuildRecord, BuildStatus, OutputInfo, PathInfo, RunRecord, RunStatus } from "../model/types.js";

/** What the service sends every client: a build run's events, and the graphs an edit re-evaluated. */
export type BuildEvent = RunEvent | GraphUpdatedEvent;

/**
 * A watched project's files changed and the service re-evaluated, in the background, every
 * graph a client was shown of it (each function, target and retarget preview), and sends each
 * to every client, asked or not. Without `moduleArg` no graph of the project was shown: just
 * its modules.
 */
export interface GraphUpdatedEvent {
  type: "graph-updated";
  runId?: undefined;
  project: string;
  /** the files whose change started it */
  files: string[];
  /** the project's modules and functions now (a module that no longer parses carries its error) */
  modules: ModuleInfo[];
  moduleArg?: string;
  /** the target the client asked for (absent: the host) */
  target?: string;
  /** the new graph (for a retarget preview: diff.to) */
  graph?: Graph;
  /** set when the graph shown was a retarget preview (graph.diff) */
  diff?: GraphDiff;
  /** hashes of the new graph that the one shown before did not have: what the edit changed */
  changed?: string[];
  /** the evaluation failed: why, and where */
  error?: ApiError;
}

const systemString = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.-]+$/, "a system looks like <arch>-<os>");
const hashString = z.string().regex(/^[0-9a-z]{32}$/, "a derivation hash is 32 base32 characters");
const pathString = z.string().min(1).max(4096);

/** skipped: it did not run because a dependency failed (its last run's, from the scheduler) */
export const NodeState = z.enum(["not-built", "cached", "queued", "building", "built", "failed", "cancelled", "skipped"]);
export type NodeState = z.infer<typeof NodeState>;

export interface GraphNode {
  hash: string;
  name: string;
  /** the program or built-in name */
  builder: string;
  /** what the builder badge shows: the planned backend, or the built-in's name */
  badge: string;
  /** the backend the planner chose, or null when none can build it */
  backend: string | null;
  /** that backend's kind (local, qemu, docker, ssh, reapi), for the badge's colour */
  backendKind?: string;
  /** why no backend was chosen */
  planError?: string;
  platform: string;
  system: string;
  outputs: string[];
  args: string[];
  env: Record<string, string>;
  /** output name → store path, for outputs already in the store */
  outputPaths: Record<string, string>;
  state: NodeState;
  /** the derivation's source position (file:line:col of the derivation() call) */
  location?: string;
  /** impure: the host paths it sees (a project's sandbox_paths the user allowed); `--pure` refuses it */
  hostPaths?: string[];
}

export interface GraphEdge {
  /** the dependency */
  from: string;
  /** the dependent */
  to: string;
}

export interface Graph {
  evaluationId: number;
  project: string;
  moduleArg: string;
  target: string;
  host: string;
  /** hashes of the derivations the evaluated functions returned */
  roots: string[];
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface GraphDiff {
  from: Graph;
  to: Graph;
  /** nodes of `to` that are not in `from` (would build for the new target) */
  changed: string[];
  /** nodes shared by both */
  unchanged: string[];
  /** nodes of `to` not yet in the store, with the backend that would build each */
  rebuild: { hash: string; name: string; backend: string | null; reason?: string }[];
}

export interface FunctionInfo {
  name: string;
  params: string[];
  doc: string;
}
export interface ModuleInfo {
  /** the module argument form, e.g. `./sub` or `./file.bramble` */
  module: string;
  file: string;
  functions: FunctionInfo[];
  /** why the module does not parse (then it lists no functions) */
  error?: EvalErrorInfo;
}
/** A run as a reloaded page reattaches to it: what it builds and each node's state so far. */
export interface RunSummary {
  runId: string;
  project: string;
  moduleArg: string;
  target: string;
  /** interrupted: the process running it died (a restarted server), and its builds with it */
  status: "running" | "built" | "failed" | "cancelled" | "interrupted";
  startedAt: number;
  endedAt?: number;
  states: Record<string, "building" | "built" | "cached" | "failed" | "cancelled" | "skipped">;
  /** run by another process (a `bramble build` in a terminal): no events reach this service's clients, ask build.run again */
  external?: boolean;
}
export interface ProjectInfo {
  root: string;
  name: string;
  version: string;
  modules: ModuleInfo[];
}

export interface DerivationDetails {
  node: GraphNode;
  derivation: unknown;
  outputs: OutputInfo[];
  dependencies: { hash: string; name: string }[];
  dependents: { hash: string; name: string }[];
  builds: BuildRecord[];
  /** the latest build's REAPI Action, when a reapi backend ran it or its Action Cache had it (docs/remote.md) */
  remote?: {
    actionDigest: string;
    endpoint?: string;
    cached: boolean;
    worker?: string;
    queuedMs?: number;
    inputsMs?: number;
    executionMs?: number;
    outputsMs?: number;
  };
  /** once built: the size of its outputs' closure (bytes, number of store paths) and what it adds over its dependencies' outputs */
  closure?: { size: number; paths: number; added: number };
  /** the command that opens this derivation's sandbox shell */
  shellCommand: string;
}

/** A project's build file, for showing where an evaluation error is. */
export interface SourceFile {
  path: string;
  text: string;
}

export interface EvalErrorInfo {
  message: string;
  file?: string;
  line?: number;
  col?: number;
  sourceLine?: string;
  stack?: string;
}

// ---- requests ----

const project = pathString.describe("the project directory");
const moduleArg = z.string().min(1).max(1024).describe("a module argument such as ./path:fn");
const evalId = z
  .string()
  .min(1)
  .max(96)
  .describe("a name the client gives an evaluation, to cancel it with evaluation.cancel (bramble serve prefixes it with the connection)");

export const requests = {
  "app.info": z.object({}).strict(),
  "project.open": z.object({ path: project }).strict(),
  "project.recent": z.object({}).strict(),
  "graph.evaluate": z.object({ project, moduleArg, target: systemString.optional(), evalId: evalId.optional() }).strict(),
  "graph.diff": z.object({ project, moduleArg, target: systemString, evalId: evalId.optional() }).strict(),
  "build.start": z
    .object({
      project,
      moduleArg,
      target: systemString.optional(),
      evalId: evalId.optional(),
      only: z.array(hashString).max(100000).optional(),
      keepGoing: z.boolean().optional(),
      keepFailed: z.boolean().optional(),
      keepRemote: z.boolean().optional().describe("leave outputs built on another backend in its store"),
      remoteCache: z
        .union([z.string(), z.literal(false)])
        .optional()
        .describe("a reapi backend whose Action Cache local builds consult and fill"),
      jobs: z.number().int().min(1).max(256).optional(),
      builder: z.string().min(1).max(128).optional(),
      timeout: z
        .number()
        .positive()
        .max(7 * 24 * 3600)
        .optional()
        .describe("seconds a builder may run"),
      pure: z.boolean().optional().describe("refuse impure derivations (those that see host paths)"),
      tests: z.boolean().optional().describe("build the derivations test() declares instead of the roots, and list the tests"),
    })
    .strict(),
  "build.cancel": z.object({ runId: z.string().min(1).max(64) }).strict(),
  "build.runs": z.object({}).strict(),
  "build.run": z.object({ runId: z.string().min(1).max(64) }).strict(),
  "graph.derivation": z.object({ hash: hashString }).strict(),
  "evaluation.cancel": z.object({ evalId }).strict(),
  "derivation.get": z.object({ hash: hashString }).strict(),
  "log.get": z.object({ buildId: z.number().int().min(1), fromLine: z.number().int().min(0).optional() }).strict(),
  "history.list": z.object({ limit: z.number().int().min(1).max(10000).optional(), drvHash: hashString.optional() }).strict(),
  "backends.list": z.object({ project: project.optional().describe("also the backends this project's bramble.toml declares") }).strict(),
  "sandbox.exec": z
    .object({
      project,
      paths: z.array(pathString).min(1).max(10000).describe("store paths the command sees, with their closures"),
      command: z
        .array(z.string().max(1 << 16))
        .min(1)
        .max(10000),
      env: z.record(z.string(), z.string()).optional(),
      timeout: z
        .number()
        .positive()
        .max(7 * 24 * 3600)
        .optional()
        .describe("seconds the command may run"),
    })
    .strict(),
  "shell.open": z
    .object({
      project: project.optional(),
      hash: hashString.optional().describe("the derivation; default: the first root of moduleArg, else the last failed build's"),
      moduleArg: moduleArg.optional(),
      target: systemString.optional(),
    })
    .strict(),
  "run.open": z
    .object({
      project,
      paths: z.array(pathString).min(1).max(10000),
      command: z
        .array(z.string().max(1 << 16))
        .min(1)
        .max(10000),
      readOnlyPaths: z.array(pathString).max(1000).optional(),
      writablePaths: z.array(pathString).max(1000).optional(),
      network: z.boolean().optional(),
      /** the directory the program starts in, bound read-only unless it is among writablePaths (bramble run: the current directory) */
      cwd: pathString.optional(),
      /** host paths the program must not see (an empty directory or /dev/null is mounted over each) */
      hiddenPaths: z.array(pathString).max(1000).optional(),
      /** the system the program is built for: another Linux architecture runs under qemu, as the qemu backend builds it */
      system: systemString.optional(),
    })
    .strict(),
  "sandbox.close": z.object({ sandbox: z.string().min(1).max(64) }).strict(),
  "source.get": z.object({ path: pathString }).strict(),
} as const;

export type Method = keyof typeof requests;
export type Params<M extends Method> = z.infer<(typeof requests)[M]>;

export interface AppInfo {
  version: string;
  host: string;
  /** the project `bramble serve` or the app was started on, if any */
  defaultProject: string | null;
  /** its first module argument worth showing, e.g. ./examples/hello:default */
  defaultModuleArg: string | null;
}

export interface Results {
  "app.info": AppInfo;
  "project.open": ProjectInfo;
  "project.recent": string[];
  "graph.evaluate": Graph;
  "graph.diff": GraphDiff;
  /** runId is empty when there was nothing to build (tests asked for, none declared) */
  "build.start": { runId: string; roots: { hash: string; name: string; system?: string }[]; total: number; tests?: TestInfo[]; runs?: RunInfo[] };
  "build.cancel": { cancelled: boolean };
  /** the runs this service started (newest first), running or ended, with each node's state */
  "build.runs": RunSummary[];
  /** one run by id, from this service or (after a restart) the database; null: no such run */
  "build.run": RunSummary | null;
  /** the graph of a derivation and what it needs, from the database (an old derivation the current evaluation no longer has) */
  "graph.derivation": Graph;
  "evaluation.cancel": { cancelled: boolean };
  "derivation.get": DerivationDetails;
  "log.get": { lines: string[]; nextLine: number; running: boolean };
  "history.list": BuildRecord[];
  "backends.list": BackendInfo[];
  "sandbox.exec": { exitCode: number | null; signal: string | null; output: string };
  "shell.open": SandboxHandle & { hash: string };
  "run.open": SandboxHandle;
  "sandbox.close": { closed: boolean };
  "source.get": SourceFile;
}

// ---- local methods: the CLI's, in-process only (core/api/local.ts); no transport reaches them ----

const storeSpec = z.string().min(1).max(4096).describe("a backend's store by name, reapi:NAME, or path:<BRAMBLE_PATH>");
const query = z.string().max(4096).describe("a build id, a store path, or a derivation (a name, a hash or a unique prefix)");

export const localRequests = {
  "log.find": z.object({ query }).strict(),
  "log.chunk": z.object({ buildId: z.number().int().min(1), fromLine: z.number().int().min(0) }).strict(),
  "history.named": z.object({ limit: z.number().int().min(1), query: query.optional() }).strict(),
  "store.whyDepends": z.object({ a: query, b: query, all: z.boolean().optional(), precise: z.boolean().optional() }).strict(),
  "store.gc": z.object({ dryRun: z.boolean().optional(), store: storeSpec.optional() }).strict(),
  "store.add": z.object({ path: pathString }).strict(),
  "store.paths": z.object({ query: query.optional() }).strict(),
  "store.closure": z.object({ paths: z.array(query).min(1) }).strict(),
  "store.verify": z.object({ repair: z.boolean().optional(), store: storeSpec.optional() }).strict(),
  "store.copy": z.object({ from: storeSpec, to: storeSpec, paths: z.array(query).min(1) }).strict(),
  "store.roots": z.object({ paths: z.array(query).min(1), keep: z.boolean() }).strict(),
  "build.check": z
    .object({ project, moduleArg, target: systemString.optional(), jobs: z.number().int().min(1).max(256).optional(), only: z.string().optional() })
    .strict(),
  "project.parse": z.object({ project, moduleArg }).strict(),
  "project.allowPaths": z.object({ project }).strict(),
  "derivation.resolve": z.object({ query }).strict(),
  "outLink.make": z.object({ link: pathString, target: pathString }).strict(),
  "hashWorkers.use": z.object({ script: pathString.optional() }).strict(),
} as const;

export type LocalMethod = keyof typeof localRequests;
export type LocalParams<M extends LocalMethod> = z.infer<(typeof localRequests)[M]>;

/** A store path in why-depends' tree; `hits` (with `precise`) are where its parent refers to it. */
export interface WhyDependsNode {
  path: string;
  hits?: { file: string; context: string }[];
  children: WhyDependsNode[];
}

export interface StoreProblem {
  name: string;
  /** the store path */
  path: string;
  problem: "missing" | "corrupt" | "incomplete-closure" | "modes";
  detail?: string;
  expected?: string;
  got?: string;
}

export interface LocalResults {
  "log.find": { buildId: number };
  "log.chunk": { lines: string[]; nextLine: number; running: boolean };
  /** builds, newest first, and the system of each derivation among them that is recorded */
  "history.named": { builds: BuildRecord[]; systems: Record<string, string> };
  /** the references from a to b, as nix why-depends shows them: one chain, or with `all` every path */
  "store.whyDepends": WhyDependsNode;
  "store.gc": { dryRun: boolean; deleted: string[]; bytes: number };
  "store.add": { hash: string; path: string; url: string; pin: string; lockLine: string };
  "store.paths": string[];
  "store.closure": { path: string; size: number }[];
  "store.verify": StoreProblem[];
  "store.copy": { copied: string[]; linked: number };
  "store.roots": Record<string, never>;
  "build.check": {
    checked: number;
    differences: { drvHash: string; name: string; output: string; expected: string; got: string; firstDifference: string }[];
    failed: string[];
  };
  "project.parse": { modules: number };
  /** the project's sandbox_paths now allowed on this machine, and the file that remembers it (none asked: no file) */
  "project.allowPaths": { root: string; paths: string[]; file?: string };
  /** the derivation a query names; `ambiguous` (several systems or hashes) says why none was picked; neither: nothing has that name */
  "derivation.resolve": { hash?: string; ambiguous?: string };
  "outLink.make": Record<string, never>;
  "hashWorkers.use": Record<string, never>;
}

export type LocalService = { [M in LocalMethod]: (params: LocalParams<M>) => Promise<LocalResults[M]> };

/** A run() value the evaluated functions returned: what `bramble run` starts. */
export interface RunInfo {
  derivation: string;
  cmd: string;
  args: string[];
  paths: string[];
  readOnly: boolean;
  hiddenPaths: string[];
  network: boolean;
}

/** A test() a build ran for: the derivation, its command (none: building is the test) and where it was declared. */
export interface TestInfo {
  derivation: string;
  name: string;
  args: string[];
  location: string;
}

/**
 * A sandbox prepared for a client to spawn with its terminal attached (`bramble shell`, `bramble
 * run`): bwrap's argv, run with an empty environment; `sandbox.close` removes its directories.
 */
export interface SandboxHandle {
  argv: string[];
  dir: string;
  sandbox: string;
}

export type Service = { [M in Method]: (params: Params<M>) => Promise<Results[M]> };

/** Errors the service reports to a client: a message, plus the field or the source place. */
export interface ApiError {
  message: string;
  field?: string;
  evalError?: EvalErrorInfo;
}

// ---- wire protocol (WebSocket; IPC carries the same request/response objects) ----

export const ClientMessage = z
  .object({
    id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    method: z.enum(Object.keys(requests) as [Method, ...Method[]]),
    params: z.unknown(),
  })
  .strict();
export type ClientMessage = z.infer<typeof ClientMessage>;

export type ServerMessage =
  | { id: number; result: unknown }
  | { id: number | null; error: ApiError }
  | { event: BuildEvent }
  /** events in order, for clients that connected with `?batch=1` */
  | { events: BuildEvent[] };

/** Validate a method's params; throws an ApiError-shaped error naming the field. */
export function parseParams<M extends Method>(method: M, params: unknown): Params<M> {
  const result = requests[method].safeParse(params ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.join(".") || "(params)";
    throw Object.assign(new Error(`invalid ${method} request: ${field}: ${issue.message}`), { field });
  }
  return result.data as Params<M>;
}
