// The service's own process (Electron's utilityProcess.fork of dist/electron/service.mjs):
// the engine, its database and its builds live here, and evaluations run in worker threads
// of this process, so neither the window's main process nor this process's message loop
// waits on a project. Main relays the renderer's requests (electron/service-link.ts).
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { workerEvaluator } from "../core/api/evaluator.js";
import { createService, firstModuleArg, moduleInfos } from "../core/api/service.js";
import { loadProject } from "../core/project/project.js";
import { useHashWorkers } from "../core/store/hash-pool.js";
import { makeInvokeHandler } from "./ipc.js";
import { serveOverPort, type ToService } from "./service-link.js";

interface ParentPort {
  postMessage(message: unknown): void;
  on(event: "message", listener: (e: { data: unknown }) => void): void;
}

const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
if (!parentPort) throw new Error("service-process runs as an Electron utility process");

const here = dirname(fileURLToPath(import.meta.url));

/** The project named on the command line (main passes its arguments on), else the bundled example. */
function defaultProject(args: string[]): { project?: string; moduleArg?: string } {
  const arg = args.find((a) => !a.startsWith("-"));
  const candidate = arg ? resolve(arg) : join(here, "..", "..", "examples", "hello");
  try {
    const project = loadProject(candidate);
    return { project: project.root, moduleArg: firstModuleArg(moduleInfos(project)) ?? undefined };
  } catch {
    return {};
  }
}

/** main's arguments, passed in the environment (electron/main.ts). */
function appArgs(): string[] {
  try {
    const v = JSON.parse(process.env.BRAMBLE_APP_ARGS ?? "[]") as unknown;
    return Array.isArray(v) ? v.filter((a): a is string => typeof a === "string") : [];
  } catch {
    return [];
  }
}

const { project, moduleArg } = defaultProject(appArgs());
const worker = join(here, "..", "eval-worker.mjs");
const hasher = join(here, "..", "hash-worker.mjs");
if (existsSync(hasher)) useHashWorkers(hasher);
const host = createService({
  defaultProject: project,
  defaultModuleArg: moduleArg,
  evaluator: existsSync(worker) ? workerEvaluator(worker) : undefined,
  watch: true,
});
const invoke = makeInvokeHandler(host);
serveOverPort(
  {
    postMessage: (m) => parentPort.postMessage(m),
    onMessage: (listener) => parentPort.on("message", (e) => listener(e.data as ToService)),
  },
  invoke,
  (l) => host.onEvent(l),
  () => {
    host.close();
    process.exit(0);
  },
);
