// How `bramble build` reports a run: a live status line on a TTY, plain lines elsewhere,
// or one JSON event per line with --json.
import type { BuildEvent } from "../api/schema.js";
import { displayName } from "./naming.js";

export interface Reporter {
  event(e: BuildEvent): void;
  finish(): void;
}

export function jsonReporter(out: NodeJS.WritableStream): Reporter {
  return { event: (e) => out.write(JSON.stringify(e) + "\n"), finish: () => {} };
}

export function textReporter(out: NodeJS.WriteStream, names: Map<string, string>, opts: { verbose: boolean }): Reporter {
  const tty = out.isTTY === true;
  const started = Date.now();
  let total = 0;
  let done = 0;
  const running = new Set<string>();
  let statusShown = false;
  const name = (hash: string) => names.get(hash) ?? hash.slice(0, 8);

  const clearStatus = () => {
    if (tty && statusShown) out.write("\r\x1b[2K");
    statusShown = false;
  };
  const drawStatus = () => {
    if (!tty || total === 0) return;
    const width = 24;
    const filled = Math.round((done / total) * width);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const jobs = [...running].map(name).join(", ");
    const line = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${secs}s ${running.size ? `building ${jobs}` : ""}`;
    out.write(`\r\x1b[2K${line.slice(0, (out.columns || 100) - 1)}`);
    statusShown = true;
  };
  const say = (line: string) => {
    clearStatus();
    out.write(line + "\n");
    drawStatus();
  };

  return {
    event(e) {
      switch (e.type) {
        case "run-started":
          total = e.total;
          // A name that derivations of several systems share is shown with its system.
          for (const n of e.nodes) names.set(n.hash, displayName(n.name, n.system, e.nodes));
          drawStatus();
          break;
        case "cached":
          done++;
          say(e.remote ? `cached (remote) ${name(e.hash)} from ${e.remote}` : `cached ${name(e.hash)}`);
          break;
        case "started":
          running.add(e.hash);
          say(`building ${name(e.hash)} on ${e.backend}`);
          break;
        case "log":
          if (opts.verbose) say(`${name(e.hash)}> ${e.line}`);
          break;
        case "built":
          running.delete(e.hash);
          done++;
          say(`built ${name(e.hash)}`);
          break;
        case "failed": {
          running.delete(e.hash);
          done++;
          const code = e.exitCode !== null ? ` (exit code ${e.exitCode})` : "";
          const tail = e.logTail.length ? `\n  last log lines:\n${e.logTail.map((l) => `    ${l}`).join("\n")}` : "";
          const kept = e.keptDir ? `\n  build directory kept at ${e.keptDir}` : "";
          say(`FAILED ${name(e.hash)}${code}: ${e.error}${tail}${kept}`);
          break;
        }
        case "cancelled":
          running.delete(e.hash);
          say(`cancelled ${name(e.hash)}`);
          break;
        case "skipped":
          done++;
          say(`skipped ${name(e.hash)}: ${e.error}`);
          break;
        default:
          break;
      }
    },
    finish() {
      clearStatus();
    },
  };
}
