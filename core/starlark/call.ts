// The call entry point shared by builtins (sorted's key, etc.) and hosts; the compiler
// installs the implementation, so builtins need not import the compiler.
import type { Thread } from "./thread.js";
import type { Value } from "./values.js";

type CallFn = (thread: Thread, fn: Value, args: Value[], kwargs: [string, Value][]) => Value;

let impl: CallFn = () => {
  throw new Error("starlark: interpreter not initialised");
};

export function setCallImpl(f: CallFn): void {
  impl = f;
}

/** Call a Starlark callable (function or builtin) from host code. */
export function call(thread: Thread, fn: Value, args: Value[], kwargs: [string, Value][] = []): Value {
  return impl(thread, fn, args, kwargs);
}
