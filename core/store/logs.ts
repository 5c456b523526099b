// Build logs: one file per build under var/log, written line by line as the builder
// prints, capped in size; read back by line number (and followed while running).
import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../build/engine.js";

export const LOG_CAP_BYTES = 64 * 1024 * 1024;
export const TAIL_LINES = 20;

export function logFileFor(engine: Engine, buildId: number): string {
  return join(engine.layout.logDir, `${buildId}.log`);
}

export class BuildLog {
  private fd: number;
  private bytes = 0;
  private capped = false;
  /** why the file stopped being written, if it did */
  writeError: string | undefined;
  readonly tail: string[] = [];

  constructor(
    readonly file: string,
    private readonly cap = LOG_CAP_BYTES,
  ) {
    this.fd = openSync(file, "a", 0o644);
  }

  /** Write one line; returns false once the cap is reached (the line is dropped). */
  write(line: string): boolean {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    if (this.capped) return false;
    const data = Buffer.from(line + "\n");
    if (this.bytes + data.length > this.cap) {
      this.capped = true;
      this.append(`[bramble: log capped at ${this.cap} bytes; further output dropped]\n`);
      return false;
    }
    this.append(data);
    this.bytes += data.length;
    return true;
  }

  /**
   * A log that cannot be written (the disk is full) must not take the build or the
   * process down: the file stops there, the lines still reach the event stream and tail.
   */
  private append(data: string | Buffer): void {
    if (this.writeError !== undefined) return;
    try {
      writeSync(this.fd, typeof data === "string" ? Buffer.from(data) : data);
    } catch (err) {
      this.writeError = (err as Error).message;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Lines of a build's log from `fromLine` (0-based): only whole lines while it runs. */
export function readLog(engine: Engine, buildId: number, fromLine = 0): string[] {
  return readLogChunk(engine, buildId, fromLine).lines;
}

export interface LogChunk {
  lines: string[];
  nextLine: number;
  running: boolean;
}

/** Like readLog, with the next line number and whether the build still runs. */
export function readLogChunk(engine: Engine, buildId: number, fromLine = 0): LogChunk {
  const b = engine.db.getBuild(buildId);
  if (!b) throw new Error(`no build with id ${buildId}`);
  const file = b.logFile || logFileFor(engine, buildId);
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  // Only whole lines: a last line without its newline is still being written.
  const complete = text === "" ? [] : text.split("\n").slice(0, -1);
  if (b.status !== "running" && text !== "" && !text.endsWith("\n")) complete.push(text.slice(text.lastIndexOf("\n") + 1));
  const lines = complete.slice(fromLine);
  return { lines, nextLine: fromLine + lines.length, running: b.status === "running" };
}
