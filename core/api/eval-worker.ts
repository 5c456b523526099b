// The body of an evaluation worker thread (built to dist/eval-worker.mjs): evaluates what
// the service asks, one request at a time, and answers with the Evaluation (plain data, so
// it crosses by structured clone) or the ApiError a client would see.
import { parentPort } from "node:worker_threads";
import { evaluateRequest, type WorkerReply, type WorkerRequest } from "./evaluator.js";
import { toApiError } from "./errors.js";

if (!parentPort) throw new Error("eval-worker runs as a worker thread");
const port = parentPort;

port.on("message", ({ id, req, cancel }: WorkerRequest) => {
  const flag = new Int32Array(cancel);
  let reply: WorkerReply;
  try {
    reply = { id, ok: true, evaluation: evaluateRequest(req, () => Atomics.load(flag, 0) !== 0) };
  } catch (err) {
    reply = { id, ok: false, error: toApiError(err) };
  }
  port.postMessage(reply);
});
