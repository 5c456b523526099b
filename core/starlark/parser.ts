// Parser: tokens to the syntax tree (syntax.ts), by recursive descent.
import { Position, StarlarkError } from "./errors.js";
import { Scanner, Token } from "./scanner.js";
import type { Arg, Clause, DictEntry, Expr, File, Ident, Literal, LoadStmt, Param, Stmt } from "./syntax.js";

/** starlark-go stops at 1000 levels of its parser's recursion, about 76 brackets; ours counts brackets, blocks and operators. */
const MAX_DEPTH = 1000;

// Binary operator precedence (higher binds tighter).
const PREC: Record<string, number> = {
  or: 1,
  and: 2,
  "==": 4,
  "!=": 4,
  "<": 4,
  ">": 4,
  "<=": 4,
  ">=": 4,
  in: 4,
  "not in": 4,
  "|": 5,
  "^": 6,
  "&": 7,
  "<<": 8,
  ">>": 8,
  "+": 9,
  "-": 9,
  "*": 10,
  "/": 10,
  "//": 10,
  "%": 10,
};
const COMPARISONS = new Set(["==", "!=", "<", ">", "<=", ">=", "in", "not in"]);
const ASSIGN_OPS = new Set(["=", "+=", "-=", "*=", "/=", "//=", "%=", "&=", "|=", "^=", "<<=", ">>="]);

function describe(t: Token): string {
  switch (t.kind) {
    case "EOF":
      return "end of file";
    case "NEWLINE":
      return "newline";
    case "INDENT":
      return "indent";
    case "OUTDENT":
      return "outdent";
    case "IDENT":
      return "identifier";
    case "INT":
      return "int literal";
    case "FLOAT":
      return "float literal";
    case "STRING":
      return "string literal";
    case "BYTES":
      return "bytes literal";
    case "KEYWORD":
      return t.text;
    default:
      return `'${t.text}'`;
  }
}

/** How starlark-go names a token it wants: punctuation quoted, keywords bare. */
function wanted(text: string): string {
  return /^[a-z]/.test(text) ? text : `'${text}'`;
}

/** Tokens that end a comma-separated list (starlark-go's terminatesExprList). */
function terminatesExprList(t: Token): boolean {
  if (t.kind === "NEWLINE" || t.kind === "EOF") return true;
  return t.kind === "OP" && (t.text === "=" || t.text === "}" || t.text === "]" || t.text === ")" || t.text === ";");
}

export class Parser {
  // Tokens are scanned as the parser asks for them, as in starlark-go, so a syntax error
  // is reported before a lexical error later in the file.
  private sc: Scanner;
  private ahead: Token[] = [];
  private prev: Token;
  private tok: Token;
  private depth = 0;
  private src: string;

  constructor(
    readonly file: string,
    src: string,
  ) {
    this.src = src;
    this.sc = new Scanner(file, src);
    this.tok = this.sc.next();
    this.prev = this.tok;
  }

  private kind(): string {
    return this.tok.kind;
  }
  private scan(): Token {
    return this.ahead.length > 0 ? this.ahead.shift()! : this.sc.next();
  }
  private next(): Token {
    const t = this.tok;
    if (t.kind !== "EOF") this.tok = this.scan();
    this.prev = t;
    return t;
  }
  private peek(k = 1): Token {
    if (this.tok.kind === "EOF") return this.tok;
    while (this.ahead.length < k) {
      const last = this.ahead.length > 0 ? this.ahead[this.ahead.length - 1] : this.tok;
      if (last.kind === "EOF") return last;
      this.ahead.push(this.sc.next());
    }
    return this.ahead[k - 1];
  }
  private is(text: string): boolean {
    return (this.tok.kind === "OP" || this.tok.kind === "KEYWORD") && this.tok.text === text;
  }
  private error(msg: string, pos: Position = this.tok.endPos): never {
    throw new StarlarkError(msg, pos);
  }
  private expect(text: string): Token {
    if (!this.is(text)) this.error(`got ${describe(this.tok)}, want ${wanted(text)}`);
    return this.next();
  }
  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.error("excessive nesting");
  }

  parseFile(): File {
    const stmts: Stmt[] = [];
    while (this.tok.kind !== "EOF") {
      if (this.tok.kind === "NEWLINE") {
        this.next();
        continue;
      }
      this.parseStmt(stmts);
    }
    return { kind: "File", path: this.file, stmts };
  }

  /** A single expression (for `eval`-like uses); the whole input must be consumed. */
  parseExprOnly(): Expr {
    while (this.tok.kind === "NEWLINE") this.next();
    const e = this.parseExpr();
    while (this.kind() === "NEWLINE") this.next();
    if (this.kind() !== "EOF") this.error(`got ${describe(this.tok)}, want end of file`);
    return e;
  }

  private parseStmt(out: Stmt[]): void {
    const t = this.tok;
    if (t.kind === "KEYWORD") {
      switch (t.text) {
        case "def":
          out.push(this.parseDef());
          return;
        case "if":
          out.push(this.parseIf());
          return;
        case "for": {
          this.enter();
          const pos = this.next().pos;
          const vars = this.parseLoopVars();
          this.expect("in");
          const iter = this.parseExpr(false);
          this.expect(":");
          const body = this.parseSuite();
          this.depth--;
          out.push({ kind: "For", pos, vars, iter, body });
          return;
        }
        case "while": {
          this.enter();
          const pos = this.next().pos;
          const cond = this.parseTest();
          this.expect(":");
          const body = this.parseSuite();
          this.depth--;
          out.push({ kind: "While", pos, cond, body });
          return;
        }
      }
    }
    this.parseSimpleStmt(out);
  }

  private parseDef(): Stmt {
    this.enter();
    const pos = this.next().pos;
    const name = this.parseIdent();
    this.expect("(");
    const params = this.parseParams(")");
    this.expect(")");
    this.expect(":");
    const body = this.parseSuite();
    this.depth--;
    return { kind: "Def", pos, name, params, body };
  }

  private parseIf(): Stmt {
    this.enter();
    const pos = this.next().pos; // 'if' or 'elif'
    const cond = this.parseTest();
    this.expect(":");
    const then = this.parseSuite();
    let else_: Stmt[] = [];
    if (this.is("elif")) {
      else_ = [this.parseIf()];
      (else_[0] as { elif?: boolean }).elif = true;
    } else if (this.is("else")) {
      this.next();
      this.expect(":");
      else_ = this.parseSuite();
    }
    this.depth--;
    return { kind: "If", pos, cond, then, else_ };
  }

  private parseSuite(): Stmt[] {
    const stmts: Stmt[] = [];
    if (this.tok.kind === "NEWLINE") {
      this.next();
      if (this.kind() !== "INDENT") this.error(`got ${describe(this.tok)}, want indent`);
      this.next();
      while (this.kind() !== "OUTDENT" && this.kind() !== "EOF") {
        if (this.tok.kind === "NEWLINE") {
          this.next();
          continue;
        }
        this.parseStmt(stmts);
      }
      if (this.kind() === "OUTDENT") this.next();
      return stmts;
    }
    this.parseSimpleStmt(stmts);
    return stmts;
  }

  private parseSimpleStmt(out: Stmt[]): void {
    for (;;) {
      out.push(this.parseSmallStmt());
      if (this.is(";")) {
        this.next();
        if (this.tok.kind === "NEWLINE" || this.tok.kind === "EOF") break;
        continue;
      }
      break;
    }
    if (this.tok.kind === "NEWLINE") this.next();
    else if (this.tok.kind !== "EOF") this.error(`got ${describe(this.tok)}, want newline`);
  }

  private parseSmallStmt(): Stmt {
    const t = this.tok;
    if (t.kind === "KEYWORD") {
      switch (t.text) {
        case "return": {
          this.next();
          let result: Expr | undefined;
          if (this.tok.kind !== "NEWLINE" && this.tok.kind !== "EOF" && !this.is(";")) result = this.parseExpr(false);
          return { kind: "Return", pos: t.pos, result };
        }
        case "break":
        case "continue":
        case "pass":
          this.next();
          return { kind: "Branch", pos: t.pos, token: t.text as "break" };
        case "load":
          return this.parseLoad();
      }
    }
    const x = this.parseExpr(false);
    if (this.tok.kind === "OP" && ASSIGN_OPS.has(this.tok.text)) {
      const opTok = this.next();
      const rhs = this.parseExpr(false);
      return { kind: "Assign", pos: opTok.pos, op: opTok.text, lhs: x, rhs };
    }
    return { kind: "ExprStmt", pos: x.pos, x };
  }

  private parseLoad(): LoadStmt {
    const pos = this.next().pos;
    this.expect("(");
    if (this.tok.kind === "IDENT") {
      // load(alias="pkg/dir"): bramble's whole-module form; the resolver checks the dialect.
      const alias = this.parseIdent();
      this.expect("=");
      if ((this.tok.kind as string) !== "STRING") this.error(`first operand of load statement must be a string literal`);
      const module = this.parsePrimary() as Literal;
      if (this.is(",")) this.next();
      const rparen = this.expect(")").pos;
      return { kind: "Load", pos, module, from: [], to: [alias], rparen, wholeModule: true };
    }
    if (this.tok.kind !== "STRING") this.error(`first operand of load statement must be a string literal`);
    const module = this.parsePrimary() as Literal;
    const from: Ident[] = [];
    const to: Ident[] = [];
    while (this.is(",")) {
      this.next();
      if (this.is(")")) break;
      if (this.tok.kind === "STRING") {
        const lit = this.next();
        const name = lit.value as string;
        const at = { ...lit.pos, col: lit.pos.col + 1 };
        from.push({ kind: "Ident", pos: at, name });
        to.push({ kind: "Ident", pos: at, name });
      } else if (this.tok.kind === "IDENT") {
        const id = this.parseIdent();
        if (!this.is("=")) this.error(`load operand must be "${id.name}" or ${id.name}="originalname" (want '=' after ${id.name})`);
        this.next();
        if (this.tok.kind !== "STRING") this.error(`original name of loaded symbol must be quoted: ${id.name}="originalname"`);
        const lit = this.next();
        from.push({ kind: "Ident", pos: { ...lit.pos, col: lit.pos.col + 1 }, name: lit.value as string });
        to.push(id);
      } else this.error(`load operand must be "name" or localname="name" (got ${describe(this.tok)})`);
    }
    const rparen = this.expect(")").pos;
    if (from.length === 0) {
      // load("pkg/dir"): bramble binds the module under its last path segment.
      const name = moduleBindingName(module.value as string);
      return { kind: "Load", pos, module, from: [], to: [{ kind: "Ident", pos: module.pos, name }], rparen, wholeModule: true };
    }
    return { kind: "Load", pos, module, from, to, rparen };
  }

  private parseIdent(): Ident {
    if (this.tok.kind !== "IDENT") this.error("not an identifier");
    const t = this.next();
    return { kind: "Ident", pos: t.pos, name: t.text };
  }

  private parseParams(_close: string): Param[] {
    const params: Param[] = [];
    while (!this.is(")") && !this.is(":") && this.tok.kind !== "EOF") {
      if (params.length > 0) this.expect(",");
      if (this.is(")")) break;
      const pos = this.tok.pos;
      if (this.is("*")) {
        this.next();
        if (this.tok.kind === "IDENT") params.push({ kind: "star", name: this.parseIdent(), pos });
        else params.push({ kind: "star", pos });
      } else if (this.is("**")) {
        this.next();
        params.push({ kind: "starstar", name: this.parseIdent(), pos });
      } else {
        const name = this.parseIdent();
        if (this.is("=")) {
          const eqPos = this.next().pos;
          const start = this.tok.offset;
          const d = this.parseTest();
          const end = this.prev.end;
          params.push({ kind: "default", name, default_: d, pos, eqPos, defaultText: this.src.slice(start, end) });
        } else params.push({ kind: "plain", name, pos });
      }
    }
    return params;
  }

  private parseLoopVars(): Expr {
    // LoopVariables = PrimaryExpr {',' PrimaryExpr}
    const pos = this.tok.pos;
    const first = this.parsePrimaryWithSuffix();
    if (!this.is(",")) return first;
    const elems = [first];
    while (this.is(",")) {
      this.next();
      if (terminatesExprList(this.tok)) break;
      elems.push(this.parsePrimaryWithSuffix());
    }
    return { kind: "Tuple", pos, elems };
  }

  /** Expression = Test {',' Test} [','] — a bare tuple if there is a comma; a trailing comma only inside parentheses. */
  parseExpr(inParens = true): Expr {
    const x = this.parseTest();
    if (!this.is(",")) return x;
    const elems = [x];
    while (this.is(",")) {
      const comma = this.next().pos;
      if (terminatesExprList(this.tok)) {
        if (!inParens) this.error("unparenthesized tuple with trailing comma", comma);
        break;
      }
      elems.push(this.parseTest());
    }
    return { kind: "Tuple", pos: x.pos, elems };
  }

  parseTest(): Expr {
    this.enter();
    try {
      if (this.is("lambda")) return this.parseLambda(true);
      const x = this.parseBinary(0);
      if (this.is("if")) {
        const pos = this.next().pos;
        const cond = this.parseBinary(0);
        if (!this.is("else")) this.error(`conditional expression without else clause`, pos);
        this.next();
        const else_ = this.parseTest();
        return { kind: "Cond", pos, cond, then: x, else_ };
      }
      return x;
    } finally {
      this.depth--;
    }
  }

  private parseTestNoCond(): Expr {
    if (this.is("lambda")) return this.parseLambda(false);
    return this.parseBinary(0);
  }

  private parseLambda(allowCond: boolean): Expr {
    const pos = this.next().pos;
    const params = this.parseParams(":");
    this.expect(":");
    const body = allowCond ? this.parseTest() : this.parseTestNoCond();
    return { kind: "Lambda", pos, params, body };
  }

  private parseBinary(minPrec: number): Expr {
    this.enter();
    try {
      let x: Expr;
      if (this.is("not") && minPrec <= 3) {
        const pos = this.next().pos;
        x = { kind: "Unary", pos, op: "not", x: this.parseBinary(3) };
      } else x = this.parseUnary();
      let count = 0;
      for (;;) {
        let op: string | undefined;
        const t = this.tok;
        if (t.kind === "OP" || t.kind === "KEYWORD") {
          if (t.text === "not") {
            if (!(this.peek().kind === "KEYWORD" && this.peek().text === "in")) this.error(`got ${describe(this.peek())}, want in`, this.peek().endPos);
            op = "not in";
          } else if (t.text in PREC) op = t.text;
        }
        if (op === undefined) return x;
        const prec = PREC[op];
        if (prec <= minPrec) return x;
        const opPos = t.pos;
        if (COMPARISONS.has(op) && x.kind === "Binary" && COMPARISONS.has(x.op) && count > 0) {
          this.error(`${x.op} does not associate with ${op} (use parens)`, op === "not in" ? this.peek().endPos : t.endPos);
        }
        this.next();
        if (op === "not in") this.next();
        // `not` binds looser than comparisons but tighter than and/or
        const y = this.parseBinary(prec);
        x = { kind: "Binary", pos: opPos, op, x, y };
        count++;
      }
    } finally {
      this.depth--;
    }
  }

  private parseUnary(): Expr {
    if (this.is("-") || this.is("+") || this.is("~")) {
      this.enter();
      const t = this.next();
      const x = this.parseUnary();
      this.depth--;
      return { kind: "Unary", pos: t.pos, op: t.text, x };
    }
    return this.parsePrimaryWithSuffix();
  }

  private parsePrimaryWithSuffix(): Expr {
    let x = this.parsePrimary();
    for (;;) {
      if (this.is(".")) {
        const dot = this.next();
        const id = this.parseIdent();
        x = { kind: "Dot", pos: dot.pos, x, name: id.name, namePos: id.pos };
      } else if (this.is("(")) {
        const lp = this.next().pos;
        const args = this.parseArgs();
        this.expect(")");
        x = { kind: "Call", pos: lp, fn: x, args, lparen: lp };
      } else if (this.is("[")) {
        const lb = this.next().pos;
        let lo: Expr | undefined, hi: Expr | undefined, step: Expr | undefined;
        if (!this.is(":")) {
          lo = this.parseExpr(false);
          if (this.is("]")) {
            this.next();
            x = { kind: "Index", pos: lb, x, index: lo };
            continue;
          }
        }
        // as starlark-go: [lo] [: [hi]] [: [step]] ]
        if (this.is(":")) {
          this.next();
          if (!this.is(":") && !this.is("]")) hi = this.parseTest();
        }
        if (this.is(":")) {
          this.next();
          if (!this.is("]")) step = this.parseTest();
        }
        this.expect("]");
        x = { kind: "Slice", pos: lb, x, lo, hi, step };
      } else return x;
    }
  }

  private parseArgs(): Arg[] {
    const args: Arg[] = [];
    while (!this.is(")") && this.tok.kind !== "EOF") {
      if (args.length > 0) this.expect(",");
      if (this.is(")")) break;
      const pos = this.tok.pos;
      if (this.is("*")) {
        this.next();
        args.push({ kind: "star", value: this.parseTest(), pos });
      } else if (this.is("**")) {
        this.next();
        args.push({ kind: "starstar", value: this.parseTest(), pos });
      } else {
        const x = this.parseTest();
        if (this.is("=")) {
          if (x.kind !== "Ident") this.error("keyword argument must have form name=expr");
          this.next();
          args.push({ kind: "named", name: x.name, value: this.parseTest(), pos });
        } else args.push({ kind: "pos", value: x, pos });
      }
    }
    return args;
  }

  private parsePrimary(): Expr {
    const t = this.tok;
    switch (t.kind) {
      case "IDENT":
        this.next();
        return { kind: "Ident", pos: t.pos, name: t.text };
      case "INT":
      case "FLOAT":
      case "STRING":
      case "BYTES":
        this.next();
        return { kind: "Literal", pos: t.pos, value: t.value, raw: t.text, tokKind: t.kind };
      case "OP":
        switch (t.text) {
          case "(": {
            this.enter();
            this.next();
            if (this.is(")")) {
              this.next();
              this.depth--;
              return { kind: "Tuple", pos: t.pos, elems: [] };
            }
            const x = this.parseExpr();
            this.expect(")");
            this.depth--;
            return { kind: "Paren", pos: t.pos, x };
          }
          case "[": {
            this.enter();
            this.next();
            if (this.is("]")) {
              this.next();
              this.depth--;
              return { kind: "List", pos: t.pos, elems: [] };
            }
            const x = this.parseTest();
            if (this.is("for")) {
              const clauses = this.parseClauses("]");
              this.expect("]");
              this.depth--;
              return { kind: "Comp", pos: t.pos, curly: false, body: x, clauses };
            }
            const elems = [x];
            while (this.is(",")) {
              this.next();
              if (terminatesExprList(this.tok)) break; // as starlark-go's parseExprs
              elems.push(this.parseTest());
            }
            this.expect("]");
            this.depth--;
            return { kind: "List", pos: t.pos, elems };
          }
          case "{": {
            this.enter();
            this.next();
            if (this.is("}")) {
              this.next();
              this.depth--;
              return { kind: "Dict", pos: t.pos, entries: [] };
            }
            const first = this.parseEntry();
            if (this.is("for")) {
              const clauses = this.parseClauses("}");
              this.expect("}");
              this.depth--;
              return { kind: "Comp", pos: t.pos, curly: true, body: first, clauses };
            }
            const entries = [first];
            while (this.is(",")) {
              this.next();
              if (this.is("}")) break;
              entries.push(this.parseEntry());
            }
            this.expect("}");
            this.depth--;
            return { kind: "Dict", pos: t.pos, entries };
          }
        }
    }
    this.error(`got ${describe(t)}, want primary expression`, t.pos);
  }

  private parseEntry(): DictEntry {
    const key = this.parseTest();
    const pos = this.expect(":").pos;
    const value = this.parseTest();
    return { key, value, pos };
  }

  private parseClauses(close: string): Clause[] {
    const clauses: Clause[] = [];
    while (!this.is(close)) {
      if (this.is("for")) {
        const pos = this.next().pos;
        const vars = this.parseLoopVars();
        this.expect("in");
        const iter = this.parseBinary(0);
        clauses.push({ kind: "for", pos, vars, iter });
      } else if (this.is("if")) {
        const pos = this.next().pos;
        clauses.push({ kind: "if", pos, cond: this.parseTestNoCond() });
      } else this.error(`got ${describe(this.tok)}, want '${close}', for, or if`);
    }
    return clauses;
  }
}

export function parse(file: string, src: string): File {
  return new Parser(file, src).parseFile();
}

export function parseExpr(file: string, src: string): Expr {
  return new Parser(file, src).parseExprOnly();
}

/** The name `load("a/b/c")` binds in bramble: the last path segment, as an identifier. */
export function moduleBindingName(path: string): string {
  const last = path
    .replace(/\/+$/, "")
    .split("/")
    .pop()!
    .replace(/\.bramble$/, "");
  const name = last.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[0-9]/.test(name) || name === "" ? `_${name}` : name;
}
