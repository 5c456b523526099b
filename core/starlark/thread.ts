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
  /**
   * Maximum Starlark call depth before "stack overflow: more than N nested calls". By default
   * none that matters, as in starlark-go: a program recurses as deep as JavaScript's stack
   * allows (a thread with a larger stack, a worker's resourceLimits.stackSizeMb, goes deeper),
   * and running out of it is the Starlark error "stack overflow: Starlark call stack (or
   * expression nesting) too deep", never a JavaScript crash.
   */
  maxDepth = 1_000_000;
  /** loop iterations and calls so far, and the limit (like starlark-go's SetMaxExecutionSteps) */
  steps = 0;
  maxSteps = Infinity;
  /**
   * A budget shared by the threads of one evaluation (steps and wall clock, and a cancel
   * flag). Without one, passing maxSteps stops the thread. With one, the thread takes steps
   * from it a slice at a time; the clock and the flag are checked between slices.
   */
  budget: Budget | undefined = undefined;
  /** why the thread stopped, once outOfBudget() said it must */
  stopReason = "Starlark computation cancelled: too many steps";

  constructor(name = "main", print?: (msg: string) => void) {
    this.name = name;
    this.print =
      print ??
      ((msg: string) => {
        process.stdout.write(msg + "\n");
      });
  }

  /**
   * Called when `steps` passes `maxSteps`: true if the thread must stop (with `stopReason`),
   * false after taking another slice of steps from the budget.
   */
  outOfBudget(): boolean {
    const b = this.budget;
    if (!b) return true;
    const reason = budgetExceeded(b);
    if (reason) {
      this.stopReason = reason;
      return true;
    }
    const grant = Math.min(BUDGET_SLICE, b.stepsLeft);
    b.stepsLeft -= grant;
    this.maxSteps = this.steps + grant;
    return false;
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

/** The limits of one evaluation. `stepsLeft` is shared by all its threads. */
export interface Budget {
  maxSteps: number;
  stepsLeft: number;
  /** Date.now() after which the evaluation stops */
  deadline: number;
  timeoutMs: number;
  /** true once someone cancelled the evaluation (a worker checks a shared flag here) */
  cancelled?: () => boolean;
}

/** Steps a thread takes from its budget at a time: the clock is read once per slice. */
const BUDGET_SLICE = 20_000;

export function makeBudget(opts: { maxSteps: number; timeoutMs: number; cancelled?: () => boolean }): Budget {
  return { maxSteps: opts.maxSteps, stepsLeft: opts.maxSteps, timeoutMs: opts.timeoutMs, deadline: Date.now() + opts.timeoutMs, cancelled: opts.cancelled };
}

/** Why an evaluation under this budget must stop now, or undefined. */
export function budgetExceeded(b: Budget): string | undefined {
  if (b.cancelled?.()) return "evaluation cancelled";
  if (Date.now() > b.deadline) return `evaluation stopped: it ran longer than its time budget of ${b.timeoutMs / 1000} s`;
  if (b.stepsLeft <= 0) return `evaluation stopped: it took more than its budget of ${b.maxSteps} steps`;
  return undefined;
}
