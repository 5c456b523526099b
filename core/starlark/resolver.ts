// Resolver: binds every identifier to a local, cell, free, global, predeclared or universal
// name before anything runs, and reports static errors ("undefined: x").
import { Position, StarlarkError, formatPos } from "./errors.js";
import type { Binding, Clause, DictEntry, Expr, File, FunctionInfo, Ident, Param, Stmt } from "./syntax.js";

export interface Dialect {
  set: boolean;
  while: boolean;
  recursion: boolean;
  globalReassign: boolean;
  topLevelControl: boolean;
  /** bramble's `load("pkg/dir")` and `load(alias="pkg/dir")`, binding a whole module */
  moduleLoad?: boolean;
}

/** starlark-go's defaults (sets are standard there now). */
export const DEFAULT_DIALECT: Dialect = Object.freeze({
  set: true,
  while: false,
  recursion: false,
  globalReassign: false,
  topLevelControl: false,
});

/** What .bramble files get: see docs/language.md. */
export const BRAMBLE_DIALECT: Dialect = Object.freeze({
  set: true,
  while: true,
  recursion: false,
  globalReassign: false,
  topLevelControl: true,
  moduleLoad: true,
});

/** Everything on: the REPL and the benchmarks. */
export const PERMISSIVE_DIALECT: Dialect = Object.freeze({
  set: true,
  while: true,
  recursion: true,
  globalReassign: true,
  topLevelControl: true,
});

class FnScope {
  freeMap = new Map<string, Binding>();
  constructor(
    readonly info: FunctionInfo,
    readonly parent: FnScope | null,
  ) {}
}

class Block {
  bindings = new Map<string, Binding>();
  constructor(
    readonly parent: Block | null,
    readonly fn: FnScope,
    readonly isModule: boolean,
  ) {}
}

interface Use {
  id: Ident;
  block: Block;
}

/** starlark-go's internal/spell levenshtein: gives up (returns more than max) early. */
function levenshtein(x: string, y: string, max: number): number {
  if (x.length > y.length) [x, y] = [y, x];
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) {
      x = x.slice(i);
      y = y.slice(i);
      break;
    }
  }
  if (x === "") return y.length;
  if (Math.abs(x.length - y.length) > max) return Math.abs(x.length - y.length);
  const row = Array.from({ length: y.length + 1 }, (_, i) => i);
  for (let i = 1; i <= x.length; i++) {
    row[0] = i;
    let best = i,
      prev = i - 1;
    for (let j = 1; j <= y.length; j++) {
      const k = Math.min(prev + (x[i - 1] !== y[j - 1] ? 1 : 0), 1 + row[j - 1], 1 + row[j]);
      prev = row[j];
      row[j] = k;
      best = Math.min(best, k);
    }
    if (best > max) return best;
  }
  return row[y.length];
}

/**
 * The closest candidate to x, as starlark-go's spell.Nearest: underscores and case ignored,
 * at most half the letters wrong, the first of equally close candidates in the given order.
 */
export function nearest(x: string, candidates: Iterable<string>): string | undefined {
  const fold = (s: string) => s.replace(/_/g, "").toLowerCase();
  const fx = fold(x);
  let best: string | undefined;
  let bestD = Math.floor((fx.length + 1) / 2);
  for (const c of candidates) {
    const d = levenshtein(fx, fold(c), bestD);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

function newInfo(name: string, pos: Position, params: Param[], body: Stmt[], isLambda: boolean): FunctionInfo {
  return {
    name,
    pos,
    params,
    body,
    locals: [],
    freevars: [],
    numParams: 0,
    numKwonly: 0,
    hasVarargs: false,
    hasKwargs: false,
    doc: "",
    isLambda,
  };
}

export class Resolver {
  private uses: Use[] = [];
  private globals: Binding[] = [];
  private loops = 0;
  private ifstmts = 0;
  private errors: StarlarkError[] = [];

  constructor(
    private dialect: Dialect,
    private isPredeclared: (name: string) => boolean,
    private isUniversal: (name: string) => boolean,
    private allNames: () => Iterable<string> = () => [],
  ) {}

  private error(pos: Position, msg: string): void {
    this.errors.push(new StarlarkError(msg, pos));
  }

  resolveFile(file: File): void {
    const info = newInfo("<toplevel>", { file: file.path, line: 1, col: 1 }, [], file.stmts, false);
    const fn = new FnScope(info, null);
    const block = new Block(null, fn, true);
    this.stmts(file.stmts, block);
    this.resolveUses();
    if (this.errors.length > 0) throw this.errors[0];
    file.module = info;
    file.globals = this.globals;
  }

  /** Resolve a lone expression evaluated at module level (REPL-style). */
  resolveExpr(x: Expr, path: string): FunctionInfo {
    const info = newInfo("<expr>", { file: path, line: 1, col: 1 }, [], [], false);
    const fn = new FnScope(info, null);
    const block = new Block(null, fn, true);
    this.expr(x, block);
    this.resolveUses();
    if (this.errors.length > 0) throw this.errors[0];
    return info;
  }

  private stmts(stmts: Stmt[], b: Block): void {
    for (const s of stmts) this.stmt(s, b);
  }

  private stmt(s: Stmt, b: Block): void {
    switch (s.kind) {
      case "ExprStmt":
        this.expr(s.x, b);
        break;
      case "Assign":
        this.expr(s.rhs, b);
        this.assign(s.lhs, b, s.op !== "=");
        break;
      case "Def":
        this.bind(s.name, b);
        s.fn = this.function(s.name.name, s.pos, s.params, s.body, b, false);
        if (s.body[0]?.kind === "ExprStmt" && s.body[0].x.kind === "Literal" && s.body[0].x.tokKind === "STRING") {
          s.fn.doc = s.body[0].x.value as string;
        }
        break;
      case "If":
        if (b.isModule && !this.dialect.topLevelControl && !s.elif) this.error(s.pos, "if statement not within a function");
        this.expr(s.cond, b);
        this.ifstmts++;
        this.stmts(s.then, b);
        this.stmts(s.else_, b);
        this.ifstmts--;
        break;
      case "For":
        if (b.isModule && !this.dialect.topLevelControl) this.error(s.pos, "for loop not within a function");
        this.expr(s.iter, b);
        this.assign(s.vars, b);
        this.loops++;
        this.stmts(s.body, b);
        this.loops--;
        break;
      case "While":
        if (!this.dialect.while) this.error(s.pos, "this Starlark dialect does not support while loops");
        else if (b.isModule && !this.dialect.topLevelControl) this.error(s.pos, "while loop not within a function");
        this.expr(s.cond, b);
        this.loops++;
        this.stmts(s.body, b);
        this.loops--;
        break;
      case "Return":
        if (b.fn.parent === null) this.error(s.pos, "return statement not within a function");
        if (s.result) this.expr(s.result, b);
        break;
      case "Branch":
        if (s.token !== "pass" && this.loops === 0) this.error(s.pos, `${s.token} not in a loop`);
        break;
      case "Load":
        if (!b.isModule || b.fn.parent !== null) {
          this.error(s.pos, "load statement within a function");
          break;
        }
        if (this.loops > 0) this.error(s.pos, "load statement within a loop");
        else if (this.ifstmts > 0) this.error(s.pos, "load statement within a conditional");
        if (s.wholeModule && !this.dialect.moduleLoad) {
          this.error(s.rparen, "load statement must import at least 1 symbol");
          break;
        }
        if (s.wholeModule) {
          this.bind(s.to[0]!, b, true);
          break;
        }
        for (let i = 0; i < s.to.length; i++) {
          const from = s.from[i];
          if (from.name === "") {
            this.error(from.pos, "load: empty identifier");
            continue;
          }
          if (from.name.startsWith("_")) this.error(from.pos, `load: names with leading underscores are not exported: ${from.name}`);
          this.bind(s.to[i], b, true);
        }
        break;
    }
  }

  /** The targets of `=`, `op=` and `for`, with starlark-go's errors for the rest. */
  private assign(lhs: Expr, b: Block, augmented = false): void {
    switch (lhs.kind) {
      case "Ident":
        if (augmented) this.use(lhs, b);
        this.bind(lhs, b);
        break;
      case "Index":
        this.expr(lhs.x, b);
        this.expr(lhs.index, b);
        break;
      case "Dot":
        this.expr(lhs.x, b);
        break;
      case "Tuple":
      case "List":
        if (augmented) this.error(startOf(lhs), `can't use ${lhs.kind.toLowerCase()} expression in augmented assignment`);
        for (const e of lhs.elems) this.assign(e, b, augmented);
        break;
      case "Paren":
        this.assign(lhs.x, b, augmented);
        break;
      default:
        this.error(startOf(lhs), `can't assign to ${describeTarget(lhs)}`);
    }
  }

  private bind(id: Ident, b: Block, isLoad = false): void {
    const existing = b.bindings.get(id.name);
    if (b.isModule) {
      // As in starlark-go, load() binds in a file block in front of the globals: a load may
      // shadow an earlier global; rebinding a loaded name needs the globalReassign option.
      if (existing && !(isLoad && !existing.isLoad)) {
        if (!this.dialect.globalReassign) {
          if (isLoad) this.error(id.pos, `cannot reassign top-level ${id.name}`);
          else this.error(id.pos, `cannot reassign ${existing.isLoad ? "local" : "global"} ${id.name} declared at ${formatPos(existing.first!.pos)}`);
        }
        id.binding = existing;
        return;
      }
      const g: Binding = { scope: "global", index: this.globals.length, name: id.name, first: id, isLoad };
      this.globals.push(g);
      b.bindings.set(id.name, g);
      id.binding = g;
      return;
    }
    if (existing) {
      id.binding = existing;
      return;
    }
    const info = b.fn.info;
    const l: Binding = { scope: "local", index: info.locals.length, name: id.name, first: id };
    info.locals.push(l);
    b.bindings.set(id.name, l);
    id.binding = l;
  }

  private use(id: Ident, b: Block): void {
    this.uses.push({ id, block: b });
  }

  private function(name: string, pos: Position, params: Param[], body: Stmt[], b: Block, isLambda: boolean): FunctionInfo {
    // Defaults are evaluated in the enclosing block.
    for (const p of params) if (p.default_) this.expr(p.default_, b);
    const info = newInfo(name, pos, params, body, isLambda);
    const fn = new FnScope(info, b.fn);
    const fb = new Block(b, fn, false);
    // Parameter slots: positional, keyword-only, then *args, then **kwargs.
    // starlark-go's checks, in its order.
    let seenStar = false,
      seenOptional = false,
      star: Ident | undefined,
      starstar: Ident | undefined,
      starPos: Position | undefined;
    const seen = new Set<string>();
    const positional: Ident[] = [],
      kwonly: Ident[] = [];
    const dup = (id: Ident, at: Position) => {
      if (seen.has(id.name)) this.error(at, `duplicate parameter: ${id.name}`);
      seen.add(id.name);
    };
    for (const p of params) {
      switch (p.kind) {
        case "plain":
          if (starstar) this.error(p.name!.pos, `required parameter may not follow **${starstar.name}`);
          else if (seenStar) kwonly.push(p.name!);
          else if (seenOptional) this.error(p.name!.pos, "required parameter may not follow optional");
          if (!seenStar) positional.push(p.name!);
          dup(p.name!, p.name!.pos);
          break;
        case "default":
          if (starstar) this.error(p.eqPos ?? p.pos, `optional parameter may not follow **${starstar.name}`);
          if (seenStar) kwonly.push(p.name!);
          else positional.push(p.name!);
          dup(p.name!, p.eqPos ?? p.pos);
          seenOptional = true;
          break;
        case "star":
          if (starstar) this.error(p.pos, `* parameter may not follow **${starstar.name}`);
          else if (seenStar) this.error(p.pos, "multiple * parameters not allowed");
          else {
            seenStar = true;
            star = p.name;
            starPos = p.pos;
          }
          break;
        case "starstar":
          if (starstar) this.error(p.pos, "multiple ** parameters not allowed");
          starstar = p.name;
          break;
      }
    }
    if (star) dup(star, star.pos);
    else if (seenStar && kwonly.length === 0) this.error(starPos!, "bare * must be followed by keyword-only parameters");
    if (starstar) dup(starstar, starstar.pos);
    for (const id of [...positional, ...kwonly]) this.bind(id, fb);
    if (star) this.bind(star, fb);
    if (starstar) this.bind(starstar, fb);
    info.numParams = positional.length + kwonly.length;
    info.numKwonly = kwonly.length;
    info.hasVarargs = !!star;
    info.hasKwargs = !!starstar;
    const savedLoops = this.loops;
    this.loops = 0;
    if (isLambda) this.expr((body[0] as { kind: "Return"; result: Expr }).result, fb);
    else this.stmts(body, fb);
    this.loops = savedLoops;
    return info;
  }

  private expr(e: Expr, b: Block): void {
    switch (e.kind) {
      case "Ident":
        this.use(e, b);
        break;
      case "Literal":
        break;
      case "List":
      case "Tuple":
        for (const x of e.elems) this.expr(x, b);
        break;
      case "Dict":
        for (const en of e.entries) {
          this.expr(en.key, b);
          this.expr(en.value, b);
        }
        break;
      case "Comp": {
        // The first iterable is evaluated in the enclosing block; the rest in a new block.
        const first = e.clauses[0] as Extract<Clause, { kind: "for" }>;
        this.expr(first.iter, b);
        const cb = new Block(b, b.fn, false);
        this.assign(first.vars, cb);
        for (let i = 1; i < e.clauses.length; i++) {
          const c = e.clauses[i];
          if (c.kind === "for") {
            this.expr(c.iter, cb);
            this.assign(c.vars, cb);
          } else this.expr(c.cond, cb);
        }
        if (e.curly) {
          const en = e.body as DictEntry;
          this.expr(en.key, cb);
          this.expr(en.value, cb);
        } else this.expr(e.body as Expr, cb);
        break;
      }
      case "Cond":
        this.expr(e.cond, b);
        this.expr(e.then, b);
        this.expr(e.else_, b);
        break;
      case "Lambda":
        e.fn = this.function("lambda", e.pos, e.params, [{ kind: "Return", pos: e.body.pos, result: e.body }], b, true);
        break;
      case "Unary":
        this.expr(e.x, b);
        break;
      case "Binary":
        this.expr(e.x, b);
        this.expr(e.y, b);
        break;
      case "Dot":
        this.expr(e.x, b);
        break;
      case "Call": {
        this.expr(e.fn, b);
        let seenStar = false,
          seenStarStar = false,
          npos = 0,
          nnamed = 0;
        const names = new Set<string>();
        for (const a of e.args) {
          if (a.kind === "pos") {
            npos++;
            if (seenStar) this.error(a.pos, "positional argument may not follow *args");
            else if (seenStarStar) this.error(a.pos, "positional argument may not follow **kwargs");
            else if (names.size > 0) this.error(a.pos, "positional argument may not follow named");
          } else if (a.kind === "named") {
            nnamed++;
            if (seenStarStar) this.error(a.pos, "keyword argument may not follow **kwargs");
            else if (seenStar) this.error(a.pos, "keyword argument may not follow *args");
            if (names.has(a.name!)) this.error(a.pos, `keyword argument ${JSON.stringify(a.name)} is repeated`);
            names.add(a.name!);
          } else if (a.kind === "star") {
            if (seenStarStar) this.error(a.pos, "*args may not follow **kwargs");
            else if (seenStar) this.error(a.pos, "multiple *args not allowed");
            seenStar = true;
          } else {
            if (seenStarStar) this.error(a.pos, "multiple **kwargs not allowed");
            seenStarStar = true;
          }
          this.expr(a.value, b);
        }
        if (npos >= 256) this.error(e.pos, `${npos} positional arguments in call, limit is 255`);
        if (nnamed >= 256) this.error(e.pos, `${nnamed} keyword arguments in call, limit is 255`);
        break;
      }
      case "Index":
        this.expr(e.x, b);
        this.expr(e.index, b);
        break;
      case "Slice":
        this.expr(e.x, b);
        if (e.lo) this.expr(e.lo, b);
        if (e.hi) this.expr(e.hi, b);
        if (e.step) this.expr(e.step, b);
        break;
      case "Paren":
        this.expr(e.x, b);
        break;
    }
  }

  private resolveUses(): void {
    for (const { id, block } of this.uses) {
      let b: Block | null = block;
      let found: Binding | undefined;
      let foundBlock: Block | undefined;
      while (b) {
        const x = b.bindings.get(id.name);
        if (x) {
          found = x;
          foundBlock = b;
          break;
        }
        b = b.parent;
      }
      if (found && foundBlock) {
        if (found.scope === "global" || foundBlock.fn === block.fn) {
          id.binding = found;
          continue;
        }
        // A free variable: the binding becomes a cell; each function in between gets a free var.
        found.scope = "cell";
        const chain: FnScope[] = [];
        for (let f: FnScope | null = block.fn; f && f !== foundBlock.fn; f = f.parent) chain.unshift(f);
        let outer: Binding = found;
        for (const f of chain) {
          let fb = f.freeMap.get(id.name);
          if (!fb) {
            fb = { scope: "free", index: f.info.freevars.length, name: id.name, outer };
            f.freeMap.set(id.name, fb);
            f.info.freevars.push(fb);
          }
          outer = fb;
        }
        id.binding = outer;
        continue;
      }
      if (this.isPredeclared(id.name)) id.binding = { scope: "predeclared", index: -1, name: id.name };
      else if (this.isUniversal(id.name)) id.binding = { scope: "universal", index: -1, name: id.name };
      else if (id.name === "set" && !this.dialect.set) this.error(id.pos, "this Starlark dialect does not support sets");
      else {
        // as starlark-go: the names bound in enclosing blocks and the module's globals, sorted
        const cands: string[] = [];
        for (let bb: Block | null = block; bb; bb = bb.parent) for (const k of bb.bindings.keys()) cands.push(k);
        for (const g of this.globals) cands.push(g.name);
        // then (ours, see docs/language.md) the predeclared and built-in names
        const n = nearest(id.name, [...new Set(cands)].sort()) ?? nearest(id.name, [...new Set(this.allNames())].sort());
        this.error(id.pos, `undefined: ${id.name}${n ? ` (did you mean ${n}?)` : ""}`);
      }
    }
    // Reported in the order found, as starlark-go does: names are resolved last.
  }
}

/** starlark-go names a bad target by its syntax type, lower-cased ("callexpr"). */
function describeTarget(e: Expr): string {
  switch (e.kind) {
    case "Literal":
      return "literal";
    case "Call":
      return "callexpr";
    case "Binary":
      return "binaryexpr";
    case "Unary":
      return "unaryexpr";
    case "Slice":
      return "sliceexpr";
    case "Comp":
      return "comprehension";
    case "Lambda":
      return "lambdaexpr";
    case "Cond":
      return "condexpr";
    case "Dict":
      return "dictexpr";
    default:
      return e.kind.toLowerCase();
  }
}

/** Where an expression starts (a binary expression's pos is its operator). */
function startOf(e: Expr): Position {
  switch (e.kind) {
    case "Binary":
      return startOf(e.x);
    case "Index":
    case "Slice":
    case "Call":
      return startOf(e.kind === "Call" ? e.fn : e.x);
    case "Dot":
      return startOf(e.x);
    case "Cond":
      return startOf(e.then);
    case "Tuple":
      return e.elems.length > 0 && e.pos === e.elems[0].pos ? startOf(e.elems[0]) : e.pos;
    default:
      return e.pos;
  }
}
