// Thread: the state of one evaluation: its Starlark call stack, print, and host data.
import type { Position, CallFrame } from "./errors.js";
import type { Value, StarFunction } from "./values.js";

/** One activation of a Starlark function (or of a module's top level). */
export class Frame {
  /** the position of the call being made from this frame (or of the failing operation) */
  callPos: Position | undefined = undefined;
  ret: Value = null;
  constructor(
    public l: Value[],
    public fn: StarFunction | null,
    public th: Thread,
    public name: string,
  ) {}
}

export class Thread {
  name: string;
  print: (msg: string) => void;
  /** host data (the project layer keeps its evaluation context here) */
  locals = new Map<string, unknown>();
  /** internal: active Starlark frames, outermost first */
  frames: Frame[] = [];
  /** maximum Starlark call depth before "stack overflow" */
  maxDepth = 1000;
  /** loop iterations and calls so far, and the limit (like starlark-go's SetMaxExecutionSteps) */
  steps = 0;
  maxSteps = Infinity;

  constructor(name = "main", print?: (msg: string) => void) {
    this.name = name;
    this.print = print ?? ((msg: string) => { process.stdout.write(msg + "\n"); });
  }

  /** The position of the innermost Starlark call site (the call of the running builtin). */
  callerPosition(): Position | undefined {
    const f = this.frames[this.frames.length - 1];
    return f?.callPos;
  }

  /** The Starlark call stack, outermost first, each frame at its current call position. */
  callStack(): CallFrame[] {
    const out: CallFrame[] = [];
    for (const f of this.frames) if (f.callPos) out.push({ name: f.name, pos: f.callPos });
    return out;
  }
}
