// Argument unpacking for builtins, worded like starlark-go's UnpackArgs.
import { nearest } from "./resolver.js";
import { Dict, Tuple, Value, err, typeName } from "./values.js";
import { quote } from "./repr.js";

export const NO_KWARGS: [string, Value][] = [];

/**
 * Unpack args and kwargs into params: "name" (required), "name?" (optional; None when
 * absent), "*args" (extra positionals, a tuple), "**kwargs" (extra keywords, a dict).
 */
export function unpackArgs(fnName: string, args: Value[], kwargs: [string, Value][], ...params: string[]): Value[] {
  // Fast path: positional arguments only, no * or ** parameters.
  if (kwargs.length === 0 && args.length <= params.length) {
    let simple = true;
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      if (p.charCodeAt(0) === 42) {
        simple = false;
        break;
      } // '*'
      if (i >= args.length && p.charCodeAt(p.length - 1) !== 63) {
        simple = false;
        break;
      } // required, missing
    }
    if (simple) {
      const out = new Array<Value>(params.length);
      for (let i = 0; i < params.length; i++) out[i] = i < args.length ? args[i] : null;
      return out;
    }
  }
  const names: string[] = [];
  const optional: boolean[] = [];
  let starIdx = -1,
    kwIdx = -1;
  const out: Value[] = new Array(params.length);
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p.startsWith("**")) {
      kwIdx = i;
      names.push(p.slice(2));
      optional.push(true);
    } else if (p.startsWith("*")) {
      starIdx = i;
      names.push(p.slice(1));
      optional.push(true);
    } else if (p.endsWith("?")) {
      names.push(p.slice(0, -1));
      optional.push(true);
    } else {
      names.push(p);
      optional.push(false);
    }
  }
  const regular = params.map((_, i) => i).filter((i) => i !== starIdx && i !== kwIdx);
  const nPos = starIdx >= 0 ? regular.filter((i) => i < starIdx).length : regular.length;
  const extra: Value[] = [];
  for (let i = 0; i < args.length; i++) {
    if (i < nPos) out[regular[i]] = args[i];
    else if (starIdx >= 0) extra.push(args[i]);
    else throw err(`${fnName}: got ${args.length} arguments, want at most ${nPos}`);
  }
  let extraKw: Dict | undefined;
  for (const [k, v] of kwargs) {
    const i = names.indexOf(k);
    if (i < 0 || i === starIdx || i === kwIdx) {
      if (kwIdx >= 0) {
        extraKw ??= new Dict();
        if (extraKw.has(k)) throw err(`${fnName}: got multiple values for keyword argument ${quote(k)}`);
        extraKw.set(k, v);
        continue;
      }
      const n = nearest(
        k,
        regular.map((j) => names[j]),
      );
      throw err(`${fnName}: unexpected keyword argument ${quote(k)}${n ? ` (did you mean ${n}?)` : ""}`);
    }
    if (out[i] !== undefined) throw err(`${fnName}: got multiple values for keyword argument ${quote(k)}`);
    out[i] = v;
  }
  for (const i of regular) {
    if (out[i] === undefined) {
      if (!optional[i]) throw err(`${fnName}: missing argument for ${names[i]}`);
      out[i] = null;
    }
  }
  if (starIdx >= 0) out[starIdx] = new Tuple(extra);
  if (kwIdx >= 0) out[kwIdx] = extraKw ?? new Dict();
  return out;
}

/** Positional-only arity check: between min and max arguments, no keywords. */
export function positional(fnName: string, args: Value[], kwargs: [string, Value][], min: number, max: number): void {
  if (kwargs.length > 0) throw err(`${fnName}: unexpected keyword arguments`);
  if (args.length < min) {
    if (min === max) throw err(`${fnName}: got ${args.length} arguments, want ${min}`);
    throw err(`${fnName}: got ${args.length} arguments, want at least ${min}`);
  }
  if (args.length > max) {
    if (min === max) throw err(`${fnName}: got ${args.length} arguments, want ${max}`);
    throw err(`${fnName}: got ${args.length} arguments, want at most ${max}`);
  }
}

export function wantString(fnName: string, what: string, v: Value): string {
  if (typeof v !== "string") throw err(`${fnName}: for parameter ${what}: got ${typeName(v)}, want string`);
  return v;
}

export function wantInt(fnName: string, what: string, v: Value): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") throw err(`${fnName}: for parameter ${what}: ${v} out of range`);
  throw err(`${fnName}: for parameter ${what}: got ${typeName(v)}, want int`);
}

/**
 * A parameter starlark-go types as bool: only True or False (None, when optional, is the
 * default). Its name is quoted when the argument came by keyword, as starlark-go prints it.
 */
export function wantBool(fnName: string, what: string, v: Value, dflt?: boolean, kwargs?: [string, Value][]): boolean {
  if (typeof v === "boolean") return v;
  if (v === null && dflt !== undefined) return dflt;
  const name = kwargs?.some(([k]) => k === what) ? quote(what) : what;
  throw err(`${fnName}: for parameter ${name}: got ${typeName(v)}, want bool`);
}
