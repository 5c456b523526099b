// Output hashing off the calling thread. hashTree reads and hashes every byte of a build's
// outputs; under `bramble serve` (and in the app's service process) that would stop the
// server answering while a large output is hashed, so the service points this module at
// dist/hash-worker.mjs and hashing runs in worker threads (one per hash in flight, kept
// for reuse). Without a worker script (the CLI, tests) it runs on the calling thread.
import { Worker } from "node:worker_threads";
import { hashTree, type TreeHashOptions, type TreeInfo } from "./archive.js";

export interface HashRequest {
  id: number;
  root: string;
  opts: { storeDir: string; selfHash?: string; candidates?: string[]; normalize?: [string, string][] };
}
export type HashReply = { id: number; ok: true; tree: TreeInfo } | { id: number; ok: false; message: string; code?: string };

let script: string | undefined;
const idle: Worker[] = [];
let nextId = 1;

/** Hash in worker threads running `workerScript` from now on (undefined: on the calling thread). */
export function useHashWorkers(workerScript: string | undefined): void {
  script = workerScript;
  for (const w of idle.splice(0)) void w.terminate();
}

/** hashTree, in a worker thread when useHashWorkers was given a script. Same result. */
export function hashTreeOffThread(root: string, opts: TreeHashOptions): Promise<TreeInfo> {
  if (!script) {
    try {
      return Promise.resolve(hashTree(root, opts));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  const w = idle.pop() ?? new Worker(script);
  w.ref();
  const id = nextId++;
  const request: HashRequest = {
    id,
    root,
    opts: {
      storeDir: opts.storeDir,
      selfHash: opts.selfHash,
      candidates: opts.candidates instanceof Map ? [...opts.candidates.keys()] : opts.candidates ? [...(opts.candidates as Iterable<string>)] : undefined,
      normalize: opts.normalize ? [...opts.normalize] : undefined,
    },
  };
  return new Promise<TreeInfo>((resolve, reject) => {
    const done = () => {
      w.off("message", onMessage);
      w.off("error", onError);
    };
    const onMessage = (m: HashReply) => {
      if (m.id !== id) return;
      done();
      // An idle worker must not keep the process alive.
      w.unref();
      if (idle.length < 4) idle.push(w);
      else void w.terminate();
      if (m.ok) resolve({ ...m.tree, digest: Buffer.from(m.tree.digest) });
      else reject(Object.assign(new Error(m.message), m.code ? { code: m.code } : {}));
    };
    const onError = (err: Error) => {
      done();
      void w.terminate();
      reject(err);
    };
    w.on("message", onMessage);
    w.on("error", onError);
    w.postMessage(request);
  });
}
