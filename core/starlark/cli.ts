// `bramble starlark FILE` and `bramble repl`.
import { readFileSync } from "node:fs";
import * as readline from "node:readline";
import { StarlarkError } from "./errors.js";
import { execFile } from "./eval.js";
import { json } from "./json.js";
import { math } from "./math.js";
import { DEFAULT_DIALECT, PERMISSIVE_DIALECT } from "./resolver.js";
import { Thread } from "./thread.js";
import { Value, repr } from "./values.js";

/** Predeclared names for plain Starlark files: the json and math modules. */
export function standardPredeclared(): Map<string, Value> {
  return new Map<string, Value>([["json", json], ["math", math]]);
}

function formatError(e: unknown): string {
  if (e instanceof StarlarkError) return e.format();
  return `internal error: ${e instanceof Error ? e.message : String(e)}`;
}

/** Run a plain Starlark file; print() goes to out (stdout). Returns the exit code. */
export function runFile(path: string, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  let src: string;
  try {
    src = readFileSync(path, "utf8");
  } catch (e) {
    err.write(`${path}: ${(e as Error).message}\n`);
    return 1;
  }
  const thread = new Thread("main", (msg) => { out.write(msg + "\n"); });
  try {
    execFile(thread, path, src, standardPredeclared(), { dialect: DEFAULT_DIALECT });
    return 0;
  } catch (e) {
    err.write(formatError(e) + "\n");
    return 1;
  }
}

/** Does this chunk need more lines (an open bracket, a trailing colon or backslash, or a block)? */
export function needsMore(chunk: string): boolean {
  const lines = chunk.split("\n");
  const last = lines[lines.length - 1];
  let depth = 0, q: string | null = null, triple = false;
  for (let i = 0; i < chunk.length; i++) {
    const c = chunk[i];
    if (q) {
      if (c === "\\") { i++; continue; }
      if (triple ? chunk.startsWith(q.repeat(3), i) : c === q) { if (triple) i += 2; q = null; }
      continue;
    }
    if (c === "#") { while (i < chunk.length && chunk[i] !== "\n") i++; continue; }
    if (c === '"' || c === "'") { triple = chunk.startsWith(c.repeat(3), i); q = c; if (triple) i += 2; continue; }
    if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
  }
  if (q && triple) return true;
  if (depth > 0) return true;
  if (/\\$/.test(last)) return true;
  if (lines.length > 1) return last.trim() !== ""; // inside a block: end with a blank line
  return /:\s*(#.*)?$/.test(last);
}

/** An interactive prompt with line editing, history and multi-line input. */
export async function repl(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Promise<void> {
  const rl = readline.createInterface({ input, output, terminal: (output as { isTTY?: boolean }).isTTY === true, historySize: 1000, prompt: ">>> " });
  const thread = new Thread("repl", (msg) => { output.write(msg + "\n"); });
  let env = standardPredeclared();
  let buf: string[] = [];
  let n = 0;
  rl.prompt();
  for await (const line of rl) {
    buf.push(line);
    const chunk = buf.join("\n");
    if (needsMore(chunk)) {
      rl.setPrompt("... ");
      rl.prompt();
      continue;
    }
    buf = [];
    rl.setPrompt(">>> ");
    if (chunk.trim() !== "") {
      const echo: { value: Value | undefined } = { value: undefined };
      try {
        const globals = execFile(thread, `<stdin:${++n}>`, chunk + "\n", env, { dialect: PERMISSIVE_DIALECT, noFreeze: true, echo });
        env = new Map([...env, ...globals]);
        if (echo.value !== undefined && echo.value !== null) output.write(repr(echo.value) + "\n");
      } catch (e) {
        output.write(formatError(e) + "\n");
      }
    }
    rl.prompt();
  }
  rl.close();
}
