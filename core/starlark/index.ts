// The public API of the Starlark interpreter.
export { StarlarkError, formatPos } from "./errors.js";
export type { Position, CallFrame } from "./errors.js";
export { Thread, makeBudget, type Budget } from "./thread.js";
export { BRAMBLE_DIALECT, DEFAULT_DIALECT, PERMISSIVE_DIALECT } from "./resolver.js";
export type { Dialect } from "./resolver.js";
export { execFile, parseFile, listFunctions } from "./eval.js";
export type { ExecOptions, LoadFn } from "./eval.js";
export { call } from "./call.js";
export { unpackArgs } from "./unpack.js";
export {
  None,
  True,
  False,
  Builtin,
  Float,
  Bytes,
  List,
  Tuple,
  Dict,
  StarSet,
  Range,
  StarFunction,
  toJS,
  fromJS,
  typeName,
  truth,
  equals,
  freeze,
  isString,
  isInt,
  isNone,
  isBool,
  isList,
  isTuple,
  isDict,
  isSet,
  isFloat,
  isCallable,
  isHostValue,
  makeList,
  makeDict,
  makeTuple,
  makeSet,
} from "./values.js";
export { str, repr } from "./repr.js";
export { Struct } from "./struct.js";
export type { Value, HostValue, BuiltinFn } from "./values.js";
import type { Value as ModuleValue } from "./values.js";
/** A module's name and its (frozen) globals, for hosts that keep loaded modules. */
export interface Module {
  name: string;
  globals: Map<string, ModuleValue>;
}
export { UNIVERSE } from "./builtins.js";
export { json } from "./json.js";
export { math } from "./math.js";
export { runFile, repl, standardPredeclared } from "./cli.js";

import { compare as compareOp, equals as equalsValues } from "./values.js";
import type { Value as V } from "./values.js";
/** Starlark ==. */
export function equal(x: V, y: V): boolean {
  return equalsValues(x, y);
}
/** Starlark ordering: negative, zero or positive; throws StarlarkError for unordered types. */
export function compare(x: V, y: V): number {
  return compareOp("<", x, y);
}
