// The math module (as starlark-go's lib/math).
import { positional } from "./unpack.js";
import { Builtin, Float, Struct, Value, err, normInt, typeName } from "./values.js";

function num(fn: string, v: Value): number {
  if (v instanceof Float) return v.v;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") {
    const f = Number(v);
    if (!isFinite(f)) throw err(`${fn}: int too large to convert to float`);
    return f;
  }
  throw err(`${fn}: got ${typeName(v)}, want float or int`);
}

function unary(name: string, f: (x: number) => number, check?: (x: number) => string | undefined): [string, Value] {
  const full = "math." + name;
  return [name, new Builtin(full, (_th, args, kw) => {
    positional(full, args, kw, 1, 1);
    const x = num(full, args[0]);
    const problem = check?.(x);
    if (problem) throw err(`${full}: ${problem}`);
    return new Float(f(x));
  })];
}

function binary(name: string, f: (x: number, y: number) => number): [string, Value] {
  const full = "math." + name;
  return [name, new Builtin(full, (_th, args, kw) => {
    positional(full, args, kw, 2, 2);
    return new Float(f(num(full, args[0]), num(full, args[1])));
  })];
}

function toInt(fn: string, v: Value, f: (x: number) => number): Value {
  if (typeof v === "number" || typeof v === "bigint") return v;
  const x = num(fn, v);
  if (!isFinite(x)) throw err(`${fn}: cannot convert ${x} to integer`);
  const r = f(x);
  return Number.isSafeInteger(r) ? r : normInt(BigInt(r));
}

function gamma(x: number): number {
  if (Number.isInteger(x) && x <= 0) return NaN;
  if (x < 0.5) return Math.PI / (Math.sin(Math.PI * x) * gamma(1 - x));
  const g = 7;
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  x -= 1;
  let a = c[0];
  const t = x + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i] / (x + i);
  return Math.sqrt(2 * Math.PI) * Math.pow(t, x + 0.5) * Math.exp(-t) * a;
}

function pyMod(x: number, y: number): number {
  return x - y * Math.trunc(x / y);
}

export const math = new Struct("module", new Map<string, Value>([
  ["ceil", new Builtin("math.ceil", (_th, args, kw) => { positional("math.ceil", args, kw, 1, 1); return toInt("math.ceil", args[0], Math.ceil); })],
  ["floor", new Builtin("math.floor", (_th, args, kw) => { positional("math.floor", args, kw, 1, 1); return toInt("math.floor", args[0], Math.floor); })],
  unary("fabs", Math.abs),
  unary("round", (x) => (x < 0 ? -Math.round(-x) : Math.round(x))),
  unary("trunc", Math.trunc),
  unary("sqrt", Math.sqrt),
  unary("exp", Math.exp),
  unary("acos", Math.acos), unary("asin", Math.asin), unary("atan", Math.atan),
  unary("cos", Math.cos), unary("sin", Math.sin), unary("tan", Math.tan),
  unary("acosh", Math.acosh), unary("asinh", Math.asinh), unary("atanh", Math.atanh),
  unary("cosh", Math.cosh), unary("sinh", Math.sinh), unary("tanh", Math.tanh),
  unary("degrees", (x) => (x * 180) / Math.PI),
  unary("radians", (x) => (x * Math.PI) / 180),
  unary("gamma", gamma),
  binary("atan2", Math.atan2),
  binary("copysign", (x, y) => (y < 0 || Object.is(y, -0) ? -Math.abs(x) : Math.abs(x))),
  binary("hypot", Math.hypot),
  binary("mod", (x, y) => (y === 0 ? NaN : pyMod(x, y))),
  binary("pow", Math.pow),
  binary("remainder", (x, y) => x - y * Math.round(x / y)),
  ["log", new Builtin("math.log", (_th, args, kw) => {
    positional("math.log", args, kw, 1, 2);
    const x = num("math.log", args[0]);
    if (args.length === 2 && args[1] !== null) {
      const b = num("math.log", args[1]);
      return new Float(Math.log(x) / Math.log(b));
    }
    return new Float(Math.log(x));
  })],
  ["e", new Float(Math.E)],
  ["pi", new Float(Math.PI)],
  ["inf", new Float(Infinity)],
  ["nan", new Float(NaN)],
]));
(math as unknown as { repr: () => string }).repr = () => '<module "math">';
(math as unknown as { str: () => string }).str = () => '<module "math">';
