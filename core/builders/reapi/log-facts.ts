import { closeSync, openSync, readSync } from "node:fs";
// What a reapi build's log says about its Action, for the app's node panel: the reapi backend
// writes these lines into every build log it runs (and a remote-cache hit writes the first):
//   reapi: action <sha256>/<size> on <endpoint>
//   reapi: cached (remote) on <backend>: action <sha256>/<size>        (a cache hit)
//   reapi: ran on <worker>: 7 ms queued, 12 ms fetching inputs, 40 ms executing, 3 ms uploading outputs
export interface RemoteFacts {
  actionDigest: string;
  endpoint?: string;
  cached: boolean;
  worker?: string;
  queuedMs?: number;
  inputsMs?: number;
  executionMs?: number;
  outputsMs?: number;
}

export function ranOnLine(worker: string | undefined, t: { queuedMs?: number; inputsMs?: number; executionMs?: number; outputsMs?: number } = {}): string {
  const ms = (v: number | undefined) => (v === undefined ? "?" : v.toFixed(0));
  return `reapi: ran on ${worker ?? "?"}: ${ms(t.queuedMs)} ms queued, ${ms(t.inputsMs)} ms fetching inputs, ${ms(t.executionMs)} ms executing, ${ms(t.outputsMs)} ms uploading outputs`;
}

export function remoteFacts(lines: string[]): RemoteFacts | undefined {
  let facts: RemoteFacts | undefined;
  for (const l of lines) {
    let m = /^reapi: action ([0-9a-f]{64}\/\d+) on (.+)$/.exec(l);
    if (m) {
      facts = { actionDigest: m[1]!, endpoint: m[2]!, cached: false };
      continue;
    }
    m = /^reapi: cached \(remote\)(?: on [^:]+)?: action ([0-9a-f]{64}\/\d+)$/.exec(l);
    if (m) {
      facts = { ...(facts ?? {}), actionDigest: m[1]!, cached: true };
      continue;
    }
    m = /^reapi: ran on (.+): (\?|\d+) ms queued, (\?|\d+) ms fetching inputs, (\?|\d+) ms executing, (\?|\d+) ms uploading outputs$/.exec(l);
    if (m && facts) {
      const n = (s: string) => (s === "?" ? undefined : Number(s));
      facts = { ...facts, worker: m[1]!, queuedMs: n(m[2]!), inputsMs: n(m[3]!), executionMs: n(m[4]!), outputsMs: n(m[5]!) };
    }
  }
  return facts;
}

/** The facts from the head of a build's log file (the reapi lines come before the builder's output). */
export function remoteFactsOfLog(file: string | null | undefined): RemoteFacts | undefined {
  if (!file) return undefined;
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const buf = Buffer.alloc(16 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return remoteFacts(buf.subarray(0, n).toString("utf8").split("\n"));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
