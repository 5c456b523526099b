// The math module, as starlark-go's lib/math: the same members (e and pi, no inf, nan or
// trunc), Go's math functions (mod is C's fmod; remainder is IEEE 754's), and its errors.
import { positional } from "./unpack.js";
import { Builtin, Float, Value, bareErr, err, normInt, typeName } from "./values.js";
import { Struct } from "./struct.js";

function floatOrInt(v: Value): number | undefined {
  if (v instanceof Float) return v.v;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

function args1(name: string, args: Value[], kw: [string, Value][], n: number): number[] {
  positional(name, args, kw, n, n);
  return args.map((a, i) => {
    const x = floatOrInt(a);
    if (x === undefined) throw err(`${name}: for parameter ${i + 1}: got ${typeName(a)}, want float or int`);
    return x;
  });
}

function unary(name: string, f: (x: number) => number): [string, Value] {
  return [name, new Builtin(name, (_th, args, kw) => new Float(f(args1(name, args, kw, 1)[0])))];
}

function binary(name: string, f: (x: number, y: number) => number): [string, Value] {
  return [
    name,
    new Builtin(name, (_th, args, kw) => {
      const [x, y] = args1(name, args, kw, 2);
      return new Float(f(x, y));
    }),
  ];
}

/** ceil and floor: an int stays itself; a float becomes an int (an error if not finite). */
function toInt(name: string, f: (x: number) => number): [string, Value] {
  return [
    name,
    new Builtin(name, (_th, args, kw) => {
      positional(name, args, kw, 1, 1);
      const v = args[0];
      if (typeof v === "number" || typeof v === "bigint") return v;
      if (!(v instanceof Float)) throw bareErr(`got ${typeName(v)}, want float or int`);
      if (Number.isNaN(v.v)) throw bareErr("cannot convert float NaN to integer");
      if (!isFinite(v.v)) throw bareErr("cannot convert float infinity to integer");
      const r = f(v.v) + 0; // + 0: an int is never -0
      return Number.isSafeInteger(r) ? r : normInt(BigInt(r));
    }),
  ];
}

const FACT: number[] = [1];
for (let i = 1; i <= 170; i++) FACT[i] = FACT[i - 1] * i;

/** Go's math.Gamma at its special points; exact factorials at integers; Lanczos elsewhere. */
function gamma(x: number): number {
  if (x === 0) return Object.is(x, -0) ? -Infinity : Infinity;
  if (Number.isNaN(x) || x === -Infinity) return NaN;
  if (x === Infinity) return Infinity;
  if (Number.isInteger(x)) {
    if (x < 0) return NaN;
    return x <= 171 ? FACT[x - 1] : Infinity;
  }
  if (x < 0.5) return Math.PI / (Math.sin(Math.PI * x) * gamma(1 - x));
  const g = 7;
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  x -= 1;
  let a = c[0];
  const t = x + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i] / (x + i);
  return Math.sqrt(2 * Math.PI) * Math.pow(t, x + 0.5) * Math.exp(-t) * a;
}

/** IEEE 754 remainder (Go's math.Remainder): x - n*y, n the quotient rounded half to even. */
function remainder(x: number, y: number): number {
  if (Number.isNaN(x) || Number.isNaN(y) || !isFinite(x) || y === 0) return NaN;
  if (!isFinite(y)) return x;
  let r = x % y; // exact
  const ay = Math.abs(y),
    ar = Math.abs(r);
  if (ar > ay / 2 || (ar === ay / 2 && Math.abs((x - r) / y) % 2 === 1)) r -= Math.sign(r) * ay;
  return r === 0 ? (Object.is(x, -0) || x < 0 ? -0 : 0) : r;
}

/** Go's math.Round: half away from zero. */
function round(x: number): number {
  if (!isFinite(x) || Number.isInteger(x)) return x;
  const r = Math.trunc(x + Math.sign(x) * 0.5);
  // x + 0.5 can round up in floating point (0.49999999999999994): check against the truncation
  return Math.abs(x - Math.trunc(x)) < 0.5 ? Math.trunc(x) || (x < 0 ? -0 : 0) : r;
}

export const math = new Struct(
  "module",
  new Map<string, Value>([
    toInt("ceil", Math.ceil),
    binary("copysign", (x, y) => (y < 0 || Object.is(y, -0) ? -Math.abs(x) : Math.abs(x))),
    unary("fabs", Math.abs),
    toInt("floor", Math.floor),
    binary("mod", (x, y) => x % y), // C's fmod, as Go's math.Mod: the sign of x
    binary("pow", (x, y) => (x === 1 || y === 0 ? 1 : Math.pow(x, y))),
    binary("remainder", remainder),
    unary("round", round),
    unary("exp", Math.exp),
    unary("sqrt", Math.sqrt),
    unary("acos", Math.acos),
    unary("asin", Math.asin),
    unary("atan", Math.atan),
    binary("atan2", Math.atan2),
    unary("cos", Math.cos),
    binary("hypot", (x, y) => (x === Infinity || x === -Infinity || y === Infinity || y === -Infinity ? Infinity : Math.hypot(x, y))),
    unary("sin", Math.sin),
    unary("tan", Math.tan),
    unary("degrees", (x) => (360 * x) / (2 * Math.PI)),
    unary("radians", (x) => (2 * Math.PI * x) / 360),
    unary("acosh", Math.acosh),
    unary("asinh", Math.asinh),
    unary("atanh", Math.atanh),
    unary("cosh", Math.cosh),
    unary("sinh", Math.sinh),
    unary("tanh", Math.tanh),
    [
      "log",
      new Builtin("log", (_th, args, kw) => {
        positional("log", args, kw, 1, 2);
        const [x, base] = args.map((a, i) => {
          const v = floatOrInt(a);
          if (v === undefined) throw err(`log: for parameter ${i + 1}: got ${typeName(a)}, want float or int`);
          return v;
        });
        if (base === 1) throw bareErr("division by zero");
        return new Float(base === undefined ? Math.log(x) : Math.log(x) / Math.log(base));
      }),
    ],
    unary("gamma", gamma),
    ["e", new Float(Math.E)],
    ["pi", new Float(Math.PI)],
  ]),
);
(math as unknown as { repr: () => string }).repr = () => '<module "math">';
(math as unknown as { str: () => string }).str = () => '<module "math">';
