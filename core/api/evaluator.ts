// Where evaluations run. The CLI and tests evaluate on their own thread (`inlineEvaluator`);
// `bramble serve` and the app's service process evaluate in worker threads
// (`workerEvaluator`), so a slow or endless evaluation never stops the server from
// answering its other clients. Either way an evaluation has a step and time budget, and can
// be cancelled: a worker reads a shared cancel flag between slices of steps, and a worker
// that does not stop in time is terminated.
import { Worker } from "node:worker_threads";
import { createContext, evaluate, type EvalLimits, type Evaluation } from "../project/evaluate.js";
import { loadProject } from "../project/project.js";
import { ServiceError } from "./errors.js";
import type { ApiError } from "./schema.js";

export interface EvalRequest {
  /** the project root (already resolved) */
  project: string;
  moduleArg: string;
  target?: string;
  limits: { maxSteps: number; timeoutMs: number };
  /** where the project's dependencies by version were fetched: package name → directory (core/project/dependencies.ts) */
  packages?: Record<string, string>;
}

export interface Evaluator {
  /** Evaluate; a failure that crossed from a worker rejects as EvaluationFailed (a ServiceError). */
  evaluate(req: EvalRequest, signal?: AbortSignal): Promise<Evaluation>;
  /** evaluations running now */
  running(): number;
  close(): void;
}

/** An evaluation failure that crossed a thread: the ApiError the worker made of it. */
export class EvaluationFailed extends ServiceError {}

/** Run one evaluation on the calling thread. */
export function evaluateRequest(req: EvalRequest, cancelled?: () => boolean): Evaluation {
  const project = loadProject(req.project);
  const limits: EvalLimits = { ...req.limits, cancelled };
  const ctx = createContext(project, { target: req.target, limits, packages: req.packages });
  return evaluate(ctx, [req.moduleArg], project.root);
}

export function inlineEvaluator(): Evaluator {
  let n = 0;
  return {
    async evaluate(req, signal) {
      n++;
      try {
        return evaluateRequest(req, () => signal?.aborted ?? false);
      } finally {
        n--;
      }
    },
    running: () => n,
    close() {},
  };
}

/** Messages between the service and an evaluation worker. */
export type WorkerRequest = { id: number; req: EvalRequest; cancel: SharedArrayBuffer };
export type WorkerReply = { id: number; ok: true; evaluation: Evaluation } | { id: number; ok: false; error: ApiError };

/** How long a cancelled worker gets to stop by itself before it is terminated. */
const GRACE_MS = 2_000;
/**
 * Past its time budget, a worker stops itself at the line it is on (its clock starts when it
 * begins, after the thread's start-up); it is terminated only if it is still running this
 * much later (stuck outside Starlark, e.g. in a system call).
 */
const DEADLINE_SLACK_MS = 10_000;

/**
 * A pool of evaluation workers running `script` (dist/eval-worker.mjs). Idle workers are
 * kept (up to `keep`) so an evaluation does not pay for a thread's start-up; a busy pool
 * starts another worker, so one endless evaluation never makes another client wait.
 */
export function workerEvaluator(script: string | URL, opts: { keep?: number; max?: number } = {}): Evaluator {
  const keep = opts.keep ?? 2;
  // At most this many evaluations run at once; more wait their turn (each has a time budget),
  // so a flood of requests cannot start a thread each.
  const max = opts.max ?? 8;
  const idle: Worker[] = [];
  const busy = new Set<Worker>();
  const waiting: (() => void)[] = [];
  let nextId = 1;
  let closed = false;

  const take = (): Worker => {
    const w = idle.pop() ?? new Worker(script, { stderr: false, stdout: false });
    busy.add(w);
    return w;
  };
  const release = (w: Worker, healthy: boolean) => {
    busy.delete(w);
    if (healthy && !closed && idle.length < keep) idle.push(w);
    else void w.terminate();
  };

  let active = 0;
  const start = (req: EvalRequest, signal?: AbortSignal): Promise<Evaluation> => {
    active++;
    return run(req, signal).finally(() => {
      active--;
      waiting.shift()?.();
    });
  };

  return {
    evaluate(req, signal) {
      if (closed) return Promise.reject(new Error("the evaluator is closed"));
      if (active < max) return start(req, signal);
      return new Promise<Evaluation>((resolve, reject) => {
        const go = () => {
          signal?.removeEventListener("abort", onAbort);
          if (closed) reject(new Error("the evaluator is closed"));
          else start(req, signal).then(resolve, reject);
        };
        const onAbort = () => {
          const at = waiting.indexOf(go);
          if (at >= 0) waiting.splice(at, 1);
          reject(new EvaluationFailed({ message: "evaluation cancelled (it was waiting for a free evaluation thread)" }));
        };
        waiting.push(go);
        if (signal?.aborted) onAbort();
        else signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
    running: () => busy.size,
    close() {
      closed = true;
      for (const w of [...idle, ...busy]) void w.terminate();
      idle.length = 0;
      busy.clear();
      for (const go of waiting.splice(0)) go();
    },
  };

  function run(req: EvalRequest, signal?: AbortSignal): Promise<Evaluation> {
    const w = take();
    const id = nextId++;
    const cancel = new SharedArrayBuffer(4);
    const flag = new Int32Array(cancel);
    return new Promise<Evaluation>((resolve, reject) => {
      let killTimer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (healthy: boolean) => {
        done = true;
        clearTimeout(killTimer);
        clearTimeout(deadline);
        signal?.removeEventListener("abort", onAbort);
        w.off("message", onMessage);
        w.off("error", onError);
        w.off("exit", onExit);
        release(w, healthy);
      };
      // The worker stops itself at the budget's end or on the flag; if it is stuck outside
      // Starlark (a system call), it is terminated after a grace period.
      const stopHard = (why: string) => {
        if (done) return;
        killTimer = setTimeout(() => {
          if (done) return;
          finish(false);
          reject(new EvaluationFailed({ message: why }));
        }, GRACE_MS);
      };
      const onAbort = () => {
        Atomics.store(flag, 0, 1);
        stopHard("evaluation cancelled");
      };
      const deadline = setTimeout(
        () => stopHard(`evaluation stopped: it ran longer than its time budget of ${req.limits.timeoutMs / 1000} s`),
        req.limits.timeoutMs + DEADLINE_SLACK_MS,
      );
      const onMessage = (m: WorkerReply) => {
        if (m.id !== id) return;
        finish(true);
        if (m.ok) resolve(m.evaluation);
        else reject(new EvaluationFailed(m.error));
      };
      const onError = (err: Error) => {
        finish(false);
        reject(new EvaluationFailed({ message: `the evaluation worker failed: ${err.message}` }));
      };
      const onExit = (code: number) => {
        if (done) return;
        finish(false);
        reject(new EvaluationFailed({ message: `the evaluation worker exited (code ${code})` }));
      };
      w.on("message", onMessage);
      w.on("error", onError);
      w.on("exit", onExit);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
      w.postMessage({ id, req, cancel } satisfies WorkerRequest);
    });
  }
}
