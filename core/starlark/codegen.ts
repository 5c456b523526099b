// Codegen: a function body to JavaScript source, compiled once with `new Function`, so V8
// sees real control flow (if/for/while/return/break) and one call site per operation, and
// can inline the small operator helpers of runtime.ts (H). Locals stay in the frame's slot array, so
// any construct not generated here is delegated to the closure the Compiler makes for it
// (comprehensions, dict literals, lambdas, keyword calls, ...), and the two mix freely.
//
// Node only (the renderer never imports the interpreter). Nothing from the program is
// spliced into the source except JSON-quoted strings and safe integers; every other value
// is passed in an array.
import type { Compiler } from "./compiler.js";
import { UNIVERSE } from "./builtins.js";
import { Position, StarlarkError } from "./errors.js";
import { H } from "./runtime.js";
import { parseFormat } from "./string.js";
import type { DictEntry, Expr, FunctionInfo, Stmt } from "./syntax.js";
import type { Frame } from "./thread.js";
import type { Value } from "./values.js";

type Ev = (fr: Frame) => Value;
type Ex = (fr: Frame) => number;
type Assign = (fr: Frame, v: Value) => void;

// ---------------------------------------------------------------- generator

const MAX = Number.MAX_SAFE_INTEGER;
/** Temporaries a generated function may hold before its operators go through H instead of being written out. */
const INLINE_TEMPS = 3000;
const BIN: Record<string, string> = { "+": "add", "-": "sub", "*": "mul", "%": "mod", "//": "floordiv" };
const CMP: Record<string, string> = { "<": "lt", "<=": "le", ">": "gt", ">=": "ge" };

class Unsupported extends Error {}

/** The source of an int literal operand that is a safe integer, else undefined. */
function intLiteral(e: Expr): string | undefined {
  while (e.kind === "Paren") e = e.x;
  return e.kind === "Literal" && e.tokKind === "INT" && typeof e.value === "number" && Number.isSafeInteger(e.value) ? `${e.value}` : undefined;
}

/** one-argument universal builtins with an inline fast path (H[name] falls back to the call) */
const FAST1: Record<string, string> = { len: "len1", str: "str1", int: "int1" };

/** A literal `%` format of only %s, %d, %i and %%: its literal pieces around the conversions. */
function simplePercent(fmt: string): { lits: string[]; convs: string[] } | undefined {
  const lits: string[] = [],
    convs: string[] = [];
  let lit = "";
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i];
    if (c !== "%") {
      lit += c;
      continue;
    }
    const d = fmt[++i];
    if (d === "%") {
      lit += "%";
      continue;
    }
    if (d !== "s" && d !== "d" && d !== "i") return undefined;
    lits.push(lit);
    convs.push(d);
    lit = "";
  }
  lits.push(lit);
  return { lits, convs };
}

/** A literal str.format of only `{name}` / `{name!r}` fields, all among `names`. */
function simpleFormat(fmt: string, names: string[]): (string | { name: string; repr: boolean })[] | undefined {
  let parts;
  try {
    parts = parseFormat(fmt);
  } catch {
    return undefined; // the call reports it
  }
  const out: (string | { name: string; repr: boolean })[] = [];
  for (const p of parts) {
    if (typeof p === "string") out.push(p);
    else if (p.field === "name" && names.includes(p.name)) out.push({ name: p.name, repr: p.repr });
    else return undefined;
  }
  return out;
}

class Gen {
  K: unknown[] = [];
  E: Ev[] = [];
  S: Ex[] = [];
  A: Assign[] = [];
  P: Position[] = [];
  private tmp = 0;
  /** inside the body of a `for x in s.split(sep)` loop (generated twice) */
  private inSplit = false;
  /** temporaries declared at the top of the body */
  temps: string[] = [];

  constructor(
    private c: Compiler,
    private info: FunctionInfo,
    private G: Value[],
  ) {}

  private k(v: unknown): string {
    this.K.push(v);
    return `K[${this.K.length - 1}]`;
  }
  private p(pos: Position): string {
    this.P.push(pos);
    return `P[${this.P.length - 1}]`;
  }
  private temp(): string {
    const t = `t${this.temps.length}`;
    this.temps.push(t);
    return t;
  }
  private delegate(e: Expr): string {
    this.E.push(this.c.expr(e));
    return `E[${this.E.length - 1}](fr)`;
  }

  /**
   * Locals certainly bound where code is being generated: assigned earlier in an enclosing
   * block, or the variables of an enclosing loop (there is no `del`: once bound, always bound).
   * Their reads need no check for "local variable referenced before assignment".
   */
  private bound = new Set<number>();

  /** The local slots an assignment to lhs binds (plain variables only). */
  private boundBy(lhs: Expr): number[] {
    if (lhs.kind === "Paren") return this.boundBy(lhs.x);
    if (lhs.kind === "Ident") return lhs.binding!.scope === "local" ? [lhs.binding!.index] : [];
    if (lhs.kind === "Tuple" || lhs.kind === "List") return lhs.elems.flatMap((x) => this.boundBy(x));
    return [];
  }

  /** body() generated with the locals of `vars` bound (a loop's body, after they were assigned) */
  private withBound(vars: Expr, body: () => string): string {
    const saved = this.bound;
    this.bound = new Set([...saved, ...this.boundBy(vars)]);
    try {
      return body();
    } finally {
      this.bound = saved;
    }
  }

  /** parameters are bound on entry and there is no `del`, so they need no check */
  private isParam(i: number): boolean {
    const info = this.info;
    return i < info.numParams + (info.hasVarargs ? 1 : 0) + (info.hasKwargs ? 1 : 0);
  }

  expr(e: Expr): string {
    switch (e.kind) {
      case "Paren":
        return this.expr(e.x);
      case "Ident": {
        const b = e.binding!;
        if (b.scope === "local") {
          if (this.isParam(b.index) || this.bound.has(b.index)) return `l[${b.index}]`;
          return `((v = l[${b.index}]) !== undefined ? v : ${this.delegate(e)})`;
        }
        if (b.scope === "global") return `((v = G[${b.index}]) !== undefined ? v : ${this.delegate(e)})`;
        if (b.scope === "predeclared" || b.scope === "universal") {
          const f = this.c.expr(e); // throws "undefined: x" at compile time, as before
          return this.k(f(null as unknown as Frame));
        }
        return this.delegate(e);
      }
      case "Literal":
        if (e.tokKind === "INT" && typeof e.value === "number" && Number.isSafeInteger(e.value)) return `${e.value}`;
        if (e.tokKind === "STRING") return JSON.stringify(e.value);
        return this.delegate(e);
      case "Binary": {
        const op = e.op;
        if (op === "and") return `(H.truthy(v = ${this.expr(e.x)}) ? ${this.expr(e.y)} : v)`;
        if (op === "or") return `(H.truthy(v = ${this.expr(e.x)}) ? v : ${this.expr(e.y)})`;
        if (op === "%" && e.x.kind === "Literal" && e.x.tokKind === "STRING") {
          const fmt = e.x.value as string,
            sp = simplePercent(fmt);
          let y = e.y;
          while (y.kind === "Paren") y = y.x;
          if (sp !== undefined) {
            const pos = this.p(e.pos),
              q = JSON.stringify;
            if (y.kind === "Tuple" && y.elems.length === sp.convs.length) {
              // "%s=%s" % (k, v): no tuple; the operands are all evaluated first, as before
              const ts = y.elems.map(() => this.temp());
              const evals = y.elems.map((el, i) => `${ts[i]} = ${this.expr(el)}`);
              const cat = [q(sp.lits[0])];
              sp.convs.forEach((c, i) => {
                cat.push(`H.fc(fr, ${ts[i]}, "${c}", ${pos})`, q(sp.lits[i + 1]));
              });
              if (cat.length > 5) return `(${evals.join(", ")}, [${cat.join(", ")}].join(""))`; // flat, as in format below
              return `(${evals.join(", ")}, ${cat.join(" + ")})`;
            }
            if (y.kind !== "Tuple" && sp.convs.length === 1) {
              return `H.pf1(fr, ${this.expr(e.y)}, ${q(sp.lits[0])}, "${sp.convs[0]}", ${q(sp.lits[1])}, ${q(fmt)}, ${pos})`;
            }
          }
        }
        const x = this.expr(e.x),
          y = this.expr(e.y),
          pos = this.p(e.pos);
        // Comparisons, + and - of two numbers written out here, in the function's own source:
        // their type feedback is then this function's, not H's shared by every program's
        // functions and the closure compiler (fib after other programs ran 1.2x slower); H
        // for anything else (its fast path finds the same answer).
        // Not in a function already holding many temporaries: each written-out operator takes
        // three, and a generated function of hundreds of thousands of locals overflows V8's
        // compiler (a 10 MB .bramble of `x = x + N` lines did: test/reliability/bad-input).
        // (Ints are JavaScript numbers while safe, floats are boxed: a number here is an int.)
        if ((CMP[op] || BIN[op]) && this.temps.length < INLINE_TEMPS) {
          // an int literal operand is used as it is: no temporary, no type test
          const la = intLiteral(e.x),
            lb = intLiteral(e.y);
          const ta = la ?? this.temp(),
            tb = lb ?? this.temp(),
            h = `H.${CMP[op] ?? BIN[op]}(fr, ${ta}, ${tb}, ${pos})`,
            // both operands evaluated (in order) before either is tested
            sets = [...(la === undefined ? [`(${ta} = ${x})`] : []), ...(lb === undefined ? [`(${tb} = ${y})`] : [])],
            tests = [...(la === undefined ? [`typeof ${ta} === "number"`] : []), ...(lb === undefined ? [`typeof ${tb} === "number"`] : [])],
            nums = `(${[...sets, tests.join(" && ") || "true"].join(", ")})`;
          if (CMP[op]) return `(${nums} ? ${ta} ${op} ${tb} : ${h})`;
          // % and // of a non-negative int by a positive one: JavaScript's answer is Starlark's
          if (op === "%" || op === "//") {
            const ok = [
              nums,
              ...(lb === undefined ? [`${tb} > 0`] : Number(lb) > 0 ? [] : ["false"]),
              ...(la === undefined ? [`${ta} >= 0`] : Number(la) >= 0 ? [] : ["false"]),
            ];
            return `(${ok.join(" && ")} ? ${op === "%" ? `${ta} % ${tb}` : `Math.floor(${ta} / ${tb})`} : ${h})`;
          }
          const tz = this.temp();
          // + 0: an int product is never -0 (as H.mul)
          const z = op === "*" ? `${tz} + 0` : tz;
          return `(${nums} && (${tz} = ${ta} ${op} ${tb}) <= ${MAX} && ${tz} >= -${MAX} ? ${z} : ${h})`;
        }
        if ((op === "==" || op === "!=") && this.temps.length < INLINE_TEMPS) {
          // two ints or two strings are equal only if identical; anything else asks H.eq
          const lit = intLiteral(e.y) ?? (e.y.kind === "Literal" && e.y.tokKind === "STRING" ? JSON.stringify(e.y.value) : undefined);
          const ta = this.temp();
          let eq: string;
          if (lit !== undefined) {
            // against an int or string literal: any other int or string is unequal
            eq = `((${ta} = ${x}) === ${lit} ? true : typeof ${ta} === "number" || typeof ${ta} === "string" ? false : H.eq(${ta}, ${lit}))`;
          } else {
            const tb = this.temp();
            eq = `((${ta} = ${x}), (${tb} = ${y}), ${ta} === ${tb} ? true : (typeof ${ta} === "number" || typeof ${ta} === "string") && typeof ${tb} === typeof ${ta} ? false : H.eq(${ta}, ${tb}))`;
          }
          return op === "==" ? eq : `!${eq}`;
        }
        if (BIN[op]) return `H.${BIN[op]}(fr, ${x}, ${y}, ${pos})`;
        if (op === "==") return `H.eq(${x}, ${y})`;
        if (op === "!=") return `!H.eq(${x}, ${y})`;
        if (op === "in") return `H.in_(fr, ${x}, ${y}, ${pos})`;
        if (op === "not in") return `!H.in_(fr, ${x}, ${y}, ${pos})`;
        return `H.bin(fr, ${JSON.stringify(op)}, ${x}, ${y}, ${pos})`;
      }
      case "Unary":
        if (e.op === "not") return `!H.truthy(${this.expr(e.x)})`;
        return `H.neg(fr, ${JSON.stringify(e.op)}, ${this.expr(e.x)}, ${this.p(e.pos)})`;
      case "Cond":
        return `(H.truthy(${this.expr(e.cond)}) ? ${this.expr(e.then)} : ${this.expr(e.else_)})`;
      case "Index":
        return `H.index(fr, ${this.expr(e.x)}, ${this.expr(e.index)}, ${this.p(e.pos)})`;
      case "Dict": {
        const keys = e.entries.map((en) => (en.key.kind === "Literal" && en.key.tokKind === "STRING" ? (en.key.value as string) : undefined));
        if (keys.every((k) => k !== undefined) && new Set(keys).size === keys.length) {
          // {"name": x, ...}: no duplicate is possible and string keys need no hashing
          return `H.sdict([${e.entries.map((en) => `${JSON.stringify(keys[e.entries.indexOf(en)])}, ${this.expr(en.value)}`).join(", ")}])`;
        }
        return this.delegate(e);
      }
      case "List":
        return `H.list([${e.elems.map((x) => this.expr(x)).join(", ")}])`;
      case "Comp":
        return this.comp(e);
      case "Tuple":
        return `H.tuple([${e.elems.map((x) => this.expr(x)).join(", ")}])`;
      case "Call": {
        const fn = e.fn;
        const npos = e.args.findIndex((a) => a.kind !== "pos");
        if (
          npos === 0 &&
          fn.kind === "Dot" &&
          fn.name === "format" &&
          fn.x.kind === "Literal" &&
          fn.x.tokKind === "STRING" &&
          e.args.every((a) => a.kind === "named") &&
          new Set(e.args.map((a) => a.name!)).size === e.args.length
        ) {
          // "{a}-{b}".format(a = x, b = y): the values evaluated in order, then concatenated
          const names = e.args.map((a) => a.name!);
          const parts = simpleFormat(fn.x.value as string, names);
          if (parts !== undefined) {
            const pos = this.p(e.lparen);
            const ts = e.args.map((a) => {
              const t = this.temp();
              return { t, src: `${t} = ${this.expr(a.value)}` };
            });
            const cat = parts.map((p) => {
              if (typeof p === "string") return JSON.stringify(p);
              const t = ts[names.indexOf(p.name)].t;
              return p.repr ? `H.fr(fr, ${t}, ${pos})` : `H.fs(fr, ${t}, ${pos})`;
            });
            if (cat.length === 0) cat.push('""');
            // many pieces: one flat string (a chain of + is a tree of cons strings that the
            // garbage collector copies until something flattens it)
            if (cat.length > 4) return `(${ts.map((x) => x.src).join(", ")}, [${cat.join(", ")}].join(""))`;
            return `(${ts.map((x) => x.src).join(", ")}, ${cat.join(" + ")})`;
          }
        }
        if (npos >= 0) {
          // f(a, b, name = c, ...): positional then named, nothing else
          const rest = e.args.slice(npos);
          if (!rest.every((a) => a.kind === "named")) return this.delegate(e);
          const f = fn.kind === "Dot" ? `H.attr(fr, ${this.expr(fn.x)}, ${JSON.stringify(fn.name)}, ${this.p(fn.namePos)})` : this.expr(fn);
          const pos = e.args
            .slice(0, npos)
            .map((a) => this.expr(a.value))
            .join(", ");
          const names = this.k(rest.map((a) => a.name!));
          const vals = rest.map((a) => this.expr(a.value)).join(", ");
          return `H.callkw(fr, ${f}, [${pos}], ${names}, [${vals}], ${this.p(e.lparen)})`;
        }
        if (fn.kind === "Dot" && fn.name in Object.prototype) return this.delegate(e);
        if (fn.kind === "Dot" && fn.name === "get" && (e.args.length === 1 || e.args.length === 2)) {
          const k = this.expr(e.args[0].value),
            d = e.args.length === 2 ? this.expr(e.args[1].value) : "undefined";
          return `H.dget(fr, ${this.expr(fn.x)}, ${k}, ${d}, ${this.p(e.lparen)}, ${this.p(fn.namePos)})`;
        }
        if (fn.kind === "Dot" && fn.name === "append" && e.args.length === 1) {
          return `H.append(fr, ${this.expr(fn.x)}, ${this.expr(e.args[0].value)}, ${this.p(e.lparen)}, ${this.p(fn.namePos)})`;
        }
        if (fn.kind === "Ident" && fn.binding!.scope === "universal" && e.args.length === 1) {
          const h = FAST1[fn.name];
          if (h !== undefined && UNIVERSE.get(fn.name) !== undefined) {
            return `H.${h}(fr, ${this.expr(fn)}, ${this.expr(e.args[0].value)}, ${this.p(e.lparen)})`;
          }
        }
        if (fn.kind === "Dot") {
          // x.f(args): the receiver, then its method f (an error if it has none), then the
          // arguments, as starlark-go evaluates them
          const t = this.temp();
          const recv = this.expr(fn.x);
          const args = e.args.map((a) => this.expr(a.value)).join(", ");
          return `H.mcall(fr, ${t} = ${recv}, H.mlook(fr, ${t}, ${JSON.stringify(fn.name)}, ${this.p(fn.namePos)}), [${args}], ${this.p(e.lparen)})`;
        }
        const f = this.expr(fn);
        const args = e.args.map((a) => this.expr(a.value)).join(", ");
        if (e.args.length === 1) return `H.call1(fr, ${f}, ${args}, ${this.p(e.lparen)})`;
        return `H.ginvoke(fr, ${f}, [${args}], ${this.p(e.lparen)}, ${e.args.length})`;
      }
      default:
        return this.delegate(e);
    }
  }

  private cond(e: Expr): string {
    if (e.kind === "Paren") return this.cond(e.x);
    if (e.kind === "Unary" && e.op === "not") return `!${this.cond(e.x)}`;
    if (e.kind === "Binary" && (CMP[e.op] || ["==", "!=", "in", "not in"].includes(e.op))) return this.expr(e);
    return `H.truthy(${this.expr(e)})`;
  }

  /** the statement that assigns JS expression `val` (already evaluated) to lhs */
  private assign(lhs: Expr, val: string): string {
    if (lhs.kind === "Paren") return this.assign(lhs.x, val);
    if (lhs.kind === "Ident" && lhs.binding!.scope === "local") return `l[${lhs.binding!.index}] = ${val};`;
    if (lhs.kind === "Ident" && lhs.binding!.scope === "global") return `G[${lhs.binding!.index}] = ${val};`;
    if (
      (lhs.kind === "Tuple" || lhs.kind === "List") &&
      lhs.elems.length > 0 &&
      lhs.elems.every((x) => x.kind === "Ident" && (x.binding!.scope === "local" || x.binding!.scope === "global"))
    ) {
      // for k, v in ...: no copy of a list value is needed (plain variables only)
      const t = this.temp();
      let out = `${t} = H.unpack(fr, ${val}, ${lhs.elems.length}, ${this.p(lhs.pos)});`;
      lhs.elems.forEach((x, i) => {
        out += ` ${this.assign(x, `${t}[${i}]`)}`;
      });
      return out;
    }
    if (lhs.kind === "Index") {
      // x[k] = v: v first, then x, then k (as the closure assigner)
      const t = this.temp();
      return `${t} = ${val}; H.seti(fr, ${this.expr(lhs.x)}, ${this.expr(lhs.index)}, ${t}, ${this.p(lhs.pos)});`;
    }
    this.A.push(this.c.assigner(lhs));
    return `A[${this.A.length - 1}](fr, ${val});`;
  }

  private delegateStmt(s: Stmt): string {
    this.S.push(this.c.stmt(s, false));
    return `S[${this.S.length - 1}](fr);`;
  }

  block(ss: Stmt[], ind: string): string {
    // What a statement of this block binds is bound for the statements after it, not beyond the block.
    const saved = this.bound;
    this.bound = new Set(saved);
    try {
      let out = "";
      for (const s of ss) {
        out += this.stmt(s, ind);
        if (s.kind === "Assign") for (const i of this.boundBy(s.lhs)) this.bound.add(i);
      }
      return out;
    } finally {
      this.bound = saved;
    }
  }

  /** a for loop (statement or comprehension clause) around body(indent) */
  private loop(vars: Expr, iter: Expr, p: Position, ind: string, body: (ind: string) => string): string {
    const n = this.tmp++;
    const pos = this.p(p);
    const it = `it${n}`,
      xs = `xs${n}`,
      g = `g${n}`,
      i = `i${n}`,
      len = `n${n}`;
    const i2 = ind + "  ",
      i3 = ind + "    ";
    let out = `${ind}{\n`;
    if (!this.inSplit && iter.kind === "Call" && iter.fn.kind === "Dot" && iter.fn.name === "split" && iter.args.length === 1 && iter.args[0].kind === "pos") {
      // for x in s.split(sep): the pieces are cut one at a time (the list is never visible to
      // the program, and the pieces the body drops die young instead of all surviving together)
      const ss = `ss${n}`,
        from = `fr${n}`,
        j = `j${n}`,
        x = `x${n}`;
      out += `${i2}const ${it}r = ${this.expr(iter.fn.x)}, ${ss} = ${this.expr(iter.args[0].value)};\n`;
      out += `${i2}const ${it} = typeof ${it}r === "string" && typeof ${ss} === "string" && ${ss}.length > 0 ? ${it}r : H.meth(fr, ${it}r, "split", [${ss}], ${this.p(iter.lparen)}, ${this.p(iter.fn.namePos)});\n`;
      out += `${i2}if (typeof ${it} === "string") {\n`;
      out += `${i3}for (let ${from} = 0; ${from} >= 0;) {\n`;
      out += `${i3}  if (++th.steps > th.maxSteps) H.cancel(fr, ${pos});\n`;
      out += `${i3}  const ${j} = ${it}.indexOf(${ss}, ${from});\n`;
      out += `${i3}  let ${x};\n`;
      out += `${i3}  if (${j} < 0) { ${x} = ${from} === 0 ? ${it} : ${it}.slice(${from}); ${from} = -1; }\n`;
      out += `${i3}  else { ${x} = ${it}.slice(${from}, ${j}); ${from} = ${j} + ${ss}.length; }\n`;
      out += `${i3}  ${this.assign(vars, x)}\n`;
      this.inSplit = true; // the body is generated twice: not again inside (no blow-up)
      out += this.withBound(vars, () => body(i3 + "  "));
      this.inSplit = false;
      out += `${i3}}\n`;
      out += `${i2}} else {\n`;
      // the general loop below, over the list split returned
      out += `${i3}const ${xs} = H.iter(fr, ${it}, ${pos}), ${len} = ${xs}.length, ${g} = H.guard(${it});\n`;
      out += `${i3}if (${g} !== null) ${g}.itercount++;\n`;
      out += `${i3}try {\n`;
      out += `${i3}  for (let ${i} = 0; ${i} < ${len}; ${i}++) {\n`;
      out += `${i3}    if (++th.steps > th.maxSteps) H.cancel(fr, ${pos});\n`;
      out += `${i3}    ${this.assign(vars, `${xs}[${i}]`)}\n`;
      this.inSplit = true;
      out += this.withBound(vars, () => body(i3 + "    "));
      this.inSplit = false;
      out += `${i3}  }\n`;
      out += `${i3}} finally {\n${i3}  if (${g} !== null) ${g}.itercount--;\n${i3}}\n`;
      out += `${i2}}\n`;
      return out + `${ind}}\n`;
    }
    out += `${i2}const ${it} = ${this.expr(iter)};\n`;
    out += `${i2}let ${xs} = null, ${len}, ${g} = null;\n`;
    out += `${i2}if (${it} instanceof H.Range) ${len} = ${it}.length;\n`;
    out += `${i2}else { ${xs} = H.iter(fr, ${it}, ${pos}); ${len} = ${xs}.length; ${g} = H.guard(${it}); }\n`;
    out += `${i2}if (${g} !== null) ${g}.itercount++;\n`;
    out += `${i2}try {\n`;
    out += `${i3}for (let ${i} = 0; ${i} < ${len}; ${i}++) {\n`;
    out += `${i3}  if (++th.steps > th.maxSteps) H.cancel(fr, ${pos});\n`;
    out += `${i3}  ${this.assign(vars, `${xs} === null ? ${it}.start + ${i} * ${it}.step : ${xs}[${i}]`)}\n`;
    out += this.withBound(vars, () => body(i3 + "  "));
    out += `${i3}}\n`;
    out += `${i2}} finally {\n${i3}if (${g} !== null) ${g}.itercount--;\n${i2}}\n`;
    return out + `${ind}}\n`;
  }

  /** [x for ...] / {k: v for ...} as a called arrow function (V8 inlines it) */
  private comp(e: Extract<Expr, { kind: "Comp" }>): string {
    const acc = `acc${this.tmp++}`;
    let inner: (ind: string) => string;
    if (e.curly) {
      const en = e.body as DictEntry;
      inner = (ind) => `${ind}H.dset(fr, ${acc}, ${this.expr(en.key)}, ${this.expr(en.value)}, ${this.p(en.pos)});\n`;
    } else {
      inner = (ind) => `${ind}${acc}.push(${this.expr(e.body as Expr)});\n`;
    }
    for (let ci = e.clauses.length - 1; ci >= 0; ci--) {
      const c = e.clauses[ci],
        next = inner;
      if (c.kind === "if") inner = (ind) => `${ind}if (${this.cond(c.cond)}) {\n${next(ind + "  ")}${ind}}\n`;
      else inner = (ind) => this.loop(c.vars, c.iter, c.pos, ind, next);
    }
    return `(() => {\n  const ${acc} = ${e.curly ? "H.dict()" : "[]"};\n${inner("  ")}  return ${e.curly ? acc : `H.list(${acc})`};\n})()`;
  }

  stmt(s: Stmt, ind: string): string {
    switch (s.kind) {
      case "ExprStmt":
        return `${ind}${this.expr(s.x)};\n`;
      case "Assign":
        if (s.op === "=") {
          const lhs = s.lhs.kind === "Paren" ? s.lhs.x : s.lhs;
          if ((lhs.kind === "Ident" && (lhs.binding!.scope === "local" || lhs.binding!.scope === "global")) || lhs.kind === "Index") {
            return `${ind}${this.assign(lhs, this.expr(s.rhs))}\n`;
          }
          if (
            (lhs.kind === "Tuple" || lhs.kind === "List") &&
            lhs.elems.every((x) => x.kind === "Ident" && (x.binding!.scope === "local" || x.binding!.scope === "global"))
          ) {
            // a, b = rhs into plain variables: no copy of a list rhs is needed
            const r = s.rhs;
            if (
              lhs.elems.length === 2 &&
              r.kind === "Call" &&
              r.fn.kind === "Dot" &&
              r.fn.name === "split" &&
              r.args.length === 1 &&
              r.args[0].kind === "pos"
            ) {
              // a, b = s.split(sep): no list in between
              const first = `H.split2(fr, ${this.expr(r.fn.x)}, ${this.expr(r.args[0].value)}, ${this.p(r.lparen)}, ${this.p(r.fn.namePos)}, ${this.p(lhs.pos)})`;
              return `${ind}${this.assign(lhs.elems[0], first)} ${this.assign(lhs.elems[1], "H.r2")}\n`;
            }
            const t = `u${this.tmp++}`,
              n = lhs.elems.length;
            let out = `${ind}{\n${ind}  const ${t} = H.unpack(fr, ${this.expr(s.rhs)}, ${n}, ${this.p(lhs.pos)});\n`;
            lhs.elems.forEach((x, i) => {
              out += `${ind}  ${this.assign(x, `${t}[${i}]`)}\n`;
            });
            return out + `${ind}}\n`;
          }
          return `${ind}${this.delegateStmt(s)}\n`;
        }
        if (s.lhs.kind === "Index") {
          // x[k] op= v: x and k once, then x[k], then v (as the closure)
          const op = JSON.stringify(s.op.slice(0, -1)),
            ip = this.p(s.lhs.pos);
          const tx = this.temp(),
            tk = this.temp();
          return (
            `${ind}${tx} = ${this.expr(s.lhs.x)}; ${tk} = ${this.expr(s.lhs.index)}; ` +
            `H.seti(fr, ${tx}, ${tk}, H.aug(fr, ${op}, H.index(fr, ${tx}, ${tk}, ${ip}), ${this.expr(s.rhs)}, ${this.p(s.pos)}), ${ip});\n`
          );
        }
        if (s.lhs.kind === "Ident" && s.lhs.binding!.scope === "local") {
          const op = JSON.stringify(s.op.slice(0, -1));
          return `${ind}l[${s.lhs.binding!.index}] = H.aug(fr, ${op}, ${this.expr(s.lhs)}, ${this.expr(s.rhs)}, ${this.p(s.pos)});\n`;
        }
        return `${ind}${this.delegateStmt(s)}\n`;
      case "If": {
        let out = `${ind}if (${this.cond(s.cond)}) {\n${this.block(s.then, ind + "  ")}${ind}}`;
        if (s.else_.length) out += ` else {\n${this.block(s.else_, ind + "  ")}${ind}}`;
        return out + "\n";
      }
      case "While": {
        const pos = this.p(s.pos);
        return `${ind}while (${this.cond(s.cond)}) {\n${ind}  if (++th.steps > th.maxSteps) H.cancel(fr, ${pos});\n${this.block(s.body, ind + "  ")}${ind}}\n`;
      }
      case "For":
        return this.loop(s.vars, s.iter, s.pos, ind, (i3) => this.block(s.body, i3));
      case "Return":
        return `${ind}return ${s.result ? this.expr(s.result) : "null"};\n`;
      case "Branch":
        if (s.token === "break") return `${ind}break;\n`;
        if (s.token === "continue") return `${ind}continue;\n`;
        return "";
      default:
        return `${ind}${this.delegateStmt(s)}\n`;
    }
  }
}

/**
 * The body of a (non-top-level) function as generated JavaScript, or undefined to keep
 * the closure-compiled body.
 */
export function generateBody(c: Compiler, info: FunctionInfo, G: Value[]): ((fr: Frame) => unknown) | undefined {
  const g = new Gen(c, info, G);
  let src: string;
  try {
    const body = g.block(info.body, "  ");
    src = `return function body(fr) {\n  const l = fr.l, th = fr.th;\n  let v${g.temps.map((t) => ", " + t).join("")};\n${body}  return null;\n};`;
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
  try {
    if (process.env.STARLARK_DUMP_JS) process.stderr.write(src + "\n");
    const factory = new Function("H", "K", "E", "S", "A", "P", "G", src) as (...a: unknown[]) => (fr: Frame) => unknown;
    return factory(H, g.K, g.E, g.S, g.A, g.P, G);
  } catch (e) {
    if (e instanceof StarlarkError) throw e;
    return undefined; // a generator bug must not break evaluation: fall back to closures
  }
}
