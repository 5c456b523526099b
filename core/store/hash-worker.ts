// The body of an output-hashing worker thread (built to dist/hash-worker.mjs): hashTree for
// the service's builds, off the thread that answers clients (hash-pool.ts).
import { parentPort } from "node:worker_threads";
import { hashTree } from "./archive.js";
import type { HashRequest, HashReply } from "./hash-pool.js";

if (!parentPort) throw new Error("hash-worker runs as a worker thread");
const port = parentPort;

port.on("message", ({ id, root, opts }: HashRequest) => {
  let reply: HashReply;
  try {
    reply = { id, ok: true, tree: hashTree(root, { ...opts, normalize: new Map(opts.normalize) }) };
  } catch (err) {
    reply = { id, ok: false, message: (err as Error).message, code: (err as NodeJS.ErrnoException).code };
  }
  port.postMessage(reply);
});
