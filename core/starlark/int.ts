// Ints of any size: a safe integer is a JavaScript number, anything beyond ±(2^53-1) a bigint
// (normInt keeps to that), and the arithmetic the operators do on them. Imports no value type.
import { StarlarkError } from "./errors.js";

const err = (msg: string) => new StarlarkError(msg);

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

export function normInt(b: bigint): number | bigint {
  return b >= MIN_SAFE && b <= MAX_SAFE ? Number(b) : b;
}
export function big(x: number | bigint): bigint {
  return typeof x === "bigint" ? x : BigInt(x);
}

export function intAdd(x: number | bigint, y: number | bigint): number | bigint {
  if (typeof x === "number" && typeof y === "number") {
    const z = x + y;
    if (Number.isSafeInteger(z)) return z;
  }
  return normInt(big(x) + big(y));
}
export function intSub(x: number | bigint, y: number | bigint): number | bigint {
  if (typeof x === "number" && typeof y === "number") {
    const z = x - y;
    if (Number.isSafeInteger(z)) return z;
  }
  return normInt(big(x) - big(y));
}
export function intMul(x: number | bigint, y: number | bigint): number | bigint {
  if (typeof x === "number" && typeof y === "number") {
    const z = x * y;
    if (Number.isSafeInteger(z)) return z === 0 ? 0 : z;
  }
  return normInt(big(x) * big(y));
}
export function intFloorDiv(x: number | bigint, y: number | bigint): number | bigint {
  if (y === 0 || y === 0n) throw err("floored division by zero");
  if (typeof x === "number" && typeof y === "number") {
    const q = Math.floor(x / y);
    // exact for safe integers unless rounding in x / y crossed an integer boundary
    const r = x - q * y;
    if (Number.isSafeInteger(q) && (y > 0 ? r >= 0 && r < y : r <= 0 && r > y)) return q === 0 ? 0 : q;
  }
  const a = big(x),
    b = big(y);
  let q = a / b;
  if (a % b !== 0n && a < 0n !== b < 0n) q -= 1n;
  return normInt(q);
}
export function intMod(x: number | bigint, y: number | bigint): number | bigint {
  if (y === 0 || y === 0n) throw err("integer modulo by zero");
  if (typeof x === "number" && typeof y === "number") {
    let r = x % y;
    if (r !== 0 && r < 0 !== y < 0) r += y;
    return r === 0 ? 0 : r;
  }
  const b = big(y);
  let r = big(x) % b;
  if (r !== 0n && r < 0n !== b < 0n) r += b;
  return normInt(r);
}
function isInt32(x: number | bigint): x is number {
  return typeof x === "number" && (x | 0) === x;
}
export function intBitwise(op: string, x: number | bigint, y: number | bigint): number | bigint {
  if (isInt32(x) && isInt32(y)) {
    switch (op) {
      case "&":
        return x & y;
      case "|":
        return x | y;
      case "^":
        return x ^ y;
    }
  }
  const a = big(x),
    b = big(y);
  switch (op) {
    case "&":
      return normInt(a & b);
    case "|":
      return normInt(a | b);
    case "^":
      return normInt(a ^ b);
    case "<<": {
      if (b < 0n) throw err(`negative shift count: ${y}`);
      if (b >= 512n) throw err(`shift count too large: ${y}`);
      return normInt(a << b);
    }
    case ">>": {
      if (b < 0n) throw err(`negative shift count: ${y}`);
      if (b >= 512n) return a < 0n ? -1 : 0;
      return normInt(a >> b);
    }
  }
  throw err(`unknown operator ${op}`);
}
