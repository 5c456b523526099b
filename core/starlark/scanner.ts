// Scanner: source text to tokens, including INDENT/OUTDENT/NEWLINE for the block structure.
import { Position, StarlarkError, registerSource } from "./errors.js";

export type TokenKind = "EOF" | "NEWLINE" | "INDENT" | "OUTDENT" | "IDENT" | "INT" | "FLOAT" | "STRING" | "BYTES" | "KEYWORD" | "OP";

export interface Token {
  kind: TokenKind;
  /** for OP/KEYWORD/IDENT: the text; for literals: raw text */
  text: string;
  /** literal value: number|bigint for INT, number for FLOAT, string for STRING, Uint8Array for BYTES */
  value?: unknown;
  pos: Position;
  offset: number;
  end: number;
  /** where the scanner stood after the token (the next line for a newline), where starlark-go reports most parse errors */
  endPos: Position;
}

export const KEYWORDS = new Set([
  "and",
  "break",
  "continue",
  "def",
  "elif",
  "else",
  "for",
  "if",
  "in",
  "lambda",
  "load",
  "not",
  "or",
  "pass",
  "return",
  "while",
  // reserved (following Python), as in starlark-go
  "as",
  "async",
  "await",
  "class",
  "del",
  "except",
  "finally",
  "from",
  "global",
  "import",
  "is",
  "nonlocal",
  "raise",
  "try",
  "with",
  "yield",
]);

const OPS3 = ["//=", "<<=", ">>="]; // (no "**=": starlark-go scans "**" then "=")
const OPS2 = ["+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "==", "!=", "<=", ">=", "//", "<<", ">>", "**", "->"];
const OPS1 = "+-*/%&|^~<>=.,;:()[]{}";

function isIdentStart(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_" || (c > "\x7f" && /\p{L}/u.test(c));
}
function isIdentPart(c: string): boolean {
  return isIdentStart(c) || (c >= "0" && c <= "9") || (c > "\x7f" && /[\p{N}\p{Mn}\p{Mc}]/u.test(c));
}
function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

export class Scanner {
  private src: string;
  private file: string;
  private i = 0;
  private line = 1;
  private lineStart = 0;
  private depth = 0; // bracket nesting
  private indents: number[] = [0];
  private pending: Token[] = [];
  private atLineStart = true;
  private lastKind: TokenKind = "NEWLINE";

  constructor(file: string, src: string) {
    this.file = file;
    this.src = src.charCodeAt(0) === 0xfeff ? src.slice(1) : src;
    registerSource(file, this.src);
  }

  private pos(offset = this.i): Position {
    return { file: this.file, line: this.line, col: offset - this.lineStart + 1 };
  }

  error(msg: string, pos: Position = this.pos()): never {
    throw new StarlarkError(msg, pos);
  }

  private tok(kind: TokenKind, start: number, pos: Position, text?: string, value?: unknown): Token {
    const t: Token = { kind, text: text ?? this.src.slice(start, this.i), value, pos, offset: start, end: this.i, endPos: this.pos() };
    this.lastKind = kind;
    return t;
  }

  /** All tokens of the file, ending in EOF. */
  scanAll(): Token[] {
    const out: Token[] = [];
    for (;;) {
      const t = this.next();
      out.push(t);
      if (t.kind === "EOF") return out;
    }
  }

  next(): Token {
    if (this.pending.length > 0) return this.pending.shift()!;
    const src = this.src;
    // Indentation at the start of a logical line.
    if (this.atLineStart && this.depth === 0) {
      this.atLineStart = false;
      for (;;) {
        let col = 0;
        const start = this.i;
        while (this.i < src.length) {
          const c = src[this.i];
          if (c === " ") col++;
          else if (c === "\t") col += 8 - (col % 8);
          else break;
          this.i++;
        }
        const c = src[this.i];
        if (c === "#") {
          while (this.i < src.length && src[this.i] !== "\n" && src[this.i] !== "\r") this.i++;
        }
        const d = src[this.i];
        if (d === "\n" || d === "\r") {
          this.newline();
          continue;
        }
        if (d === "\\" && (src[this.i + 1] === "\n" || src[this.i + 1] === "\r")) {
          this.i++;
          this.newline();
          continue;
        }
        if (this.i >= src.length) break; // EOF handled below
        const top = this.indents[this.indents.length - 1];
        const pos = this.pos();
        if (col > top) {
          this.indents.push(col);
          return this.tok("INDENT", start, pos, "");
        }
        if (col < top) {
          while (this.indents.length > 1 && col < this.indents[this.indents.length - 1]) {
            this.indents.pop();
            this.pending.push(this.tok("OUTDENT", start, pos, ""));
          }
          if (col !== this.indents[this.indents.length - 1]) this.error("unindent does not match any outer indentation level", pos);
          return this.pending.shift()!;
        }
        break;
      }
    }
    // Skip whitespace, comments and line continuations.
    for (;;) {
      const c = src[this.i];
      if (c === " " || c === "\t" || c === "\f") this.i++;
      else if (c === "#") {
        while (this.i < src.length && src[this.i] !== "\n" && src[this.i] !== "\r") this.i++;
      } else if (c === "\\") {
        const d = src[this.i + 1];
        if (d === "\n" || d === "\r") {
          this.i++;
          this.newline();
        } else this.error("stray backslash in program", this.pos(this.i + 1));
      } else if ((c === "\n" || c === "\r") && this.depth > 0) {
        this.newline();
      } else break;
    }
    const start = this.i;
    const pos = this.pos();
    if (this.i >= src.length) {
      // as starlark-go: a NEWLINE at the end only to close an indented block
      if (this.depth === 0 && this.indents.length > 1 && this.lastKind !== "NEWLINE" && this.lastKind !== "OUTDENT" && this.lastKind !== "INDENT") {
        return this.tok("NEWLINE", start, pos, "");
      }
      if (this.indents.length > 1) {
        this.indents.pop();
        return this.tok("OUTDENT", start, pos, "");
      }
      return this.tok("EOF", start, pos, "");
    }
    const c = src[this.i];
    if (c === "\n" || c === "\r") {
      this.newline();
      this.atLineStart = true;
      return this.tok("NEWLINE", start, pos, "");
    }
    // Strings, with optional r/b prefixes.
    if (c === '"' || c === "'") return this.string(start, pos, false, false);
    if (c === "r" || c === "b" || c === "R" || c === "B") {
      const c1 = src[this.i + 1];
      if (c1 === '"' || c1 === "'") {
        this.i++;
        return this.string(start, pos, c === "r" || c === "R", c === "b" || c === "B");
      }
      const c2 = src[this.i + 2];
      if ((c2 === '"' || c2 === "'") && ((c.toLowerCase() === "r" && (c1 === "b" || c1 === "B")) || (c.toLowerCase() === "b" && (c1 === "r" || c1 === "R")))) {
        this.i += 2;
        return this.string(start, pos, true, true);
      }
    }
    if (isIdentStart(c)) {
      while (this.i < src.length && isIdentPart(src[this.i])) this.i++;
      const word = src.slice(start, this.i);
      if (KEYWORDS.has(word)) return this.tok("KEYWORD", start, pos);
      return this.tok("IDENT", start, pos);
    }
    if (isDigit(c) || (c === "." && isDigit(src[this.i + 1] ?? ""))) return this.number(start, pos);
    for (const op of OPS3)
      if (src.startsWith(op, this.i)) {
        this.i += 3;
        return this.tok("OP", start, pos);
      }
    for (const op of OPS2)
      if (src.startsWith(op, this.i)) {
        this.i += 2;
        return this.tok("OP", start, pos);
      }
    if (OPS1.includes(c)) {
      this.i++;
      if (c === "(" || c === "[" || c === "{") this.depth++;
      else if (c === ")" || c === "]" || c === "}") {
        if (this.depth === 0) this.error(`unexpected '${c}'`, pos);
        this.depth--;
      }
      return this.tok("OP", start, pos);
    }
    if (c === "!") this.error("unexpected input character '!'", pos);
    this.error(`unexpected input character '${String.fromCodePoint(src.codePointAt(this.i)!)}'`, pos);
  }

  private newline(): void {
    if (this.src[this.i] === "\r" && this.src[this.i + 1] === "\n") this.i++;
    this.i++;
    this.line++;
    this.lineStart = this.i;
  }

  /** Numbers as starlark-go scans them: no digit separators; a letter after a number starts the next token. */
  private number(start: number, pos: Position): Token {
    const src = this.src;
    const at = (k: number) => src[k] ?? "";
    let fraction = false,
      exponent = false;
    const c0 = src[this.i];
    if (c0 === ".") {
      fraction = true;
    } else if (c0 === "0") {
      this.i++;
      const c = at(this.i);
      if (c === ".") fraction = true;
      else if (c === "x" || c === "X" || c === "o" || c === "O" || c === "b" || c === "B") {
        const base = c.toLowerCase();
        this.i++;
        const ok = base === "x" ? /[0-9a-fA-F]/ : base === "o" ? /[0-7]/ : /[01]/;
        if (!ok.test(at(this.i))) this.error(`invalid ${base === "x" ? "hex" : base === "o" ? "octal" : "binary"} literal`, base === "x" ? pos : this.pos());
        while (ok.test(at(this.i))) this.i++;
        const b = BigInt(src.slice(start, this.i).toLowerCase());
        return this.tok("INT", start, pos, undefined, b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b);
      } else {
        let allzeros = true,
          octal = true;
        while (isDigit(at(this.i))) {
          if (src[this.i] !== "0") allzeros = false;
          if (src[this.i] > "7") octal = false;
          this.i++;
        }
        const d = at(this.i);
        if (d === ".") fraction = true;
        else if (d === "e" || d === "E") exponent = true;
        else if (octal && !allzeros) this.error(`obsolete form of octal literal; use 0o${src.slice(start + 1, this.i)}`, this.pos());
      }
    } else {
      while (isDigit(at(this.i))) this.i++;
      const d = at(this.i);
      if (d === ".") fraction = true;
      else if (d === "e" || d === "E") exponent = true;
    }
    if (fraction) {
      this.i++;
      while (isDigit(at(this.i))) this.i++;
      if (at(this.i) === "e" || at(this.i) === "E") exponent = true;
    }
    if (exponent) {
      this.i++;
      if (at(this.i) === "+" || at(this.i) === "-") {
        this.i++;
        if (!isDigit(at(this.i))) this.error("invalid float literal", this.pos());
      }
      while (isDigit(at(this.i))) this.i++;
    }
    const text = src.slice(start, this.i);
    if (fraction || exponent) {
      const v = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : NaN;
      if (!isFinite(v)) this.error("invalid float literal", this.pos());
      return this.tok("FLOAT", start, pos, undefined, v);
    }
    if (/^0[0-9]*[1-9]/.test(text)) this.error("invalid int literal", pos); // 09: neither octal nor decimal
    const b = BigInt(text);
    return this.tok("INT", start, pos, undefined, b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b);
  }

  private string(start: number, pos: Position, raw: boolean, bytes: boolean): Token {
    const src = this.src;
    const qpos = this.pos(); // the opening quote, after any prefix: where escape errors are reported
    const q = src[this.i];
    const triple = src[this.i + 1] === q && src[this.i + 2] === q;
    this.i += triple ? 3 : 1;
    let out = ""; // for str: the string; for bytes: accumulate as string of code units, then encode
    const byteParts: number[] = [];
    const pushText = (s: string) => {
      if (bytes) for (const b of new TextEncoder().encode(s)) byteParts.push(b);
      else out += s;
    };
    for (;;) {
      if (this.i >= src.length) this.error(triple ? "unexpected EOF in string" : "unexpected EOF in string", pos);
      const c = src[this.i];
      if (c === q) {
        if (!triple) {
          this.i++;
          break;
        }
        if (src[this.i + 1] === q && src[this.i + 2] === q) {
          this.i += 3;
          break;
        }
        this.i++;
        pushText(c);
        continue;
      }
      if (c === "\n" || c === "\r") {
        if (!triple) this.error("unexpected newline in string", pos);
        this.newline();
        pushText("\n");
        continue;
      }
      if (c !== "\\") {
        // copy a run of plain characters
        let j = this.i + 1;
        while (j < src.length) {
          const d = src[j];
          if (d === q || d === "\\" || d === "\n" || d === "\r") break;
          j++;
        }
        pushText(src.slice(this.i, j));
        this.i = j;
        continue;
      }
      // escape
      const e = src[this.i + 1];
      if (e === undefined) this.error("unexpected EOF in string", pos);
      if (e === "\n" || e === "\r") {
        this.i++;
        this.newline();
        if (raw) pushText("\\\n");
        continue;
      }
      if (raw) {
        // In raw strings a backslash is literal, but \q still does not end the string.
        pushText("\\" + e);
        this.i += 2;
        continue;
      }
      // Errors as starlark-go's unquote reports them: at the start of the literal, and naming
      // what remains of it when an escape is cut short.
      const esc = this.i;
      const rest = (): string => {
        const close = triple ? src.indexOf(q.repeat(3), esc) : src.indexOf(q, esc);
        return src.slice(esc, close < 0 ? src.length : close);
      };
      const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
      this.i += 2;
      switch (e) {
        case "a":
          pushText("\x07");
          break;
        case "b":
          pushText("\b");
          break;
        case "f":
          pushText("\f");
          break;
        case "n":
          pushText("\n");
          break;
        case "r":
          pushText("\r");
          break;
        case "t":
          pushText("\t");
          break;
        case "v":
          pushText("\v");
          break;
        case "\\":
          pushText("\\");
          break;
        case "'":
          pushText("'");
          break;
        case '"':
          pushText('"');
          break;
        case "0":
        case "1":
        case "2":
        case "3":
        case "4":
        case "5":
        case "6":
        case "7": {
          let n = e.charCodeAt(0) - 48;
          for (let k = 0; k < 2 && /[0-7]/.test(src[this.i] ?? ""); k++) n = n * 8 + (src.charCodeAt(this.i++) - 48);
          if (!bytes && n > 127) this.error(`non-ASCII octal escape \\${n.toString(8)} (use \\u${hex4(n)} for the UTF-8 encoding of U+${hex4(n)})`, qpos);
          if (n >= 256) this.error(`invalid escape sequence \\${n.toString(8).padStart(3, "0")}`, qpos);
          if (bytes) byteParts.push(n);
          else out += String.fromCharCode(n);
          break;
        }
        case "x": {
          const r = rest();
          if (r.length < 4) this.error(`truncated escape sequence ${r}`, qpos);
          const h = src.slice(this.i, this.i + 2);
          if (!/^[0-9a-fA-F]{2}$/.test(h)) this.error(`invalid escape sequence \\x${h}`, qpos);
          this.i += 2;
          const n = parseInt(h, 16);
          if (!bytes && n > 127) this.error(`non-ASCII hex escape \\x${h} (use \\u${hex4(n)} for the UTF-8 encoding of U+${hex4(n)})`, qpos);
          if (bytes) byteParts.push(n);
          else out += String.fromCharCode(n);
          break;
        }
        case "u":
        case "U": {
          const len = e === "u" ? 4 : 8;
          const r = rest();
          if (r.length < len + 2) this.error(`truncated escape sequence ${r}`, qpos);
          const h = src.slice(this.i, this.i + len);
          if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(h)) this.error(`invalid escape sequence \\${e}${h}`, qpos);
          this.i += len;
          const n = parseInt(h, 16);
          // (starlark-go prints the code point itself as the "max")
          if (n > 0x10ffff) this.error(`code point out of range: \\${e}${h} (max \\U${n.toString(16).padStart(8, "0")})`, qpos);
          if (n >= 0xd800 && n < 0xe000) this.error(`invalid Unicode code point U+${hex4(n)}`, qpos);
          pushText(String.fromCodePoint(n));
          break;
        }
        default:
          this.error(`invalid escape sequence \\${e}`, qpos);
      }
    }
    if (bytes) return this.tok("BYTES", start, pos, undefined, Uint8Array.from(byteParts));
    return this.tok("STRING", start, pos, undefined, out);
  }
}
