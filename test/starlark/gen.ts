// A generator of small random Starlark programs for the differential test against
// starlark-go (differential.test.ts). Deterministic for a seed. The programs stay inside what
// both interpreters share by design: ASCII strings (ours count UTF-16 code units, the
// reference bytes), no bytes values, no load, modest sizes; they print what they compute and
// may well fail (division by zero, bad index, wrong types), which is compared too.

export class Rand {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  /** xorshift32 */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const INTS = ["0", "1", "2", "3", "-1", "7", "10", "-4", "255", "2147483647", "9007199254740993", "(1 << 64)", "(-(1 << 70))"];
const FLOATS = ["0.0", "-0.0", "1.5", "2.0", "-2.25", "1e10", "3.0e-5", "float('inf')", "float('nan')", "1e300"];
const STRINGS = [
  '""',
  '"a"',
  '"abc"',
  '"Hello, World"',
  '"a,b,,c"',
  '"  x y  "',
  '"%d-%s"',
  '"{}+{}"',
  '"ABC def"',
  '"x\\ty"',
  '"12"',
  '"-7"',
  '"0x1f"',
  '"3.5"',
];
const BINOPS = ["+", "-", "*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or", "|", "&", "^", "<<", ">>"];
const METHODS: [string, number][] = [
  ["upper", 0],
  ["lower", 0],
  ["title", 0],
  ["capitalize", 0],
  ["strip", 0],
  ["split", 0],
  ["split", 1],
  ["rsplit", 2],
  ["replace", 2],
  ["find", 1],
  ["rfind", 1],
  ["count", 1],
  ["startswith", 1],
  ["endswith", 1],
  ["join", 1],
  ["partition", 1],
  ["isdigit", 0],
  ["isalpha", 0],
  ["islower", 0],
  ["istitle", 0],
  ["splitlines", 0],
  ["format", 2],
  ["index", 1],
  ["removeprefix", 1],
  ["lstrip", 1],
  ["zfill", 1],
];
const BUILTINS: [string, number][] = [
  ["len", 1],
  ["str", 1],
  ["repr", 1],
  ["bool", 1],
  ["int", 1],
  ["float", 1],
  ["type", 1],
  ["sorted", 1],
  ["list", 1],
  ["tuple", 1],
  ["min", 1],
  ["max", 1],
  ["min", 2],
  ["max", 2],
  ["abs", 1],
  ["hash", 1],
  ["range", 1],
  ["range", 2],
  ["reversed", 1],
  ["enumerate", 1],
  ["zip", 2],
  ["any", 1],
  ["all", 1],
  ["dict", 1],
  ["set", 1],
  ["chr", 1],
  ["ord", 1],
  ["int", 2],
  ["json.encode", 1],
  ["json.decode", 1],
  ["math.floor", 1],
  ["math.sqrt", 1],
  ["math.mod", 2],
  ["sorted", 1],
  ["str", 1],
  ["repr", 1],
];

export class Gen {
  private vars: string[] = [];
  private n = 0;
  constructor(readonly r: Rand) {}

  atom(): string {
    const r = this.r;
    const k = r.int(10);
    if (k < 3) return r.pick(INTS);
    if (k < 4) return r.pick(FLOATS);
    if (k < 6) return r.pick(STRINGS);
    if (k < 7) return r.pick(["None", "True", "False"]);
    if (k < 9 && this.vars.length > 0) return r.pick(this.vars);
    return r.pick(INTS);
  }

  expr(depth = 0): string {
    const r = this.r;
    if (depth > 2) return this.atom();
    switch (r.int(16)) {
      case 0:
      case 1:
        return this.atom();
      case 2:
      case 3:
      case 4:
        return `(${this.expr(depth + 1)} ${r.pick(BINOPS)} ${this.expr(depth + 1)})`;
      case 5:
        return `(${r.pick(["-", "not ", "~"])}${this.expr(depth + 1)})`;
      case 6:
        return `[${this.list(depth)}]`;
      case 7:
        return r.chance(0.3) ? "()" : `(${this.expr(depth + 1)}, ${this.list(depth)})`;
      case 8: {
        const n = r.int(4);
        const es: string[] = [];
        for (let i = 0; i < n; i++) es.push(`${r.chance(0.7) ? r.pick(STRINGS) : r.pick(INTS)}: ${this.expr(depth + 1)}`);
        return `{${es.join(", ")}}`;
      }
      case 9: {
        const [name, n] = r.pick(BUILTINS);
        const args: string[] = [];
        for (let i = 0; i < n; i++) args.push(this.expr(depth + 1));
        if (name === "sorted" && r.chance(0.3)) args.push(`reverse = ${r.pick(["True", "False", "1"])}`);
        return `${name}(${args.join(", ")})`;
      }
      case 10: {
        const [name, n] = r.pick(METHODS);
        const args: string[] = [];
        for (let i = 0; i < n; i++) args.push(r.chance(0.6) ? r.pick(STRINGS) : this.expr(depth + 1));
        return `${r.chance(0.7) ? r.pick(STRINGS) : `(${this.expr(depth + 1)})`}.${name}(${args.join(", ")})`;
      }
      case 11:
        return `${this.expr(depth + 1)}[${this.expr(depth + 1)}]`;
      case 12:
        return `${this.expr(depth + 1)}[${r.chance(0.5) ? this.expr(depth + 1) : ""}:${r.chance(0.5) ? r.pick(INTS.slice(0, 8)) : ""}${r.chance(0.3) ? ":" + r.pick(["1", "-1", "2", "0"]) : ""}]`;
      case 13:
        return `(${this.expr(depth + 1)} if ${this.expr(depth + 1)} else ${this.expr(depth + 1)})`;
      case 14:
        return `[${this.expr(depth + 1)} for x in ${r.pick(["range(4)", '"abc".elems()', "[1, 2, 3]", `(${this.expr(depth + 1)})`])}${r.chance(0.3) ? " if x" : ""}]`;
      default:
        return `(${r.pick(STRINGS)} % ${this.expr(depth + 1)})`;
    }
  }

  /** Well-typed expressions, so that most programs run to the end and print. */
  intE(d = 0): string {
    const r = this.r;
    if (d > 2) return r.pick(INTS.slice(0, 9));
    switch (r.int(9)) {
      case 0:
      case 1:
        return r.pick(INTS);
      case 2:
        return `(${this.intE(d + 1)} ${r.pick(["+", "-", "*", "//", "%", "|", "&", "^"])} ${this.intE(d + 1)})`;
      case 3:
        return `len(${r.chance(0.5) ? this.strE(d + 1) : this.listE(d + 1)})`;
      case 4:
        return `${this.strE(d + 1)}.find(${this.strE(d + 1)})`;
      case 5:
        return `${r.pick(["abs", "int"])}(${this.intE(d + 1)})`;
      case 6:
        return `${r.pick(["min", "max"])}(${this.intE(d + 1)}, ${this.intE(d + 1)})`;
      case 7:
        return `(${this.intE(d + 1)} if ${this.boolE(d + 1)} else ${this.intE(d + 1)})`;
      default:
        return `int(${r.pick(['"12"', '"-7"', '"0"', '"0x1f", 16', '"ff", 16', '"101", 2', '"0o17", 0'])})`;
    }
  }

  strE(d = 0): string {
    const r = this.r;
    if (d > 2) return r.pick(STRINGS);
    switch (r.int(10)) {
      case 0:
      case 1:
        return r.pick(STRINGS);
      case 2:
        return `(${this.strE(d + 1)} + ${this.strE(d + 1)})`;
      case 3:
        return `(${this.strE(d + 1)} * ${r.int(4)})`;
      case 4:
        return `${this.strE(d + 1)}.${r.pick(["upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip"])}()`;
      case 5:
        return `${r.pick(["str", "repr"])}(${r.chance(0.5) ? this.expr(d + 1) : this.listE(d + 1)})`;
      case 6:
        return `(${r.pick(['"%s-%d"', '"%r:%x"', '"<%s|%o>"'])} % (${this.strE(d + 1)}, ${this.intE(d + 1)}))`;
      case 7:
        return `${r.pick(['","', '"-"', '""'])}.join(${r.chance(0.5) ? `[${this.strE(d + 1)}, ${this.strE(d + 1)}]` : `${this.strE(d + 1)}.split(${r.pick(['","', '" "', ""])})`})`;
      case 8:
        return `${this.strE(d + 1)}[${this.intE(d + 1)}:${this.intE(d + 1)}]`;
      default:
        return `${this.strE(d + 1)}.replace(${this.strE(d + 1)}, ${this.strE(d + 1)})`;
    }
  }

  listE(d = 0): string {
    const r = this.r;
    if (d > 2) return `[${this.intE(d)}, ${this.intE(d)}]`;
    switch (r.int(7)) {
      case 0:
        return `[${this.intE(d + 1)}, ${this.intE(d + 1)}, ${this.intE(d + 1)}]`;
      case 1:
        return `sorted(${this.listE(d + 1)}${r.chance(0.3) ? ", reverse = True" : ""})`;
      case 2:
        return `(${this.listE(d + 1)} + ${this.listE(d + 1)})`;
      case 3:
        return `[${r.chance(0.5) ? "x * 2" : "str(x)"} for x in range(${r.int(5)})${r.chance(0.3) ? " if x % 2" : ""}]`;
      case 4:
        return `${this.strE(d + 1)}.split(${r.pick(['","', '" "', ""])})`;
      case 5:
        return `list(${r.pick(["reversed", "enumerate", "sorted"])}(${this.listE(d + 1)}))`;
      default:
        return `${this.listE(d + 1)}[${r.pick(["1:", ":2", "::-1", "::2", "-2:"])}]`;
    }
  }

  boolE(d = 0): string {
    const r = this.r;
    switch (r.int(5)) {
      case 0:
        return `(${this.intE(d + 1)} ${r.pick(["<", "<=", "==", "!=", ">"])} ${this.intE(d + 1)})`;
      case 1:
        return `(${this.strE(d + 1)} ${r.pick(["<", "==", "in", "not in"])} ${this.strE(d + 1)})`;
      case 2:
        return `(${this.intE(d + 1)} in ${this.listE(d + 1)})`;
      case 3:
        return `${this.strE(d + 1)}.${r.pick(["isdigit", "isalpha", "islower", "isupper", "istitle", "isspace"])}()`;
      default:
        return `(${this.boolE(d + 1)} ${r.pick(["and", "or"])} not ${this.boolE(d + 1)})`;
    }
  }

  floatE(d = 0): string {
    const r = this.r;
    if (d > 2) return r.pick(FLOATS.slice(0, 7));
    switch (r.int(7)) {
      case 0:
        return r.pick(FLOATS);
      case 1:
        return `(${this.floatE(d + 1)} ${r.pick(["+", "-", "*", "/", "//", "%"])} ${r.chance(0.5) ? this.floatE(d + 1) : this.intE(d + 1)})`;
      case 2:
        return `float(${r.pick([this.intE(d + 1), '"1.5"', '"-inf"', '"1e3"', '"nan"'])})`;
      case 3:
        return `(${this.intE(d + 1)} / ${this.intE(d + 1)})`;
      case 4:
        return `math.${r.pick(["sqrt", "floor", "ceil", "fabs", "exp", "log"])}(${this.floatE(d + 1)})`;
      case 5:
        return `(${r.pick(['"%f"', '"%e"', '"%g"', '"%s"', '"%r"', '"%d"'])} % ${this.floatE(d + 1)})`;
      default:
        return `round(${this.floatE(d + 1)})`.replace("round(", "math.round(");
    }
  }

  dictE(d = 0): string {
    const r = this.r;
    if (d > 2) return `{${r.pick(STRINGS)}: ${this.intE(d)}}`;
    switch (r.int(7)) {
      case 0:
        return `{${r.pick(STRINGS)}: ${this.intE(d + 1)}, ${r.pick(STRINGS)}: ${this.strE(d + 1)}}`;
      case 1:
        return `dict(${r.pick(["[(1, 2), (3, 4)]", "a = 1, b = 2", "[]", 'zip(["x", "y"], [1, 2])'])})`;
      case 2:
        return `(${this.dictE(d + 1)} | ${this.dictE(d + 1)})`;
      case 3:
        return `{str(x): x * x for x in range(${r.int(4)})}`;
      case 4:
        return `dict(${this.dictE(d + 1)}, z = ${this.intE(d + 1)})`;
      default:
        return `{k: v for k, v in ${this.dictE(d + 1)}.items()${r.chance(0.5) ? " if v" : ""}}`;
    }
  }

  setE(d = 0): string {
    const r = this.r;
    if (d > 2) return `set([${this.intE(d)}])`;
    switch (r.int(5)) {
      case 0:
        return `set(${this.listE(d + 1)})`;
      case 1:
        return `(${this.setE(d + 1)} ${r.pick(["|", "&", "-", "^"])} ${this.setE(d + 1)})`;
      case 2:
        return `${this.setE(d + 1)}.${r.pick(["union", "intersection", "difference", "symmetric_difference"])}(${this.listE(d + 1)})`;
      case 3:
        return `set(${this.strE(d + 1)}.elems())`;
      default:
        return `set()`;
    }
  }

  /** An expression over a dict, a set or a float, or a call of a lambda. */
  more(): string {
    const r = this.r;
    switch (r.int(8)) {
      case 0:
        return this.floatE();
      case 1:
        return `sorted(${this.dictE()}.${r.pick(["keys", "values", "items"])}())`;
      case 2:
        return `${this.dictE()}.get(${r.pick(STRINGS)}${r.chance(0.5) ? ", " + this.intE() : ""})`;
      case 3:
        return `sorted(${this.setE()})`;
      case 4:
        return `(lambda a, b = ${this.intE()}: a ${r.pick(["+", "*", "-"])} b)(${this.intE()}${r.chance(0.5) ? ", b = " + this.intE() : ""})`;
      case 5:
        return `[(i, x) for i, x in enumerate(${this.listE()}) if ${r.pick(["i % 2", "x", "True"])}]`;
      case 6:
        return `(${this.intE()} in ${this.setE()}, len(${this.dictE()}), ${this.setE()} == ${this.setE()})`;
      default:
        return `${this.dictE()}.pop(${r.pick(STRINGS)}, ${r.pick(["None", "0"])})`;
    }
  }

  typed(): string {
    return this.r.pick([() => this.intE(), () => this.strE(), () => this.listE(), () => this.boolE(), () => this.more(), () => this.more()])();
  }

  private list(depth: number): string {
    const n = this.r.int(4);
    const es: string[] = [];
    for (let i = 0; i < n; i++) es.push(this.expr(depth + 1));
    return es.join(", ");
  }

  stmt(indent: string, depth: number): string {
    const r = this.r;
    const k = r.int(10);
    if (k < 4) {
      const v = `v${this.n++}`;
      const line = `${indent}${v} = ${this.r.chance(0.8) ? this.typed() : this.expr()}\n`;
      this.vars.push(v);
      return line;
    }
    if (k < 7) return `${indent}print(${this.r.chance(0.85) ? this.typed() : this.expr()})\n`;
    if (k < 8 && depth < 2) {
      return `${indent}if ${this.boolE()}:\n${this.block(indent + "    ", depth + 1)}${r.chance(0.5) ? `${indent}else:\n${this.block(indent + "    ", depth + 1)}` : ""}`;
    }
    if (k < 9 && depth < 2) {
      const v = `i${this.n++}`;
      const it = r.pick(["range(3)", "[1, 2]", '"ab".elems()', this.expr()]);
      const saved = this.vars.length;
      this.vars.push(v);
      const body = this.block(indent + "    ", depth + 1);
      this.vars.length = saved;
      return `${indent}for ${v} in ${it}:\n${body}`;
    }
    if (this.vars.length > 0 && r.chance(0.5)) return `${indent}${r.pick(this.vars)} ${r.pick(["+=", "-=", "*=", "|="])} ${this.expr()}\n`;
    return `${indent}print(${this.expr()}, ${this.expr()})\n`;
  }

  private block(indent: string, depth: number): string {
    let out = "";
    const n = 1 + this.r.int(3);
    for (let i = 0; i < n; i++) out += this.stmt(indent, depth);
    return out;
  }

  /** A whole program: a function with statements, called at the end. */
  program(): string {
    this.vars = [];
    this.n = 0;
    let out = "def main():\n";
    const n = 2 + this.r.int(5);
    for (let i = 0; i < n; i++) out += this.stmt("    ", 0);
    out += "main()\n";
    return out;
  }

  /** A program with one random edit (a character dropped or doubled, a token inserted), mostly not valid. */
  mutant(): string {
    const p = this.program();
    const r = this.r;
    const i = r.int(p.length);
    switch (r.int(3)) {
      case 0:
        return p.slice(0, i) + p.slice(i + 1);
      case 1:
        return p.slice(0, i) + p[i] + p.slice(i);
      default:
        return p.slice(0, i) + r.pick(MUTATIONS) + p.slice(i);
    }
  }
}

const MUTATIONS = [
  ":",
  ",",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  "=",
  "+=",
  "not ",
  " in ",
  "lambda",
  " for ",
  " if ",
  " else ",
  "1_0",
  "0x",
  "0o8",
  "09",
  "1e",
  "*",
  "**",
  '"',
  "'",
  "\\",
  "\n",
  "\t",
  "  ",
  "\n  ",
  ";",
  ".",
  'load("x", "y")\n',
  "return ",
  "break",
  "def ",
  "class",
  "$",
  "!",
  "x = 1\n",
  "(a) ",
  "() = ",
  "f(*a, b=1)",
  "f(**a, *b)",
  "f(a=1, a=2)",
  "while ",
  "pass",
];
