// Errors: one class for every lexical, syntax, resolve and runtime error, carrying a
// position (file:line:col), the source line, and for runtime errors the Starlark call stack.

export interface Position {
  file: string;
  line: number;
  col: number;
}

export interface CallFrame {
  name: string;
  pos: Position;
}

// Sources of files seen by the scanner, so an error can quote the offending line.
const sources = new Map<string, string[]>();
const MAX_SOURCES = 2000;

export function registerSource(file: string, src: string): void {
  if (sources.size >= MAX_SOURCES && !sources.has(file)) {
    const first = sources.keys().next().value;
    if (first !== undefined) sources.delete(first);
  }
  sources.set(file, src.split(/\r?\n|\r/));
}

/**
 * Forgets every source registered so far. For a process that runs program after program (the
 * Starlark server's worker): what one run read, the next has no use for, and the lines of a
 * large generated file would otherwise stay in memory after its run, to the last 2000 files.
 */
export function forgetSources(): void {
  sources.clear();
}

export function sourceLineAt(pos: Position): string | undefined {
  const lines = sources.get(pos.file);
  return lines?.[pos.line - 1];
}

/**
 * Control characters (a .bramble file full of binary junk, escape sequences) become U+FFFD
 * so an error never drives the user's terminal; one character each keeps the caret in place.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, "\ufffd");
}

export function formatPos(p: Position): string {
  return `${p.file}:${p.line}:${p.col}`;
}

export class StarlarkError extends Error {
  pos?: Position;
  msg: string;
  /** Starlark frames, outermost first; the last frame's pos is where the error happened. */
  callStack: CallFrame[] = [];
  sourceLine?: string;
  /** internal: true once the interpreter has attached a position and stack. */
  located = false;
  /** internal: a builtin's error that is not prefixed with the builtin's name */
  bare = false;
  /** internal: JavaScript's stack ran out (a larger stack may get further: see cli.ts) */
  overflow = false;

  constructor(msg: string, pos?: Position) {
    super(msg);
    this.name = "StarlarkError";
    this.msg = msg;
    if (pos) this.setPos(pos);
  }

  setPos(pos: Position): this {
    this.pos = pos;
    this.sourceLine = sourceLineAt(pos);
    this.located = true;
    this.message = `${formatPos(pos)}: ${this.msg}`;
    return this;
  }

  setMsg(msg: string): this {
    this.msg = msg;
    this.message = this.pos ? `${formatPos(this.pos)}: ${msg}` : msg;
    return this;
  }

  /** "FILE:LINE:COL: msg", the source line, a caret, and the traceback for runtime errors. */
  format(): string {
    let out = this.pos ? `${formatPos(this.pos)}: ${this.msg}` : this.msg;
    if (this.pos && this.sourceLine !== undefined) {
      const line = this.sourceLine;
      let pad = "";
      for (let i = 0; i < this.pos.col - 1 && i < line.length; i++) pad += line[i] === "\t" ? "\t" : " ";
      out += `\n${line}\n${pad}^`;
    }
    if (this.callStack.length > 0) {
      out += "\nTraceback (most recent call last):";
      // a frame repeated (deep recursion) is printed three times, then counted, as Python does
      let prev = "",
        repeats = 0;
      const flush = () => {
        if (repeats > 3) out += `\n  [Previous line repeated ${repeats - 3} more time${repeats - 3 === 1 ? "" : "s"}]`;
      };
      for (const f of this.callStack) {
        const line = `\n  ${formatPos(f.pos)}: in ${f.name}`;
        if (line === prev) {
          if (++repeats <= 3) out += line;
          continue;
        }
        flush();
        prev = line;
        repeats = 1;
        out += line;
      }
      flush();
    }
    return printable(out);
  }
}

/** A list of errors (e.g. several resolve errors); the first is thrown, the rest attached. */
export function errorAt(pos: Position, msg: string): StarlarkError {
  return new StarlarkError(msg, pos);
}
