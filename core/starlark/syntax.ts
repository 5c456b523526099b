// The syntax tree. The resolver fills in `binding` on identifiers and `fn` on functions.
import type { Position } from "./errors.js";

export type Scope = "local" | "cell" | "free" | "global" | "predeclared" | "universal" | "undefined";

export interface Binding {
  scope: Scope;
  /** slot: locals index (local/cell), freevars index (free), globals index (global) */
  index: number;
  name: string;
  first?: Ident;
  /** free bindings: the binding in the immediately enclosing function (cell or free) */
  outer?: Binding;
  /** global bound by load(): not exported */
  isLoad?: boolean;
}

/** What the resolver records about a def, lambda, or the module's top level. */
export interface FunctionInfo {
  name: string;
  pos: Position;
  params: Param[];
  body: Stmt[];
  locals: Binding[];
  freevars: Binding[];
  numParams: number; // positional-or-keyword + keyword-only, excluding *args/**kwargs
  numKwonly: number;
  hasVarargs: boolean;
  hasKwargs: boolean;
  doc: string;
  isLambda: boolean;
}

export interface Ident {
  kind: "Ident";
  pos: Position;
  name: string;
  binding?: Binding;
}
export interface Literal {
  kind: "Literal";
  pos: Position;
  value: unknown;
  raw: string;
  tokKind: "INT" | "FLOAT" | "STRING" | "BYTES";
}
export interface ListExpr {
  kind: "List";
  pos: Position;
  elems: Expr[];
}
export interface TupleExpr {
  kind: "Tuple";
  pos: Position;
  elems: Expr[];
}
export interface DictEntry {
  key: Expr;
  value: Expr;
  pos: Position;
}
export interface DictExpr {
  kind: "Dict";
  pos: Position;
  entries: DictEntry[];
}
export type Clause = { kind: "for"; pos: Position; vars: Expr; iter: Expr } | { kind: "if"; pos: Position; cond: Expr };
export interface Comprehension {
  kind: "Comp";
  pos: Position;
  curly: boolean;
  body: Expr | DictEntry;
  clauses: Clause[];
}
export interface CondExpr {
  kind: "Cond";
  pos: Position;
  cond: Expr;
  then: Expr;
  else_: Expr;
}
export interface LambdaExpr {
  kind: "Lambda";
  pos: Position;
  params: Param[];
  body: Expr;
  fn?: FunctionInfo;
}
export interface UnaryExpr {
  kind: "Unary";
  pos: Position;
  op: string;
  x: Expr;
}
export interface BinaryExpr {
  kind: "Binary";
  pos: Position;
  op: string;
  x: Expr;
  y: Expr;
}
export interface DotExpr {
  kind: "Dot";
  pos: Position;
  x: Expr;
  name: string;
  namePos: Position;
}
export interface Arg {
  kind: "pos" | "named" | "star" | "starstar";
  name?: string;
  value: Expr;
  pos: Position;
}
export interface CallExpr {
  kind: "Call";
  pos: Position;
  fn: Expr;
  args: Arg[];
  lparen: Position;
}
export interface IndexExpr {
  kind: "Index";
  pos: Position;
  x: Expr;
  index: Expr;
}
export interface SliceExpr {
  kind: "Slice";
  pos: Position;
  x: Expr;
  lo?: Expr;
  hi?: Expr;
  step?: Expr;
}
export interface ParenExpr {
  kind: "Paren";
  pos: Position;
  x: Expr;
}

export type Expr =
  | Ident
  | Literal
  | ListExpr
  | TupleExpr
  | DictExpr
  | Comprehension
  | CondExpr
  | LambdaExpr
  | UnaryExpr
  | BinaryExpr
  | DotExpr
  | CallExpr
  | IndexExpr
  | SliceExpr
  | ParenExpr;

export interface Param {
  kind: "plain" | "default" | "star" | "starstar";
  /** undefined for a bare `*` */
  name?: Ident;
  default_?: Expr;
  pos: Position;
  /** source text of the default value */
  defaultText?: string;
  /** of the `=` of a parameter with a default */
  eqPos?: Position;
}

export interface ExprStmt {
  kind: "ExprStmt";
  pos: Position;
  x: Expr;
}
export interface AssignStmt {
  kind: "Assign";
  pos: Position;
  op: string;
  lhs: Expr;
  rhs: Expr;
}
export interface DefStmt {
  kind: "Def";
  pos: Position;
  name: Ident;
  params: Param[];
  body: Stmt[];
  fn?: FunctionInfo;
}
export interface IfStmt {
  kind: "If";
  pos: Position;
  cond: Expr;
  then: Stmt[];
  else_: Stmt[];
  elif?: boolean;
}
export interface ForStmt {
  kind: "For";
  pos: Position;
  vars: Expr;
  iter: Expr;
  body: Stmt[];
}
export interface WhileStmt {
  kind: "While";
  pos: Position;
  cond: Expr;
  body: Stmt[];
}
export interface ReturnStmt {
  kind: "Return";
  pos: Position;
  result?: Expr;
}
export interface BranchStmt {
  kind: "Branch";
  pos: Position;
  token: "break" | "continue" | "pass";
}
/** `wholeModule`: bramble's `load("pkg/dir")` / `load(alias="pkg/dir")`, binding the module itself (dialect.moduleLoad). */
export interface LoadStmt {
  kind: "Load";
  pos: Position;
  module: Literal;
  from: Ident[];
  to: Ident[];
  rparen: Position;
  wholeModule?: boolean;
}

export type Stmt = ExprStmt | AssignStmt | DefStmt | IfStmt | ForStmt | WhileStmt | ReturnStmt | BranchStmt | LoadStmt;

export interface File {
  kind: "File";
  path: string;
  stmts: Stmt[];
  /** set by the resolver */
  module?: FunctionInfo;
  globals?: Binding[];
}
